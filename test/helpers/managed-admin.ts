import { query } from './pg';

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
