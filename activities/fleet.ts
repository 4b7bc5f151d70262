import type { OnSource } from '../domain/activity-inputs';
import type { ActivityDeps } from './deps';
import { withClient } from './pg/connect';
import { FLEET_DATABASES } from './pg/database-sql';

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
