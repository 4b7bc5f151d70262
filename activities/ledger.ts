import type { ChunksDoneInput, OnTarget, ResetCopyInput } from '../domain/activity-inputs';
import type { TableRef } from '../domain/tables';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { withClient, withTransaction } from './pg/connect';
import { copyStep, readCopyTables } from './pg/copy-steps';
import { REPLICA_ROLE } from './pg/copy-sql';
import {
  ADVISORY_XACT_LOCK,
  CREATE_LEDGER,
  DELETE_CHUNKS,
  DROP_LEDGER,
  EXISTING_TABLES,
  LEDGER_DDL_KEY,
  LEDGER_EXISTS,
  LIST_CHUNKS,
  truncateTablesSql,
} from './pg/ledger-sql';

/** Creates the ledger (schema pgferry, table pgferry.chunks) on the target unless it exists. */
export async function ensureLedger(deps: ActivityDeps, input: OnTarget): Promise<void> {
  // The lock waits for any other migration's ledger DDL on this target.
  await withHeartbeat('creating the ledger', () =>
    withClient(input.target, deps.env, copyStep('target', 'creating the ledger'), (client) =>
      withTransaction(client, async () => {
        await client.query(ADVISORY_XACT_LOCK, [LEDGER_DDL_KEY]);
        for (const statement of CREATE_LEDGER) await client.query(statement);
      }),
    ),
  );
}

/** Drops the ledger schema from the target (at finalize: the copy is over and nothing may resume it). */
export async function dropLedger(deps: ActivityDeps, input: OnTarget): Promise<void> {
  await withHeartbeat('dropping the ledger', () =>
    withClient(input.target, deps.env, copyStep('target', 'dropping the ledger'), (client) =>
      withTransaction(client, async () => {
        await client.query(ADVISORY_XACT_LOCK, [LEDGER_DDL_KEY]);
        await client.query(DROP_LEDGER);
      }),
    ),
  );
}

/** The ids of the migration's chunks committed on the target; none when there is no ledger. */
export async function chunksDone(deps: ActivityDeps, input: ChunksDoneInput): Promise<string[]> {
  return withHeartbeat('reading the ledger', () =>
    withClient(input.target, deps.env, copyStep('target', 'reading the ledger'), async (client) => {
      const { rows: exists } = await client.query<{ present: boolean }>(LEDGER_EXISTS);
      if (!exists[0]?.present) return [];
      const { rows } = await client.query<{ chunk_id: string }>(LIST_CHUNKS, [input.migration]);
      return rows.map((r) => r.chunk_id);
    }),
  );
}

/**
 * Undoes a copy whose snapshot was lost, so it can start over under a new slot: empties every
 * table the copy fills on the target and forgets the migration's ledger rows, in one transaction.
 */
export async function resetCopy(
  deps: ActivityDeps,
  input: ResetCopyInput,
): Promise<{ tables: number; chunks: number }> {
  // The truncate waits for every session that still uses one of the tables.
  return withHeartbeat('resetting the copy', async (hb) => {
    hb.update({ detail: 'listing the tables' });
    const tables = await withClient(
      input.source,
      deps.env,
      copyStep('source', 'listing the tables'),
      (client) => readCopyTables(client, undefined),
    );
    hb.update({ detail: `emptying ${tables.length} tables` });
    return withClient(input.target, deps.env, { field: 'target', doing: 'resetting the copy' }, (client) =>
      withTransaction(client, async () => {
        // ON TRUNCATE triggers of the user's are no business of a copy being undone.
        await client.query(REPLICA_ROLE);
        const { rows: present } = await client.query<TableRef>(EXISTING_TABLES, [
          tables.map((t) => t.schema),
          tables.map((t) => t.table),
        ]);
        if (present.length > 0) await client.query(truncateTablesSql(present));
        const { rows: ledger } = await client.query<{ present: boolean }>(LEDGER_EXISTS);
        const chunks = ledger[0]?.present
          ? ((await client.query(DELETE_CHUNKS, [input.migration])).rowCount ?? 0)
          : 0;
        deps.logger.info({ migration: input.migration, tables: present.length, chunks }, 'copy reset');
        return { tables: present.length, chunks };
      }),
    );
  });
}
