import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import { qualifiedTableName } from '../domain/chunks';
import type {
  CountTargetRowsInput,
  OnSource,
  TableRows,
  ValidateTablesInput,
} from '../domain/activity-inputs';
import { MISSING_TABLE_ROWS, type TableValidation, type ValidationReport } from '../domain/migration';
import type { TableRef } from '../domain/tables';
import { untilConfirmed } from './cutover';
import type { ActivityDeps } from './deps';
import { startHeartbeat } from './heartbeat';
import { compareSequences, countLargeObjects, listTables, readSequences } from './pg/catalog';
import { withClient, withTransaction } from './pg/connect';
import { LARGE_OBJECT_HEADS, READ_LARGE_OBJECT } from './pg/large-objects-sql';
import { READ_ONLY_SNAPSHOT_BEGIN } from './pg/session-sql';
import {
  ALLOW_SEQ_SCAN,
  countRowsBatchSql,
  countRowsSql,
  INDEX_COUNT_ALL_VISIBLE,
  PREFER_INDEX_SCAN,
  TABLE_COLUMNS,
  TABLES_ALL_VISIBLE,
  tableChecksumSql,
  VALIDATION_SETTINGS,
  COUNT_BATCH,
} from './pg/validate-sql';

/** Bytes of each large object read in the batched first pass; a larger one is read on in LO_CHUNK pieces. */
const LO_HEAD = 64 * 1024;
/** Large objects per batch of the first pass: at most LO_BATCH × LO_HEAD bytes in memory. */
const LO_BATCH = 64;
/** Bytes per round trip for the rest of a large object: it is never held in memory whole. */
const LO_CHUNK = 1024 * 1024;

/** What one side says about one table. */
interface TableSide {
  readonly rows: number;
  readonly checksum?: string;
  /** Live column names, sorted: the fixed order rows are hashed in. */
  readonly columns: readonly string[];
}

/**
 * Counts a table's own rows and, with `checksums`, hashes them over its live columns sorted by name
 * (tableChecksumSql: order independent, streamed by the server). Undefined when the table does
 * not exist on this side. The count and the checksum's two sums are hashed into one short string.
 */
async function readTable(client: Client, t: TableRef, checksums: boolean): Promise<TableSide | undefined> {
  const { rows: found } = await client.query<{ columns: string[]; all_visible: number }>(TABLE_COLUMNS, [
    t.schema,
    t.table,
  ]);
  const columns = found[0]?.columns;
  if (columns === undefined) return undefined;
  const sorted = [...columns].sort();
  if (!checksums) {
    const byIndex = (found[0]?.all_visible ?? 0) >= INDEX_COUNT_ALL_VISIBLE;
    if (byIndex) await client.query(PREFER_INDEX_SCAN);
    const { rows } = await client.query<{ n: string }>(countRowsSql(t));
    if (byIndex) await client.query(ALLOW_SEQ_SCAN);
    return { rows: Number(rows[0]?.n ?? 0), columns: sorted };
  }
  const { rows } = await client.query<{ n: string; hi: string; lo: string }>(tableChecksumSql(t, sorted));
  const r = rows[0];
  const n = r?.n ?? '0';
  const checksum = createHash('md5')
    .update(`${n}:${r?.hi ?? '0'}:${r?.lo ?? '0'}`)
    .digest('hex');
  return { rows: Number(n), checksum, columns: sorted };
}

/**
 * The number of large objects and, with `checksums`, one md5 over each object's oid and content
 * md5 in oid order (pg_dump keeps oids, and tables refer to large objects by oid, so an object
 * under another oid is a difference). Contents are streamed in pieces through lo_get(oid, offset,
 * length): no large object, nor the list of them, is held in memory whole.
 */
async function readLargeObjects(
  client: Client,
  checksums: boolean,
): Promise<{ count: number; checksum?: string }> {
  if (!checksums) return { count: await countLargeObjects(client) };
  const all = createHash('md5');
  let count = 0;
  let after = '0';
  for (;;) {
    const { rows } = await client.query<{ oid: string; head: Buffer }>(LARGE_OBJECT_HEADS, [
      after,
      LO_HEAD,
      LO_BATCH,
    ]);
    for (const { oid, head } of rows) {
      const one = createHash('md5').update(head);
      if (head.length === LO_HEAD) {
        for (let offset = LO_HEAD; ; offset += LO_CHUNK) {
          const { rows: piece } = await client.query<{ data: Buffer }>(READ_LARGE_OBJECT, [
            oid,
            offset,
            LO_CHUNK,
          ]);
          const data = piece[0]?.data;
          if (data === undefined || data.length === 0) break;
          one.update(data);
          if (data.length < LO_CHUNK) break;
        }
      }
      all.update(`${oid}:${one.digest('hex')}\n`);
      count += 1;
      after = oid;
    }
    if (rows.length < LO_BATCH) break;
  }
  return { count, checksum: all.digest('hex') };
}

/**
 * Counts every table's own rows on the source in one snapshot: on a frozen source, what the
 * cutover's validation compares the target with (validateTables' sourceRows). Reads only.
 */
export function countSourceRows(deps: ActivityDeps, input: OnSource): Promise<{ tables: TableRows[] }> {
  return countTables(deps, input.source, 'source');
}

/**
 * Counts every table's own rows on the target in one snapshot: the online cutover's side of the
 * comparison with countSourceRows, once the target has replayed the frozen source (with `after`:
 * once the source's slot has confirmed its final LSN, waited for here). Reads only.
 */
export async function countTargetRows(
  deps: ActivityDeps,
  input: CountTargetRowsInput,
): Promise<{ tables: TableRows[] }> {
  if (input.after !== undefined) {
    const hb = startHeartbeat();
    try {
      hb.update({ detail: `waiting for the target to confirm ${input.after.lsn}` });
      await untilConfirmed(deps, input.after, hb.signal);
    } finally {
      hb.stop();
    }
  }
  return countTables(deps, input.target, 'target');
}

/**
 * Every table's own rows on one side, in one snapshot (pgferry's own schema is not the user's):
 * COUNT_BATCH tables per statement, those mostly all-visible by their indexes (readTable's rule).
 */
async function countTables(
  deps: ActivityDeps,
  spec: OnSource['source'],
  side: 'source' | 'target',
): Promise<{ tables: TableRows[] }> {
  const hb = startHeartbeat();
  try {
    return await withClient(spec, deps.env, side, (client) =>
      inSnapshot(client, async () => {
        const tables = await listTables(client);
        const { rows: pages } = await client.query<TableRef & { all_visible: number }>(TABLES_ALL_VISIBLE);
        const visible = new Map(pages.map((r) => [qualifiedTableName(r.schema, r.table), r.all_visible]));
        const byIndex = (t: TableRef) =>
          (visible.get(qualifiedTableName(t.schema, t.table)) ?? 0) >= INDEX_COUNT_ALL_VISIBLE;
        const counts = new Map<TableRef, number>();
        for (const [index, group] of [
          [true, tables.filter(byIndex)],
          [false, tables.filter((t) => !byIndex(t))],
        ] as const) {
          if (group.length === 0) continue;
          await client.query(index ? PREFER_INDEX_SCAN : ALLOW_SEQ_SCAN);
          for (let start = 0; start < group.length; start += COUNT_BATCH) {
            hb.signal.throwIfAborted();
            const batch = group.slice(start, start + COUNT_BATCH);
            hb.update({
              detail: `${qualifiedTableName(batch[0]?.schema ?? '', batch[0]?.table ?? '')} (${start + 1}–${start + batch.length} of ${group.length})`,
            });
            const { rows } = await client.query<{ i: number; n: string }>(countRowsBatchSql(batch));
            for (const row of rows) {
              const t = batch[row.i];
              if (t !== undefined) counts.set(t, Number(row.n));
            }
          }
        }
        return {
          tables: tables.flatMap((t) => {
            const rows = counts.get(t);
            return rows === undefined ? [] : [{ schema: t.schema, table: t.table, rows }];
          }),
        };
      }),
    );
  } finally {
    hb.stop();
  }
}

/** Compares tables one after another, both sides of each at once (each reads on its own connection). */
async function compareTables(
  src: Client,
  dst: Client,
  tables: readonly TableRef[],
  checksums: boolean,
  hb: ReturnType<typeof startHeartbeat>,
  sourceRows?: ReadonlyMap<string, number>,
): Promise<TableValidation[]> {
  hb.update({ tables: tables.length, tablesDone: 0 });
  const results: TableValidation[] = [];
  for (const t of tables) {
    hb.signal.throwIfAborted();
    hb.update({ detail: `${t.schema}.${t.table}` });
    // A count read already (on the frozen source) stands for the source's side; counts need no columns.
    const known = checksums ? undefined : sourceRows?.get(qualifiedTableName(t.schema, t.table));
    const [a, b] = await Promise.all([
      known === undefined ? readTable(src, t, checksums) : { rows: known, columns: [] },
      readTable(dst, t, checksums),
    ]);
    results.push(compareTable(t, a, b, checksums));
    hb.update({ tablesDone: results.length });
  }
  return results;
}

/**
 * Validates some tables on open connections to both sides, each side in one snapshot: their counts
 * and, with `checksums`, their checksums. The copy's lanes use it as soon as a table is in
 * (offline), while other tables still copy; the final validateTables then skips those tables and
 * adds the sequences and large objects. Reads only.
 */
export function validateOnClients(
  src: Client,
  dst: Client,
  tables: readonly TableRef[],
  level: 'counts' | 'checksums',
  hb: ReturnType<typeof startHeartbeat>,
): Promise<TableValidation[]> {
  return inSnapshot(src, () =>
    inSnapshot(dst, () => compareTables(src, dst, tables, level === 'checksums', hb)),
  );
}

/**
 * Runs `fn` in one read-only repeatable-read snapshot with the pinned settings: one per side, so
 * every table, the large objects and the row counts are read as of one moment, and a comparison
 * after the source was frozen is exact. Read only: validation writes nothing.
 */
function inSnapshot<T>(client: Client, fn: () => Promise<T>): Promise<T> {
  return withTransaction(
    client,
    async () => {
      for (const setting of VALIDATION_SETTINGS) await client.query(setting);
      return fn();
    },
    READ_ONLY_SNAPSHOT_BEGIN,
  );
}

/** Compares one table; a table missing on either side is a mismatch with MISSING_TABLE_ROWS rows there. */
function compareTable(
  t: TableRef,
  source: TableSide | undefined,
  target: TableSide | undefined,
  checksums: boolean,
): TableValidation {
  const out: TableValidation = {
    schema: t.schema,
    table: t.table,
    sourceRows: source?.rows ?? MISSING_TABLE_ROWS,
    targetRows: target?.rows ?? MISSING_TABLE_ROWS,
    ok: false,
  };
  if (checksums) {
    if (source?.checksum !== undefined) out.sourceChecksum = source.checksum;
    if (target?.checksum !== undefined) out.targetChecksum = target.checksum;
  }
  const sameColumns =
    source !== undefined &&
    target !== undefined &&
    source.columns.length === target.columns.length &&
    source.columns.every((c, i) => c === target.columns[i]);
  out.ok =
    source !== undefined &&
    target !== undefined &&
    source.rows === target.rows &&
    // Counts say nothing of columns; checksums compare rows, which a missing column changes.
    (!checksums || (sameColumns && source.checksum === target.checksum));
  return out;
}

/**
 * Proves the target equal to the source: per table, the row counts on both sides and, with
 * `checksums`, an order-independent checksum of the rows; then every sequence's position and the
 * large objects. `ok` only when everything matches. Reads each side in one snapshot, writes nothing.
 */
export async function validateTables(
  deps: ActivityDeps,
  input: ValidateTablesInput,
): Promise<ValidationReport> {
  const { source: sourceSpec, target: targetSpec } = input;
  const checksums = input.level === 'checksums';
  const hb = startHeartbeat();
  try {
    return await withClient(sourceSpec, deps.env, 'source', (src) =>
      withClient(targetSpec, deps.env, 'target', (dst) =>
        inSnapshot(src, () =>
          inSnapshot(dst, async () => {
            const skip = new Set(input.skip ?? []);
            const tables = (input.tables ?? (await listTables(src))).filter(
              (t) => !skip.has(qualifiedTableName(t.schema, t.table)),
            );
            const known = new Map(
              (input.sourceRows ?? []).map((r) => [qualifiedTableName(r.schema, r.table), r.rows]),
            );
            const results = await compareTables(src, dst, tables, checksums, hb, known);

            hb.update({ detail: 'sequences' });
            const sequences = compareSequences(
              ...(await Promise.all([readSequences(src), readSequences(dst)])),
            );

            hb.update({ detail: 'large objects' });
            const [loA, loB] = await Promise.all([
              readLargeObjects(src, checksums),
              readLargeObjects(dst, checksums),
            ]);
            const largeObjects = {
              source: loA.count,
              target: loB.count,
              ok: loA.count === loB.count && loA.checksum === loB.checksum,
            };

            const ok = results.every((r) => r.ok) && sequences.every((s) => s.ok) && largeObjects.ok;
            const report: ValidationReport = {
              level: input.level,
              ok,
              tables: results,
              sequences,
              largeObjects,
            };
            deps.logger.info(
              {
                level: input.level,
                ok,
                tables: results.length,
                tablesDiffering: results.filter((r) => !r.ok).length,
                sequencesDiffering: sequences.filter((s) => !s.ok).length,
                largeObjectsOk: largeObjects.ok,
              },
              'validation done',
            );
            return report;
          }),
        ),
      ),
    );
  } finally {
    hb.stop();
  }
}
