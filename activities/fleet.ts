import type { OnBoth, OnSource } from '../domain/activity-inputs';
import { withDatabase } from '../domain/connection';
import type { ReplicationRoom } from '../domain/fleet';
import type { ActivityDeps } from './deps';
import { withClient } from './pg/connect';
import { FLEET_DATABASES, SOURCE_REPLICATION_ROOM, TARGET_REPLICATION_ROOM } from './pg/database-sql';
import { MAINTENANCE_DB } from './provision/local';

/** The databases of the source's server that a fleet may move (the `postgres` database included: the fleet decides). */
export async function listDatabases(
  deps: ActivityDeps,
  { source }: OnSource,
): Promise<{ databases: string[] }> {
  return withClient(source, deps.env, 'sourceServer', async (client) => {
    const { rows } = await client.query<{ datname: string }>(FLEET_DATABASES);
    return { databases: rows.map((r) => r.datname) };
  });
}

/**
 * How many more subscriptions a server pair has room for now: the source's free replication slots
 * and WAL senders, the target's free logical replication workers (read in its maintenance
 * database: the members' databases may not exist yet). Only reads.
 */
export async function replicationRoom(
  deps: ActivityDeps,
  { source, target }: OnBoth,
): Promise<ReplicationRoom> {
  const src = await withClient(source, deps.env, 'sourceServer', async (client) => {
    const { rows } = await client.query<{ slots: number; senders: number }>(SOURCE_REPLICATION_ROOM);
    return rows[0] ?? { slots: 0, senders: 0 };
  });
  const dst = await withClient(
    withDatabase(target, MAINTENANCE_DB),
    deps.env,
    'targetServer',
    async (client) => {
      const { rows } = await client.query<{ workers: number }>(TARGET_REPLICATION_ROOM);
      return rows[0] ?? { workers: 0 };
    },
  );
  return { ...src, ...dst };
}
