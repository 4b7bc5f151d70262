import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import type { ValidateLiveInput } from '../domain/activity-inputs';
import { MISSING_TABLE_ROWS, type TableValidation, type ValidationReport } from '../domain/migration';
import type { TableRef } from '../domain/tables';
import { pause, pollUntil } from './cancel';
import type { ActivityDeps } from './deps';
import { withHeartbeat, type Heartbeat } from './heartbeat';
import { listTables } from './pg/catalog';
import { withClient, withTransaction } from './pg/connect';
import { CUTOVER_BEGIN, CUTOVER_SYNC, SLOT_REACHED } from './pg/replication-sql';
import { READ_ONLY_SNAPSHOT_BEGIN } from './pg/session-sql';
import { SqlState } from './pg/sqlstate';
import {
  EMIT_VALIDATION_MESSAGE,
  LOCK_TIMEOUT,
  RANGE_KEY,
  rangeBoundsSql,
  shareLockSql,
} from './pg/validate-live-sql';
import {
  countRowsSql,
  rangePredicate,
  TABLE_COLUMNS,
  tableChecksumSql,
  VALIDATION_SETTINGS,
} from './pg/validate-sql';

/** Rows per key range: each range holds its table's writers for about two scans of this many rows. */
const RANGE_ROWS = 50_000;
/** How long a range waits for the target to apply the source's writes before it is tried later. */
const REPLAY_WAIT_MS = 10_000;
/** How long a range waits in all for its table's lock (each try waits LOCK_TIMEOUT, then pauses). */
const LOCK_WAIT_MS = 10 * 60_000;
/** Passes over the ranges that differ or could not be read at one point: a difference seen twice is real. */
const PASSES = 3;

/** The count and the two checksum sums of some rows (tableChecksumSql): sums of ranges add up. */
interface Sums {
  readonly n: bigint;
  readonly hi: bigint;
  readonly lo: bigint;
}

/** One key range of a table: all of it without a key or when it is small. */
interface Range {
  readonly table: TableRef;
  readonly columns: readonly string[];
  readonly key?: string;
  readonly lo?: string;
  readonly hi?: string;
}

/** Both sides of a range at one point of the source's history; `lagging` when the target did not get there. */
type RangeResult = { readonly source: Sums; readonly target: Sums } | 'lagging';

/** The three connections of a validation: the lock holder and marker on the source, the reader on the target. */
interface Sessions {
  readonly locker: Client;
  readonly marker: Client;
  readonly target: Client;
  readonly checksums: boolean;
  readonly slot: string;
  readonly hb: Heartbeat;
}

/**
 * Validates an online migration while it replicates, range by range at one point of the source's
 * history each: the source's table is held still (SHARE lock: its writers wait, nothing else
 * does) while its range is read, a WAL mark is written, the target applies up to the mark, and
 * the target's range is read; then the lock goes. Both reads then see the same committed writes,
 * so a difference is real: a row changed on the target behind replication's back, or a change
 * replication could not apply. Ranges that differ are read again; a table is reported different
 * only when it differs every time. Sequences and large objects are not replicated: the cutover
 * checks them.
 */
export async function validateLive(deps: ActivityDeps, input: ValidateLiveInput): Promise<ValidationReport> {
  return withHeartbeat('validating while replicating', (hb) =>
    withClient(input.source, deps.env, 'source', (locker) =>
      withClient(input.source, deps.env, 'source', (marker) =>
        withClient(input.target, deps.env, 'target', async (target) => {
          const sessions = {
            locker,
            marker,
            target,
            checksums: input.level === 'checksums',
            slot: input.slot,
            hb,
          };
          const tables = input.tables ?? (await listTables(locker));
          hb.update({ tables: tables.length, tablesDone: 0 });
          const results: TableValidation[] = [];
          for (const table of tables) {
            hb.signal.throwIfAborted();
            hb.update({ detail: `${table.schema}.${table.table}` });
            results.push(await validateTable(sessions, table, input.rangeRows ?? RANGE_ROWS));
            hb.update({ tablesDone: results.length });
          }
          const ok = results.every((r) => r.ok);
          deps.logger.info(
            {
              level: input.level,
              ok,
              tables: results.length,
              tablesDiffering: results.filter((r) => !r.ok).length,
            },
            'validation while replicating done',
          );
          return {
            level: input.level,
            ok,
            tables: results,
            sequences: [],
            largeObjects: { source: 0, target: 0, ok: true },
            note: 'tables only, each at one point while replicating; sequences and large objects are checked at the cutover',
          };
        }),
      ),
    ),
  );
}

/** Validates one table over its key ranges; a range that differs or lags is tried again. */
async function validateTable(s: Sessions, table: TableRef, rangeRows: number): Promise<TableValidation> {
  const [sourceColumns, targetColumns] = [await columnsOf(s.locker, table), await columnsOf(s.target, table)];
  const base = { schema: table.schema, table: table.table };
  if (sourceColumns === undefined || targetColumns === undefined) {
    return {
      ...base,
      sourceRows: sourceColumns === undefined ? MISSING_TABLE_ROWS : -1,
      targetRows: targetColumns === undefined ? MISSING_TABLE_ROWS : -1,
      ok: false,
      note: `the table is missing on the ${sourceColumns === undefined ? 'source' : 'target'}`,
    };
  }
  if (s.checksums && sourceColumns.join('\u0000') !== targetColumns.join('\u0000')) {
    return { ...base, sourceRows: -1, targetRows: -1, ok: false, note: 'the columns differ' };
  }
  const ranges = await planRanges(s.locker, table, sourceColumns, rangeRows);
  const done = new Map<Range, { source: Sums; target: Sums }>();
  let pending = ranges;
  for (let pass = 1; pass <= PASSES && pending.length > 0; pass++) {
    const again: Range[] = [];
    for (const range of pending) {
      s.hb.signal.throwIfAborted();
      const result = await readRange(s, range);
      if (result !== 'lagging') done.set(range, result);
      if (result === 'lagging' || !same(result.source, result.target)) again.push(range);
    }
    pending = again;
  }
  return tableResult(base, ranges, done, pending, s.checksums);
}

/** The table's result from its ranges' sums: ok when every range was read and matched. */
function tableResult(
  base: TableRef,
  ranges: readonly Range[],
  done: ReadonlyMap<Range, { source: Sums; target: Sums }>,
  failing: readonly Range[],
  checksums: boolean,
): TableValidation {
  const total = (side: 'source' | 'target') =>
    [...done.values()].reduce(
      (acc, r) => ({ n: acc.n + r[side].n, hi: acc.hi + r[side].hi, lo: acc.lo + r[side].lo }),
      { n: 0n, hi: 0n, lo: 0n },
    );
  const [source, target] = [total('source'), total('target')];
  const out: TableValidation = {
    ...base,
    sourceRows: Number(source.n),
    targetRows: Number(target.n),
    ok: failing.length === 0 && done.size === ranges.length,
  };
  if (checksums) {
    out.sourceChecksum = checksumOf(source);
    out.targetChecksum = checksumOf(target);
  }
  const lagging = failing.filter((r) => !done.has(r));
  const differing = failing.filter((r) => done.has(r));
  if (differing.length > 0) out.note = `rows differ ${differing.slice(0, 3).map(describeRange).join(', ')}`;
  else if (lagging.length > 0)
    out.note = `not validated: the target did not apply the source's writes within ${REPLAY_WAIT_MS / 1000} s`;
  return out;
}

/** The same one-string checksum as the validation of a frozen source (validate.ts): md5 of n:hi:lo. */
function checksumOf(s: Sums): string {
  return createHash('md5').update(`${s.n}:${s.hi}:${s.lo}`).digest('hex');
}

function same(a: Sums, b: Sums): boolean {
  return a.n === b.n && a.hi === b.hi && a.lo === b.lo;
}

function describeRange(r: Range): string {
  if (r.key === undefined) return 'in the table';
  return `where ${r.key} in [${r.lo ?? '-∞'}, ${r.hi ?? '+∞'})`;
}

/** A table's live columns, sorted (the order rows are hashed in); undefined when it does not exist. */
async function columnsOf(client: Client, table: TableRef): Promise<string[] | undefined> {
  const { rows } = await client.query<{ columns: string[] }>(TABLE_COLUMNS, [table.schema, table.table]);
  return rows[0] ? [...rows[0].columns].sort() : undefined;
}

/** Splits a table with a primary key and more than `rangeRows` rows into ranges of its key's first column. */
async function planRanges(
  client: Client,
  table: TableRef,
  columns: readonly string[],
  rangeRows: number,
): Promise<Range[]> {
  const { rows } = await client.query<{ key: string | null; estimate: string }>(RANGE_KEY, [
    table.schema,
    table.table,
  ]);
  const key = rows[0]?.key ?? undefined;
  if (key === undefined || Number(rows[0]?.estimate ?? 0) <= rangeRows) return [{ table, columns }];
  // The bounds are read and later parsed under the same pinned settings (dates, time zone).
  const bounds = await withTransaction(
    client,
    async () => {
      for (const setting of VALIDATION_SETTINGS) await client.query(setting);
      const found = await client.query<{ bound: string }>(rangeBoundsSql(table, key), [rangeRows]);
      return [...new Set(found.rows.map((r) => r.bound))];
    },
    READ_ONLY_SNAPSHOT_BEGIN,
  );
  return [undefined, ...bounds].map((lo, i) => ({
    table,
    columns,
    key,
    ...(lo === undefined ? {} : { lo }),
    ...(bounds[i] === undefined ? {} : { hi: bounds[i] }),
  }));
}

/**
 * Reads one range on both sides at one point: the source's table locked (SHARE) and read, a WAL
 * mark written by the other source session, the target's apply waited for up to the mark, the
 * target read, and only then the lock released. 'lagging' when the target does not reach the mark
 * within REPLAY_WAIT_MS (the lock is released at once).
 */
async function readRange(s: Sessions, range: Range): Promise<RangeResult> {
  const { locker } = s;
  await lockTable(s, range.table);
  try {
    const source = await sums(locker, range, s.checksums);
    const lsn = await withTransaction(
      s.marker,
      async () => {
        await s.marker.query(CUTOVER_SYNC);
        return (await s.marker.query<{ lsn: string }>(EMIT_VALIDATION_MESSAGE)).rows[0]?.lsn ?? '0/0';
      },
      CUTOVER_BEGIN,
    );
    if (!(await replayed(s, lsn))) return 'lagging';
    const target = await withTransaction(
      s.target,
      async () => {
        for (const setting of VALIDATION_SETTINGS) await s.target.query(setting);
        return sums(s.target, range, s.checksums);
      },
      READ_ONLY_SNAPSHOT_BEGIN,
    );
    return { source, target };
  } finally {
    // Read only: the end of the transaction is the release of the lock.
    await locker.query('ROLLBACK');
  }
}

/**
 * Opens the locker's transaction with the table held: a lock that is not granted within
 * LOCK_TIMEOUT is given up (never a queue of the application's writers behind it) and tried
 * again after a pause, for up to LOCK_WAIT_MS.
 */
async function lockTable(s: Sessions, table: TableRef): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    await s.locker.query('BEGIN');
    try {
      for (const setting of [...VALIDATION_SETTINGS, LOCK_TIMEOUT]) await s.locker.query(setting);
      await s.locker.query(shareLockSql(table));
      return;
    } catch (err) {
      await s.locker.query('ROLLBACK');
      if ((err as { code?: unknown }).code !== SqlState.LockNotAvailable || Date.now() > deadline) throw err;
      s.hb.update({ detail: `${table.schema}.${table.table}: waiting for its writers` });
      await pause(1000, s.hb.signal);
      s.hb.signal.throwIfAborted();
    }
  }
}

/** True once the slot's consumer (the target) has confirmed `lsn`; false after REPLAY_WAIT_MS. */
async function replayed(s: Sessions, lsn: string): Promise<boolean> {
  const deadline = Date.now() + REPLAY_WAIT_MS;
  return pollUntil({ intervalMs: 20, signal: s.hb.signal, what: 'waiting for the target' }, async () => {
    const { rows } = await s.marker.query<{ reached: boolean | null }>(SLOT_REACHED, [s.slot, lsn]);
    if (rows[0]?.reached) return true;
    return Date.now() > deadline ? false : undefined;
  });
}

/** The count (and with checksums the sums) of a range's rows on one side. */
async function sums(client: Client, range: Range, checksums: boolean): Promise<Sums> {
  const { where, params } =
    range.key === undefined
      ? { where: undefined, params: [] }
      : rangePredicate(range.key, range.lo, range.hi);
  if (!checksums) {
    const { rows } = await client.query<{ n: string }>(countRowsSql(range.table, where), params);
    return { n: BigInt(rows[0]?.n ?? 0), hi: 0n, lo: 0n };
  }
  const { rows } = await client.query<{ n: string; hi: string; lo: string }>(
    tableChecksumSql(range.table, range.columns, where),
    params,
  );
  const r = rows[0];
  return { n: BigInt(r?.n ?? 0), hi: BigInt(r?.hi ?? 0), lo: BigInt(r?.lo ?? 0) };
}
