import { createActivities } from '../../activities';
import { testActivityDeps } from './activity-env';
import { query, type ThrowawayCluster } from './pg';
import { useTemporalSuite } from './suite';

/** The target's admin, set up the way a managed service (azure_pg_admin) sets up its customer's admin. */
export const MANAGED_ADMIN = 'cloudadmin';

/**
 * What a managed service gives its admin beside CREATEDB and CREATEROLE, as preflight's
 * target.privileges check names them when they are missing: SET on session_replication_role (the
 * copy) and pg_create_subscription (online).
 */
export const MANAGED_ADMIN_GRANTS = [
  `GRANT SET ON PARAMETER session_replication_role TO "${MANAGED_ADMIN}"`,
  `GRANT pg_create_subscription TO "${MANAGED_ADMIN}"`,
];

/**
 * Creates the managed admin on a PostgreSQL 16+ server (`url`: a superuser's): not superuser,
 * CREATEDB and CREATEROLE, a member of pg_read_all_data and pg_write_all_data, and with `grants`
 * (the default) MANAGED_ADMIN_GRANTS too.
 */
export async function createManagedAdmin(url: string, { grants = true } = {}): Promise<void> {
  await query(
    url,
    `CREATE ROLE ${MANAGED_ADMIN} LOGIN CREATEDB CREATEROLE;
     GRANT pg_read_all_data, pg_write_all_data TO ${MANAGED_ADMIN}`,
  );
  if (grants) await query(url, MANAGED_ADMIN_GRANTS.join(';\n'));
}

/**
 * A managed pair's suite, declared after its clusters' hooks (the worker starts once they run and
 * stops before they stop): a worker, the activities with the source's password in their
 * environment, and the URLs the worker uses, the source's superuser with that password
 * (`password_env`) and the target as the managed admin.
 */
export function useManagedPair(
  clusters: () => { source: ThrowawayCluster; target: ThrowawayCluster },
  password: { env: string; value: string },
) {
  return {
    suite: useTemporalSuite(),
    activities: createActivities(testActivityDeps({ env: { [password.env]: password.value } })),
    sourceUrl: (db: string) =>
      `postgres://postgres@127.0.0.1:${clusters().source.port}/${db}?password_env=${password.env}`,
    targetUrl: (db: string) => `postgres://${MANAGED_ADMIN}@127.0.0.1:${clusters().target.port}/${db}`,
  };
}
