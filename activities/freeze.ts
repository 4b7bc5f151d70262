import type { DropOwnTargetInput, OnSource } from '../domain/activity-inputs';
import { withDatabase } from '../domain/connection';
import type { ActivityDeps } from './deps';
import { quoteIdent, withClient } from './pg/connect';
import { MAINTENANCE_DB } from './provision/local';

/**
 * Freezes writes on the source database: new transactions default to read-only, and the sessions
 * already open are ended so that they reconnect under the new default. Idempotent. (A session can
 * still SET default_transaction_read_only = off; the freeze stops applications, not a determined user.)
 */
export async function freezeSource(
  deps: ActivityDeps,
  { source: spec }: OnSource,
): Promise<{ terminated: number; frozenAt: number }> {
  return withClient(withDatabase(spec, MAINTENANCE_DB), deps.env, 'source', async (client) => {
    await client.query(`ALTER DATABASE ${quoteIdent(spec.database)} SET default_transaction_read_only = on`);
    const { rowCount } = await client.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
          AND coalesce(application_name, '') <> 'pgferry'`,
      [spec.database],
    );
    return { terminated: rowCount ?? 0, frozenAt: Date.now() };
  });
}

/** Lifts the freeze: the database's default returns to read-write. Idempotent. */
export async function unfreezeSource(deps: ActivityDeps, { source: spec }: OnSource): Promise<void> {
  await withClient(withDatabase(spec, MAINTENANCE_DB), deps.env, 'source', (client) =>
    client.query(`ALTER DATABASE ${quoteIdent(spec.database)} RESET default_transaction_read_only`),
  );
}

/** Drops a target database that this migration provisioned (rollback with --on-rollback drop). */
export async function dropOwnTarget(
  deps: ActivityDeps,
  input: DropOwnTargetInput,
): Promise<{ dropped: boolean }> {
  const spec = input.target;
  return withClient(withDatabase(spec, MAINTENANCE_DB), deps.env, 'target', async (client) => {
    const { rows } = await client.query<{ comment: string | null }>(
      "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1",
      [spec.database],
    );
    // Only a database carrying this migration's marker is ours to drop.
    if (rows[0]?.comment !== input.marker) return { dropped: false };
    await client.query(`DROP DATABASE ${quoteIdent(spec.database)} WITH (FORCE)`);
    return { dropped: true };
  });
}
