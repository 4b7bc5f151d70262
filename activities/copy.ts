import { pipeline } from 'node:stream/promises';
import type { Client } from 'pg';
import type { CopyChunkInput, CopyChunksInput, ListCopyTablesInput } from '../domain/activity-inputs';
import { qualifiedTableName, type Chunk, type TableInfo } from '../domain/chunks';
import type { TableRef } from '../domain/tables';
import { ErrorCode, PgferryError } from '../domain/errors';
import { whileNotCancelled } from './cancel';
import type { ActivityDeps } from './deps';
import type { ActivityMetrics } from './metrics';
import { withHeartbeat, type Heartbeat } from './heartbeat';
import { restoreExtended, storeAsIs } from './pg/as-is';
import { serverVersion } from './pg/catalog';
import { connectionGone, inStep, withClient, withTransaction } from './pg/connect';
import { copyInRelay, copyOutRelay } from './pg/copy-relay';
import { beginSourceRead, copyStep, readCopyTables } from './pg/copy-steps';
import {
  BINARY_PORTABLE,
  BINARY_PORTABLE_TABLES,
  CAN_TRUNCATE,
  copyInSql,
  copyOutSql,
  SOURCE_SETTINGS,
  targetSettings,
  truncateOnlySql,
  type CopyFormat,
} from './pg/copy-sql';
import { classifyPgError } from './pg/errors';
import { ADVISORY_XACT_LOCK, advisoryKey, FIND_CHUNK, LEDGER_SCHEMA, RECORD_CHUNK } from './pg/ledger-sql';
import { SqlState } from './pg/sqlstate';

/** What copyChunk did: rows and bytes copied, or those recorded by the attempt that did. */
export interface CopyChunkResult {
  readonly chunkId: string;
  readonly rows: number;
  readonly bytes: number;
  /** True when the ledger already had the chunk, so nothing was copied this time. */
  readonly skipped: boolean;
  /** Columns loaded without the target's compression attempt, because it could not succeed (storeAsIs). */
  readonly storedAsIs?: string[];
}

/** How often a chunk's copied bytes are taken into its heartbeat (which goes out every second). */
const PROGRESS_MS = 250;

/** Lists the tables whose own rows the copy moves, with their columns and sizes, by schema and name. */
export async function listCopyTables(deps: ActivityDeps, input: ListCopyTablesInput): Promise<TableInfo[]> {
  // Sizing a table opens it: a lock held on any of them holds the list up.
  return withHeartbeat('listing the tables', () =>
    withClient(input.source, deps.env, copyStep('source', 'listing the tables'), (client) =>
      readCopyTables(client, input.snapshot),
    ),
  );
}

/**
 * Copies one chunk exactly once (Invariant 1). In one target transaction: an advisory lock on the
 * chunk, so two attempts never overlap; the ledger, so a chunk already committed is skipped; then
 * COPY from the source streamed straight into COPY on the target with triggers and foreign keys
 * off; then the ledger row; then COMMIT. A failure or crash anywhere before the commit leaves
 * neither rows nor ledger row, and the next attempt starts the chunk over.
 */
export async function copyChunk(
  deps: ActivityDeps,
  input: CopyChunkInput,
  portable?: boolean,
): Promise<CopyChunkResult> {
  const { source, target, chunk, migration } = input;
  const doing = `copying ${chunk.id}`;
  return withHeartbeat(doing, async (hb) => {
    hb.update({ rows: 0, bytes: 0, detail: chunk.id });
    const copyInto = (targetClient: Client) =>
      withTransaction(targetClient, async (): Promise<CopyChunkResult> => {
        const prepared = await prepareTarget(targetClient, migration, chunk);
        if (prepared.done) return { chunkId: chunk.id, ...prepared.done, skipped: true };
        const copied = await withClient(source, deps.env, copyStep('source', doing), (sourceClient) =>
          whileNotCancelled(hb.signal, sourceClient, () =>
            streamChunk(sourceClient, targetClient, {
              ...prepared,
              chunk,
              snapshot: input.snapshot,
              hb,
              portable,
              metrics: deps.metrics,
            }),
          ),
        );
        await targetClient.query(RECORD_CHUNK, [migration, chunk.id, copied.rows, copied.bytes]);
        hb.update({ rows: copied.rows, bytes: copied.bytes });
        deps.logger.debug({ chunk: chunk.id, ...copied }, 'chunk copied');
        return {
          chunkId: chunk.id,
          rows: copied.rows,
          bytes: copied.bytes,
          skipped: false,
          ...(copied.storedAsIs.length > 0 ? { storedAsIs: copied.storedAsIs } : {}),
        };
      });
    const result = await withClient(target, deps.env, copyStep('target', doing), (targetClient) =>
      whileNotCancelled(hb.signal, targetClient, () => copyInto(targetClient)),
    );
    // Counted once committed: a chunk the ledger already had was counted by the attempt that copied it.
    if (!result.skipped) deps.metrics?.chunkCopied(result.rows, result.bytes);
    return result;
  });
}

/** What the target side of a chunk found and set up in its transaction. */
type PreparedTarget =
  /** The ledger row of an earlier attempt that committed the chunk: nothing is left to copy. */
  | { readonly done: { rows: number; bytes: number } }
  /** Ready to load; `freeze` when the table was emptied in this transaction, so the load can be frozen. */
  | { readonly done?: undefined; readonly targetMajor: number; readonly freeze: boolean };

/**
 * In the chunk's target transaction: the chunk's advisory lock, which serialises attempts across
 * workers (a second attempt waits here until the first commits, and then finds its ledger row, or
 * rolls back, and then copies the chunk itself); the ledger; the load's settings; and, for a
 * whole table not in the ledger (which holds nothing committed by us), the truncate that lets it
 * load frozen. Ranges of a split table share their table, and cannot.
 */
async function prepareTarget(client: Client, migration: string, chunk: Chunk): Promise<PreparedTarget> {
  await client.query(ADVISORY_XACT_LOCK, [advisoryKey('chunk', migration, chunk.id)]);
  const done = await findLedgerRow(client, migration, chunk.id);
  if (done) return { done };
  const { major } = await serverVersion(client);
  for (const setting of targetSettings(major)) await client.query(setting);
  if (chunk.range !== undefined) return { targetMajor: major, freeze: false };
  const { rows } = await client.query<{ ok: boolean }>(CAN_TRUNCATE, [chunk.schema, chunk.table]);
  if (rows[0]?.ok) await client.query(truncateOnlySql(chunk));
  return { targetMajor: major, freeze: rows[0]?.ok === true };
}

/** The ledger row of a chunk, if committed; a missing ledger is an error, never "not copied yet". */
async function findLedgerRow(
  client: Client,
  migration: string,
  chunkId: string,
): Promise<{ rows: number; bytes: number } | undefined> {
  try {
    const { rows } = await client.query<{ rows: string; bytes: string }>(FIND_CHUNK, [migration, chunkId]);
    const row = rows[0];
    return row ? { rows: Number(row.rows), bytes: Number(row.bytes) } : undefined;
  } catch (err) {
    // Recreating the ledger here would let a late retry after finalize (dropLedger) copy a chunk
    // a second time; without it, the copy stage has not run ensureLedger, or is over.
    if ((err as { code?: unknown }).code === SqlState.UndefinedTable) {
      throw new PgferryError(
        ErrorCode.Internal,
        `target: the ledger ${LEDGER_SCHEMA}.chunks does not exist`,
        {
          field: 'target',
          fix: 'run ensureLedger before copying chunks; after finalize the copy cannot be resumed',
          cause: err,
        },
      );
    }
    throw err;
  }
}

/** What streamChunk needs besides the two clients. */
interface StreamOptions {
  readonly chunk: Chunk;
  readonly targetMajor: number;
  readonly freeze: boolean;
  readonly snapshot: string | undefined;
  readonly hb: Heartbeat;
  /** Whether both sides can send and receive every column in binary, when the batch asked already. */
  readonly portable: boolean | undefined;
  readonly metrics: ActivityMetrics | undefined;
}

/**
 * Streams one chunk from the source's COPY TO into the target's COPY FROM, which the caller has
 * open in its transaction. Bytes are counted on the way; nothing is buffered beyond the streams'
 * high-water marks. Returns the rows the target's COPY loaded.
 */
async function streamChunk(
  sourceClient: Client,
  targetClient: Client,
  options: StreamOptions,
): Promise<{ rows: number; bytes: number; format: CopyFormat; storedAsIs: string[] }> {
  const { chunk, hb } = options;
  const doing = `copying ${chunk.id}`;
  const { major: sourceMajor } = await serverVersion(sourceClient);
  // A read-only transaction needs no ROLLBACK on failure: closing the connection ends it.
  await beginSourceRead(sourceClient, options.snapshot);
  for (const setting of SOURCE_SETTINGS) await sourceClient.query(setting);
  const format = await chooseFormat(sourceClient, targetClient, sourceMajor, options);
  // Only a whole table loaded in this transaction (truncated, so locked for it alone) changes storage.
  const asIs = options.freeze && sourceMajor >= 14 ? await storeAsIs(sourceClient, targetClient, chunk) : [];

  // The source's CopyData messages go to the target as they are: no unframing and framing per row.
  const relay = copyOutRelay(copyOutSql(chunk, format));
  const copyOut = sourceClient.query(relay.stream);
  const copyIn = targetClient.query(copyInRelay(copyInSql(chunk, format, { freeze: options.freeze })));
  // The first stream to fail names the side at fault; pipeline then destroys the others with it.
  let failedSide: 'source' | 'target' | undefined;
  copyOut.once('error', () => (failedSide ??= 'source'));
  copyIn.once('error', () => (failedSide ??= 'target'));
  // The bytes so far go into the heartbeat (and the throughput) on a timer, not per chunk of data:
  // no stage in the stream.
  let reported = 0;
  const report = () => {
    const bytes = relay.payloadBytes();
    hb.update({ bytes });
    options.metrics?.bytesStreamed(bytes - reported);
    reported = bytes;
  };
  const progress = setInterval(report, PROGRESS_MS);
  try {
    await pipeline(copyOut, copyIn, { signal: hb.signal });
  } catch (err) {
    const side = failedSide ?? 'target';
    const client = side === 'source' ? sourceClient : targetClient;
    throw classifyPgError(err, { ...copyStep(side, doing), connectionGone: connectionGone(client) });
  } finally {
    clearInterval(progress);
  }
  report();
  // COMMIT queues behind the COPY TO, so once it answers the source's row count is known.
  await sourceClient.query('COMMIT');
  if (asIs.length > 0) {
    // The values are in; the table's later rows are compressed as the schema says.
    await inStep(targetClient, copyStep('target', doing), () => restoreExtended(targetClient, chunk, asIs));
  }
  if (copyOut.rowCount !== copyIn.rowCount) {
    throw new PgferryError(
      ErrorCode.RowCountMismatch,
      `copying ${chunk.id}: the source sent ${copyOut.rowCount} rows, the target loaded ${copyIn.rowCount}`,
      { field: 'target' },
    );
  }
  return { rows: copyIn.rowCount, bytes: relay.payloadBytes(), format, storedAsIs: asIs };
}

/**
 * Binary between servers of one major where every column's binary form is portable and both
 * servers can send and receive it (BINARY_PORTABLE, asked of each); text otherwise.
 */
async function chooseFormat(
  sourceClient: Client,
  targetClient: Client,
  sourceMajor: number,
  options: StreamOptions,
): Promise<CopyFormat> {
  if (sourceMajor !== options.targetMajor) return 'text';
  if (options.portable !== undefined) return options.portable ? 'binary' : 'text';
  const { chunk } = options;
  const portable = async (client: Client) => {
    const { rows } = await client.query<{ portable: boolean }>(BINARY_PORTABLE, [
      chunk.schema,
      chunk.table,
      chunk.columns,
    ]);
    return rows[0]?.portable === true;
  };
  if (!(await portable(sourceClient))) return 'text';
  const onTarget = await inStep(targetClient, copyStep('target', `copying ${chunk.id}`), () =>
    portable(targetClient),
  );
  return onTarget ? 'binary' : 'text';
}

/**
 * Copies a batch of chunks in turn, each exactly once through copyChunk (its own target
 * transaction and ledger row), so a retried batch skips what was already committed.
 */
export async function copyChunks(
  deps: ActivityDeps,
  input: CopyChunksInput,
): Promise<{ rows: number; bytes: number; copied: number; skipped: number }> {
  // One heartbeat for the batch, from its first query; each chunk's figures join it (startHeartbeat).
  return withHeartbeat('copying a batch', async () => {
    const total = { rows: 0, bytes: 0, copied: 0, skipped: 0 };
    const portable = input.chunks.length > 1 ? await batchPortability(deps, input) : undefined;
    for (const chunk of input.chunks) {
      const chunkInput = {
        source: input.source,
        target: input.target,
        migration: input.migration,
        chunk,
        ...(input.snapshot === undefined ? {} : { snapshot: input.snapshot }),
      };
      const result = await copyChunk(deps, chunkInput, portable?.(chunk));
      total.rows += result.rows;
      total.bytes += result.bytes;
      if (result.skipped) total.skipped += 1;
      else total.copied += 1;
    }
    return total;
  });
}

/**
 * Which tables of a batch both sides can COPY in binary, asked once per side for the whole batch
 * (BINARY_PORTABLE_TABLES): a fresh session plans the catalog query in about 20 ms, which a batch
 * of a hundred small tables would otherwise pay a hundred times on each side.
 */
async function batchPortability(
  deps: ActivityDeps,
  input: CopyChunksInput,
): Promise<(table: TableRef) => boolean | undefined> {
  const schemas = input.chunks.map((c) => c.schema);
  const tables = input.chunks.map((c) => c.table);
  const ask = (side: 'source' | 'target') =>
    withClient(
      input[side],
      deps.env,
      copyStep(side, 'checking the binary COPY of the batch'),
      async (client) => {
        const { rows } = await client.query<TableRef & { portable: boolean }>(BINARY_PORTABLE_TABLES, [
          schemas,
          tables,
        ]);
        return new Map(rows.map((r) => [qualifiedTableName(r.schema, r.table), r.portable]));
      },
    );
  const [onSource, onTarget] = await Promise.all([ask('source'), ask('target')]);
  return (t) => {
    const key = qualifiedTableName(t.schema, t.table);
    const source = onSource.get(key);
    const target = onTarget.get(key);
    // A table either side does not list (renamed meanwhile) is asked again with its chunk.
    return source === undefined || target === undefined ? undefined : source && target;
  };
}
