import type { Client } from 'pg';
import { qualifiedTableName } from '../domain/chunks';
import type { AsIsStorageInput, RestoreStorageInput } from '../domain/activity-inputs';
import type { TableColumns } from '../domain/tables';
import type { ActivityDeps } from './deps';
import { withHeartbeat, type Heartbeat } from './heartbeat';
import { asIsCandidates, restoreExtended, setExternal, type AsIsCandidate } from './pg/as-is';
import { serverVersion } from './pg/catalog';
import { withClient, withTransaction } from './pg/connect';
import { beginSourceRead, copyStep } from './pg/copy-steps';
import { SOURCE_SETTINGS } from './pg/copy-sql';

/** A table and the columns of it worth loading as is. */
interface Checked {
  readonly table: TableColumns;
  readonly candidates: AsIsCandidate[];
}

/**
 * storeAsIs for tables split into ranges, which copy in several transactions at once and so cannot
 * change their storage in one: before any range is copied, the whole table is checked on the source
 * (under the chunks' snapshot) and the qualifying columns are set to EXTERNAL on the target, in one
 * short transaction while the tables are still empty. restoreStorage sets them back once every range
 * is in (and on rollback). Returns the columns set, per table. Safe to retry: a column an earlier
 * attempt set is found and set again.
 */
export async function setAsIsStorage(
  deps: ActivityDeps,
  input: AsIsStorageInput,
): Promise<{ tables: TableColumns[] }> {
  const { source, target } = input;
  if (input.tables.length === 0) return { tables: [] };
  return withHeartbeat('setting column storage', async (hb) => {
    const checked = await withClient(
      source,
      deps.env,
      copyStep('source', 'checking TOASTed columns'),
      (client) => checkTables(client, input, hb),
    );
    if (checked.length === 0) return { tables: [] };
    return withClient(target, deps.env, copyStep('target', 'setting column storage'), (client) =>
      withTransaction(client, async () => {
        const tables: TableColumns[] = [];
        for (const { table, candidates } of checked) {
          const columns = await setExternal(client, table, candidates);
          if (columns.length > 0) tables.push({ schema: table.schema, table: table.table, columns });
        }
        return { tables };
      }),
    );
  });
}

/** Source side of setAsIsStorage: each table's candidates, read under the chunks' snapshot (14+). */
async function checkTables(client: Client, input: AsIsStorageInput, hb: Heartbeat): Promise<Checked[]> {
  const { major } = await serverVersion(client);
  if (major < 14) return [];
  try {
    await beginSourceRead(client, input.snapshot);
    for (const setting of SOURCE_SETTINGS) await client.query(setting);
    const found: Checked[] = [];
    for (const table of input.tables) {
      hb.update({ detail: `checking ${qualifiedTableName(table.schema, table.table)}` });
      const candidates = await asIsCandidates(client, table);
      if (candidates.length > 0) found.push({ table, candidates });
    }
    return found;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/** Sets the columns setAsIsStorage made EXTERNAL back to EXTENDED, as the schema has them. Idempotent. */
export async function restoreStorage(deps: ActivityDeps, input: RestoreStorageInput): Promise<void> {
  if (input.tables.length === 0) return;
  // Each ALTER TABLE waits for every session that still uses its table.
  await withHeartbeat('restoring column storage', (hb) =>
    withClient(input.target, deps.env, copyStep('target', 'restoring column storage'), (client) =>
      withTransaction(client, async () => {
        for (const t of input.tables) {
          hb.update({ detail: `restoring the storage of ${qualifiedTableName(t.schema, t.table)}` });
          await restoreExtended(client, t, t.columns);
        }
      }),
    ),
  );
}
