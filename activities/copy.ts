import { pipeline } from 'node:stream/promises';
import type { Client } from 'pg';
import { qualifiedTableName, type Chunk, type TableInfo } from '../domain/chunks';
import { AS_IS_MIN_TOAST_BYTES } from '../domain/constants';
import { parseConnectionUrl } from '../domain/connection';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { ActivityDeps } from './deps';
import { startHeartbeat } from './heartbeat';
import { serverVersion } from './pg/catalog';
import { copyInRelay, copyOutRelay } from './pg/copy-relay';
import { withClient, withTransaction } from './pg/connect';
import {
  advisoryKey,
  BINARY_PORTABLE,
  CAN_TRUNCATE,
  copyInSql,
  copyOutSql,
  CopySqlState,
  CREATE_LEDGER,
  DROP_LEDGER,
  FIND_CHUNK,
  LEDGER_EXISTS,
  LEDGER_SCHEMA,
  LIST_CHUNKS,
  listCopyTablesSql,
  LOCK_CHUNK,
  LOCK_LEDGER_DDL,
  RECORD_CHUNK,
  SOURCE_BEGIN,
  SOURCE_SETTINGS,
  setSnapshotSql,
  targetSettings,
  truncateOnlySql,
  type CopyFormat,
  type TableRef,
} from './pg/copy-sql';
import { SqlState, UNREACHABLE_ERRNOS } from './pg/sqlstate';
import {
  anyCompressedSql,
  setStorageSql,
  SOURCE_TOASTED_COLUMNS,
  TARGET_SAME_COLUMNS,
} from './pg/toast-sql';

/** Input of the listCopyTables activity. */
export interface ListCopyTablesInput {
  readonly source: string;
  /** An exported snapshot to read the catalog under, so the list matches what the chunks read. */
  readonly snapshot?: string;
}

/** Input of the copyChunk activity. */
export interface CopyChunkInput {
  readonly source: string;
  readonly target: string;
  /** The migration's name: the ledger keeps the chunks of each migration apart. */
  readonly migration: string;
  readonly chunk: Chunk;
  /** An exported snapshot (online mode): every chunk reads the source as of the slot's start. */
  readonly snapshot?: string;
}

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

const LEDGER_DDL_KEY = advisoryKey('ledger-ddl');
/** How often a chunk's copied bytes are taken into its heartbeat (which goes out every second). */
const PROGRESS_MS = 250;

/** Opens the REPEATABLE READ READ ONLY source transaction, under `snapshot` when given. */
async function beginSourceRead(client: Client, snapshot: string | undefined): Promise<void> {
  await client.query(SOURCE_BEGIN);
  if (snapshot === undefined) return;
  try {
    await client.query(setSnapshotSql(snapshot));
  } catch (err) {
    if ((err as { code?: unknown }).code === CopySqlState.InvalidParameterValue) {
      // The transaction that exported it has ended: no retry can bring it back.
      throw new PgferryError(ErrorCode.SnapshotLost, 'snapshot: the source has no such exported snapshot', {
        field: 'snapshot',
        fix: 'the connection that held the snapshot is gone; restart the copy from a new snapshot',
        cause: err,
      });
    }
    throw err;
  }
}

/** Lists the tables whose own rows the copy moves, with their columns and sizes, by schema and name. */
export async function listCopyTables(deps: ActivityDeps, input: ListCopyTablesInput): Promise<TableInfo[]> {
  const spec = parseConnectionUrl(input.source, 'source');
  return withClient(spec, deps.env, 'source', async (client) => {
    const { major } = await serverVersion(client);
    try {
      await beginSourceRead(client, input.snapshot);
      const { rows } = await client.query<{
        schema: string;
        table: string;
        columns: string[];
        bytes: string;
        pages: string;
        rows_estimate: string;
        toast_bytes: string;
      }>(listCopyTablesSql(major));
      return rows.map((r) => ({
        schema: r.schema,
        table: r.table,
        columns: r.columns,
        bytes: Number(r.bytes),
        pages: Number(r.pages),
        rowsEstimate: Number(r.rows_estimate),
        toastBytes: Number(r.toast_bytes),
      }));
    } catch (err) {
      throw copyFailure(err, 'source', 'listing the tables');
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
  });
}

/** Creates the ledger (schema pgferry, table pgferry.chunks) on the target unless it exists. */
export async function ensureLedger(deps: ActivityDeps, input: { target: string }): Promise<void> {
  const spec = parseConnectionUrl(input.target, 'target');
  await withClient(spec, deps.env, 'target', (client) =>
    withTransaction(client, async () => {
      await client.query(LOCK_LEDGER_DDL, [LEDGER_DDL_KEY]);
      for (const statement of CREATE_LEDGER) await client.query(statement);
    }).catch((err: unknown) => {
      throw copyFailure(err, 'target', 'creating the ledger');
    }),
  );
}

/** Drops the ledger schema from the target (at finalize: the copy is over and nothing may resume it). */
export async function dropLedger(deps: ActivityDeps, input: { target: string }): Promise<void> {
  const spec = parseConnectionUrl(input.target, 'target');
  await withClient(spec, deps.env, 'target', (client) =>
    withTransaction(client, async () => {
      await client.query(LOCK_LEDGER_DDL, [LEDGER_DDL_KEY]);
      await client.query(DROP_LEDGER);
    }).catch((err: unknown) => {
      throw copyFailure(err, 'target', 'dropping the ledger');
    }),
  );
}

/** The ids of the migration's chunks committed on the target; none when there is no ledger. */
export async function chunksDone(
  deps: ActivityDeps,
  input: { target: string; migration: string },
): Promise<string[]> {
  const spec = parseConnectionUrl(input.target, 'target');
  return withClient(spec, deps.env, 'target', async (client) => {
    try {
      const { rows: exists } = await client.query<{ present: boolean }>(LEDGER_EXISTS);
      if (!exists[0]?.present) return [];
      const { rows } = await client.query<{ chunk_id: string }>(LIST_CHUNKS, [input.migration]);
      return rows.map((r) => r.chunk_id);
    } catch (err) {
      throw copyFailure(err, 'target', 'reading the ledger');
    }
  });
}

/**
 * Copies one chunk exactly once (Invariant 1). In one target transaction: an advisory lock on the
 * chunk, so two attempts never overlap; the ledger, so a chunk already committed is skipped; then
 * COPY from the source streamed straight into COPY on the target with triggers and foreign keys
 * off; then the ledger row; then COMMIT. A failure or crash anywhere before the commit leaves
 * neither rows nor ledger row, and the next attempt starts the chunk over.
 */
export async function copyChunk(deps: ActivityDeps, input: CopyChunkInput): Promise<CopyChunkResult> {
  const source = parseConnectionUrl(input.source, 'source');
  const target = parseConnectionUrl(input.target, 'target');
  const { chunk, migration } = input;
  checkChunk(chunk);
  const hb = startHeartbeat();
  hb.update({ bytes: 0, detail: chunk.id });
  try {
    return await withClient(target, deps.env, 'target', (targetClient) =>
      whileNotCancelled(hb.signal, targetClient, () =>
        withTransaction(targetClient, async () => {
          const done = await onSide('target', chunk, async () => {
            await targetClient.query(LOCK_CHUNK, [advisoryKey('chunk', migration, chunk.id)]);
            return findLedgerRow(targetClient, migration, chunk.id);
          });
          if (done) return { chunkId: chunk.id, ...done, skipped: true };
          const { targetMajor, freeze } = await onSide('target', chunk, async () => {
            const { major } = await serverVersion(targetClient);
            for (const setting of targetSettings(major)) await targetClient.query(setting);
            // A whole table not in the ledger holds nothing committed by us: empty it in this
            // transaction and load it frozen. Ranges of a split table share it, and cannot.
            if (chunk.range !== undefined) return { targetMajor: major, freeze: false };
            const { rows } = await targetClient.query<{ ok: boolean }>(CAN_TRUNCATE, [
              chunk.schema,
              chunk.table,
            ]);
            if (rows[0]?.ok) await targetClient.query(truncateOnlySql(chunk));
            return { targetMajor: major, freeze: rows[0]?.ok === true };
          });
          const copied = await withClient(source, deps.env, 'source', (sourceClient) =>
            whileNotCancelled(hb.signal, sourceClient, () =>
              streamChunk(sourceClient, targetClient, {
                chunk,
                targetMajor,
                freeze,
                snapshot: input.snapshot,
                hb,
              }),
            ),
          );
          await onSide('target', chunk, () =>
            targetClient.query(RECORD_CHUNK, [migration, chunk.id, copied.rows, copied.bytes]),
          );
          hb.update({ rows: copied.rows, bytes: copied.bytes });
          deps.logger.debug({ chunk: chunk.id, ...copied }, 'chunk copied');
          return {
            chunkId: chunk.id,
            rows: copied.rows,
            bytes: copied.bytes,
            skipped: false,
            ...(copied.storedAsIs.length > 0 ? { storedAsIs: copied.storedAsIs } : {}),
          };
        }),
      ),
    );
  } catch (err) {
    if (hb.signal.aborted) {
      const reason: unknown = hb.signal.reason;
      throw reason instanceof Error
        ? reason
        : new PgferryError(ErrorCode.Cancelled, `copying ${chunk.id} was cancelled`);
    }
    throw copyFailure(err, 'target', `copying ${chunk.id}`);
  } finally {
    hb.stop();
  }
}

/** Rejects a chunk whose range is not made of page numbers: they go into SQL as literals. */
function checkChunk(chunk: Chunk): void {
  const isPage = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  const range = chunk.range;
  if (
    range !== undefined &&
    (!isPage(range.fromPage) ||
      (range.toPage !== undefined && (!isPage(range.toPage) || range.toPage <= range.fromPage)))
  ) {
    throw new PgferryError(ErrorCode.InvalidInput, `chunk.range: ${chunk.id} has no valid page range`, {
      field: 'chunk.range',
      fix: 'plan chunks with planChunks: fromPage and toPage are page numbers, toPage above fromPage',
    });
  }
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
    if ((err as { code?: unknown }).code === CopySqlState.UndefinedTable) {
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

/**
 * Streams one chunk from the source's COPY TO into the target's COPY FROM, which the caller has
 * open in its transaction. Bytes are counted on the way; nothing is buffered beyond the streams'
 * high-water marks. Returns the rows the target's COPY loaded.
 */
async function streamChunk(
  sourceClient: Client,
  targetClient: Client,
  options: {
    chunk: Chunk;
    targetMajor: number;
    freeze: boolean;
    snapshot: string | undefined;
    hb: ReturnType<typeof startHeartbeat>;
  },
): Promise<{ rows: number; bytes: number; format: CopyFormat; storedAsIs: string[] }> {
  const { chunk, hb } = options;
  const { format, sourceMajor } = await onSide('source', chunk, async () => {
    const { major } = await serverVersion(sourceClient);
    // A read-only transaction needs no ROLLBACK on failure: closing the connection ends it.
    await beginSourceRead(sourceClient, options.snapshot);
    for (const setting of SOURCE_SETTINGS) await sourceClient.query(setting);
    if (major !== options.targetMajor) return { format: 'text' as const, sourceMajor: major };
    const { rows } = await sourceClient.query<{ portable: boolean }>(BINARY_PORTABLE, [
      chunk.schema,
      chunk.table,
      chunk.columns,
    ]);
    return { format: rows[0]?.portable ? ('binary' as const) : ('text' as const), sourceMajor: major };
  });
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
  // The bytes so far go into the heartbeat on a timer, not per chunk of data: no stage in the stream.
  const progress = setInterval(() => hb.update({ bytes: relay.payloadBytes() }), PROGRESS_MS);
  try {
    await pipeline(copyOut, copyIn, { signal: hb.signal });
  } catch (err) {
    throw copyFailure(err, failedSide ?? 'target', `copying ${chunk.id}`);
  } finally {
    clearInterval(progress);
  }
  hb.update({ bytes: relay.payloadBytes() });
  // COMMIT queues behind the COPY TO, so once it answers the source's row count is known.
  await onSide('source', chunk, () => sourceClient.query('COMMIT'));
  if (asIs.length > 0) {
    // The values are in; the table's later rows are compressed as the schema says.
    await onSide('target', chunk, () => targetClient.query(setStorageSql(chunk, asIs, 'EXTENDED')));
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
 * Spares the target compression that cannot succeed. A column whose values the source holds
 * uncompressed, though stored EXTENDED, is one where every compression attempt failed (or none
 * was due: the row was small); the target, trying the same method on the same values, would fail
 * the same way, after spending most of a TOASTed load's CPU on it. So, in the chunk's transaction,
 * such columns are set to EXTERNAL (out of line, uncompressed) for the COPY and back to EXTENDED
 * after it: the target stores every value as the source does, in less time. Returns the columns
 * so set; none when the table's TOAST is small, a value is compressed, the target column is stored
 * or compressed differently, or the session does not own the table.
 */
async function storeAsIs(sourceClient: Client, targetClient: Client, chunk: Chunk): Promise<string[]> {
  const candidates = await onSide('source', chunk, () => asIsCandidates(sourceClient, chunk));
  if (candidates.length === 0) return [];
  return onSide('target', chunk, () => setExternal(targetClient, chunk, candidates));
}

/** A table and some of its columns. */
export interface TableColumns extends TableRef {
  readonly columns: string[];
}

/** A column worth loading as is, and the compression method its source values were stored under. */
interface AsIsCandidate {
  readonly column: string;
  readonly method: string;
}

/**
 * Source side, in the caller's transaction (PostgreSQL 14+): the columns of `t` stored EXTENDED
 * that hold no compressed value, in a table with TOAST enough to be worth the scan.
 */
async function asIsCandidates(client: Client, t: TableColumns): Promise<AsIsCandidate[]> {
  const { rows } = await client.query<AsIsCandidate>(SOURCE_TOASTED_COLUMNS, [
    t.schema,
    t.table,
    t.columns,
    AS_IS_MIN_TOAST_BYTES,
  ]);
  if (rows.length === 0) return [];
  const { rows: compressed } = await client.query<Record<string, boolean>>(
    anyCompressedSql(
      t,
      rows.map((r) => r.column),
    ),
  );
  return rows.filter((_, i) => compressed[0]?.[`c${i}`] === false);
}

/**
 * Target side, in the caller's transaction: sets to EXTERNAL those candidates that the target
 * stores and compresses as the source does (or that an earlier attempt set already) in a table the
 * session owns. Returns the columns set.
 */
async function setExternal(
  client: Client,
  t: TableColumns,
  candidates: readonly AsIsCandidate[],
): Promise<string[]> {
  const { rows } = await client.query<{ column: string }>(TARGET_SAME_COLUMNS, [
    t.schema,
    t.table,
    candidates.map((c) => c.column),
    candidates.map((c) => c.method),
  ]);
  const columns = rows.map((r) => r.column);
  if (columns.length > 0) await client.query(setStorageSql(t, columns, 'EXTERNAL'));
  return columns;
}

/** Input of setAsIsStorage. */
export interface AsIsStorageInput {
  readonly source: string;
  readonly target: string;
  /** Tables split into ranges, with the columns the copy moves. */
  readonly tables: readonly TableColumns[];
  /** An exported snapshot (online mode): the check reads what the chunks will read. */
  readonly snapshot?: string;
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
  const source = parseConnectionUrl(input.source, 'source');
  const target = parseConnectionUrl(input.target, 'target');
  if (input.tables.length === 0) return { tables: [] };
  const hb = startHeartbeat();
  try {
    const checked = await withClient(source, deps.env, 'source', async (client) => {
      const { major } = await serverVersion(client);
      if (major < 14) return [];
      try {
        await beginSourceRead(client, input.snapshot);
        for (const setting of SOURCE_SETTINGS) await client.query(setting);
        const found: { table: TableColumns; candidates: AsIsCandidate[] }[] = [];
        for (const table of input.tables) {
          hb.update({ detail: `checking ${qualifiedTableName(table.schema, table.table)}` });
          const candidates = await asIsCandidates(client, table);
          if (candidates.length > 0) found.push({ table, candidates });
        }
        return found;
      } catch (err) {
        throw copyFailure(err, 'source', 'checking TOASTed columns');
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
      }
    });
    if (checked.length === 0) return { tables: [] };
    return await withClient(target, deps.env, 'target', (client) =>
      withTransaction(client, async () => {
        const tables: TableColumns[] = [];
        for (const { table, candidates } of checked) {
          const columns = await setExternal(client, table, candidates);
          if (columns.length > 0) tables.push({ schema: table.schema, table: table.table, columns });
        }
        return { tables };
      }).catch((err: unknown) => {
        throw copyFailure(err, 'target', 'setting column storage');
      }),
    );
  } finally {
    hb.stop();
  }
}

/** Sets the columns setAsIsStorage made EXTERNAL back to EXTENDED, as the schema has them. Idempotent. */
export async function restoreStorage(
  deps: ActivityDeps,
  input: { target: string; tables: readonly TableColumns[] },
): Promise<void> {
  const target = parseConnectionUrl(input.target, 'target');
  if (input.tables.length === 0) return;
  await withClient(target, deps.env, 'target', (client) =>
    withTransaction(client, async () => {
      for (const t of input.tables) await client.query(setStorageSql(t, t.columns, 'EXTENDED'));
    }).catch((err: unknown) => {
      throw copyFailure(err, 'target', 'restoring column storage');
    }),
  );
}

/**
 * Runs `fn` while cancellation closes `client`'s socket: whatever it waits on (the chunk's lock, a
 * COPY) ends at once, and the server rolls the transaction back as the connection goes.
 */
async function whileNotCancelled<T>(signal: AbortSignal, client: Client, fn: () => Promise<T>): Promise<T> {
  const close = () => client.connection.stream.destroy();
  if (signal.aborted) close();
  signal.addEventListener('abort', close, { once: true });
  try {
    return await fn();
  } finally {
    signal.removeEventListener('abort', close);
  }
}

/** Runs one step against one side, naming what it throws by that side. */
async function onSide<T>(side: 'source' | 'target', chunk: Chunk, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw copyFailure(err, side, `copying ${chunk.id}`);
  }
}

interface PgLikeError {
  code?: unknown;
  message?: unknown;
}

// The connection went away under a query: the server ended it, or the network did.
const LOST_ERRNOS: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', ...UNREACHABLE_ERRNOS]);
const LOST_SQLSTATES: ReadonlySet<string> = new Set([
  SqlState.AdminShutdown,
  SqlState.CrashShutdown,
  SqlState.CannotConnectNow,
]);

/**
 * Names an error by its SQLSTATE or errno: a lost connection is ConnectionLost (a retry copies
 * the chunk again from scratch), a missing privilege PermissionDenied; anything else Internal,
 * which Temporal retries.
 */
function copyFailure(err: unknown, field: 'source' | 'target', doing: string): PgferryError {
  if (err instanceof PgferryError) return err;
  const e = (err ?? {}) as PgLikeError;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (code === SqlState.InsufficientPrivilege) {
    return new PgferryError(ErrorCode.PermissionDenied, `${field}: ${doing}: ${message}`, {
      field,
      fix:
        field === 'target'
          ? 'copy as a superuser, or (PostgreSQL 15+) GRANT SET ON PARAMETER session_replication_role and the table rights to the user'
          : 'copy as a superuser or a role that can read every table (pg_read_all_data) and bypasses row-level security',
      cause: err,
    });
  }
  // A plain Error without a code is the driver's own "connection terminated" family, raised when
  // the socket went; TypeErrors and the like are bugs, and stay Internal.
  const driverLost = code === undefined && err instanceof Error && err.constructor === Error;
  if (
    driverLost ||
    (code !== undefined && (code.startsWith('08') || LOST_SQLSTATES.has(code) || LOST_ERRNOS.has(code)))
  ) {
    return new PgferryError(ErrorCode.ConnectionLost, `${field}: ${doing}: ${message}`, {
      field,
      cause: err,
    });
  }
  const state = code === undefined ? '' : ` (SQLSTATE ${code})`;
  return new PgferryError(ErrorCode.Internal, `${field}: ${doing}${state}: ${message}`, {
    field,
    cause: err,
  });
}

/** Input of copyChunks: several chunks that one activity copies one after another. */
export interface CopyChunksInput {
  readonly source: string;
  readonly target: string;
  readonly migration: string;
  readonly chunks: readonly Chunk[];
  readonly snapshot?: string;
}

/**
 * Copies a batch of chunks in turn, each exactly once through copyChunk (its own target
 * transaction and ledger row), so a retried batch skips what was already committed.
 */
export async function copyChunks(
  deps: ActivityDeps,
  input: CopyChunksInput,
): Promise<{ rows: number; bytes: number; copied: number; skipped: number }> {
  const total = { rows: 0, bytes: 0, copied: 0, skipped: 0 };
  for (const chunk of input.chunks) {
    const result = await copyChunk(deps, {
      source: input.source,
      target: input.target,
      migration: input.migration,
      chunk,
      ...(input.snapshot === undefined ? {} : { snapshot: input.snapshot }),
    });
    total.rows += result.rows;
    total.bytes += result.bytes;
    if (result.skipped) total.skipped += 1;
    else total.copied += 1;
  }
  return total;
}
