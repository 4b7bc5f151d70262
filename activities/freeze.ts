import type { DropOwnTargetInput, OnSource } from '../domain/activity-inputs';
import { withDatabase } from '../domain/connection';
import type { ActivityDeps } from './deps';
import { databaseInfo } from './pg/catalog';
import { withClient } from './pg/connect';
import {
  dropDatabaseSql,
  END_CLIENT_SESSIONS,
  freezeDatabaseSql,
  unfreezeDatabaseSql,
} from './pg/database-sql';
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
    await client.query(freezeDatabaseSql(spec.database));
    const { rowCount } = await client.query(END_CLIENT_SESSIONS, [spec.database]);
    return { terminated: rowCount ?? 0, frozenAt: Date.now() };
  });
}

/** Lifts the freeze: the database's default returns to read-write. Idempotent. */
export async function unfreezeSource(deps: ActivityDeps, { source: spec }: OnSource): Promise<void> {
  await withClient(withDatabase(spec, MAINTENANCE_DB), deps.env, 'source', (client) =>
    client.query(unfreezeDatabaseSql(spec.database)),
  );
}

/** Drops a target database that this migration provisioned (rollback with --on-rollback drop). */
export async function dropOwnTarget(
  deps: ActivityDeps,
  input: DropOwnTargetInput,
): Promise<{ dropped: boolean }> {
  const spec = input.target;
  return withClient(withDatabase(spec, MAINTENANCE_DB), deps.env, 'target', async (client) => {
    // Only a database carrying this migration's marker is ours to drop.
    const info = await databaseInfo(client, spec.database);
    if (!info.exists || info.comment !== input.marker) return { dropped: false };
    await client.query(dropDatabaseSql(spec.database));
    return { dropped: true };
  });
}
