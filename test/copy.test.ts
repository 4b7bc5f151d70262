import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../activities';
import type { CopyChunkResult } from '../activities/copy';
import { planChunks, qualifiedTableName, type Chunk, type TableInfo } from '../domain/chunks';
import type { ProgressFigures } from '../domain/contracts';
import { ErrorCode, PgferryError } from '../domain/errors';
import {
  activityEnv,
  rejectionOf,
  runActivity as run,
  testActivityDeps,
  waitFor,
} from './helpers/activity-env';
import { databaseFingerprint, type TableDataFingerprint } from './helpers/fingerprint';
import {
  adminUrl,
  cloneDatabase,
  createEmptyDatabase,
  createTemplateDatabase,
  dropDatabase,
  INCOMPRESSIBLE_DOCS,
  query,
  runCommand,
  uniqueName,
  withClient,
} from './helpers/pg';

const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');
/** Small enough that several fixture tables split into ctid ranges. */
const SPLIT = 64 * 1024;
const BIG_ROWS = 300_000;
const BIG_TABLE = 'CREATE TABLE public.big (id integer PRIMARY KEY, payload text NOT NULL)';

const DOCS_STORAGE =
  "SELECT attname, attstorage FROM pg_attribute WHERE attrelid = 'public.docs'::regclass AND attnum > 0 ORDER BY attnum";

/** How many values of blob and prose are stored compressed. */
function compression(url: string, table: string) {
  return query<{ blob: string; prose: string }>(
    url,
    `SELECT count(pg_column_compression(blob))::text AS blob, count(pg_column_compression(prose))::text AS prose
       FROM public.${table}`,
  );
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

/** The pid of the copy's target backend once it waits on a lock inside its COPY. */
function copyBackendWaitingOnLock(target: string): Promise<number> {
  return waitFor(
    'the target COPY to block',
    async () => {
      const [row] = await query<{ pid: number }>(
        adminUrl(),
        `SELECT pid FROM pg_stat_activity
        WHERE datname = $1 AND application_name = 'pgferry' AND wait_event_type = 'Lock'`,
        [databaseName(target)],
      );
      return row?.pid;
    },
    15_000,
    25,
  );
}

/** Per-table data fingerprints of the tables the copy moves (matviews are refreshed, not copied). */
async function tableData(url: string): Promise<Record<string, TableDataFingerprint>> {
  const fingerprint = await databaseFingerprint(url);
  const matviews = await query<{ key: string }>(
    url,
    "SELECT format('%I.%I', schemaname, matviewname) AS key FROM pg_matviews",
  );
  const data = { ...fingerprint.data };
  for (const { key } of matviews) delete data[key];
  return data;
}

async function count(url: string, table: string): Promise<number> {
  const [row] = await query<{ n: string }>(url, `SELECT count(*) AS n FROM ONLY ${table}`);
  return Number(row?.n);
}

describe('planChunks', () => {
  const table = (name: string, bytes: number, pages: number): TableInfo => ({
    schema: 'public',
    table: name,
    columns: ['id', 'body'],
    bytes,
    pages,
    rowsEstimate: pages * 50,
  });

  it('keeps a small table whole and splits a large one into page ranges, the last one open-ended', () => {
    const chunks = planChunks([table('small', 8192, 1), table('large', 10 * 8192, 10)], {
      splitLargerThan: 3 * 8192,
    });
    const small = chunks.filter((c) => c.table === 'small');
    expect(small).toEqual([
      { id: 'public.small', schema: 'public', table: 'small', columns: ['id', 'body'], estimatedBytes: 8192 },
    ]);
    const ranges = chunks.filter((c) => c.table === 'large').map((c) => c.range);
    expect(ranges).toEqual([
      { fromPage: 0, toPage: 3 },
      { fromPage: 3, toPage: 6 },
      { fromPage: 6, toPage: 9 },
      { fromPage: 9 },
    ]);
    const ids = chunks.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain('public.large#4[9,)');
  });

  it('orders chunks largest first and plans the same tables the same way every time', () => {
    const tables = [
      table('b', 500, 1),
      table('a', 500, 1),
      table('huge', 100_000, 40),
      table('mid', 2000, 1),
    ];
    const first = planChunks(tables, { splitLargerThan: 30_000 });
    expect(first.map((c) => c.estimatedBytes)).toEqual(
      [...first.map((c) => c.estimatedBytes)].sort((x, y) => y - x),
    );
    expect(first.slice(-2).map((c) => c.table)).toEqual(['a', 'b']);
    expect(planChunks([...tables].reverse(), { splitLargerThan: 30_000 })).toEqual(first);
  });

  it('quotes names in chunk ids so that no two tables share an id', () => {
    const chunks = planChunks(
      [
        { ...table('b.c', 10, 1), schema: 'a' },
        { ...table('c', 10, 1), schema: 'a.b' },
        { ...table('Order Items', 10, 1), schema: 'données' },
      ],
      { splitLargerThan: 1024 },
    );
    expect(chunks.map((c) => c.id).sort()).toEqual(['"a.b".c', '"données"."Order Items"', 'a."b.c"']);
  });

  it('leaves a one-page table whole however large its TOAST', () => {
    const [only, ...rest] = planChunks([table('docs', 10 * 1024 * 1024, 1)], { splitLargerThan: 1024 });
    expect(rest).toEqual([]);
    expect(only?.range).toBeUndefined();
  });

  it('refuses a split size that is not a positive number', () => {
    expect(() => planChunks([], { splitLargerThan: 0 })).toThrow(PgferryError);
  });
});

describe('the copy engine against a real PostgreSQL', () => {
  const template = uniqueName('pgferry_copy_tpl');
  const databases: string[] = [];
  let root: string;
  let acts: Activities;
  let bigSource: string;

  /** A fresh empty database, dropped in afterAll. */
  function emptyDatabase(label: string): Promise<string> {
    const name = uniqueName(`pgferry_copy_${label}`);
    databases.push(name);
    return createEmptyDatabase(name);
  }

  /** A clone of the fixture, dropped in afterAll. */
  function cloneFixture(label: string): Promise<string> {
    const name = uniqueName(`pgferry_copy_${label}`);
    databases.push(name);
    return cloneDatabase(template, name);
  }

  /** A new target holding the source's schema: pre-data only, or all of it (with triggers, keys, FKs). */
  async function targetWithSchema(source: string, label: string, part: 'pre-data' | 'full'): Promise<string> {
    const target = await emptyDatabase(label);
    const file = path.join(root, `${label}.sql`);
    await runCommand('pg_dump', [
      part === 'full' ? '--schema-only' : '--section=pre-data',
      '-f',
      file,
      source,
    ]);
    await runCommand('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', target, '-f', file]);
    return target;
  }

  function copy(input: Parameters<Activities['copyChunk']>[0]): Promise<CopyChunkResult> {
    return run(acts.copyChunk, input);
  }

  /** Copies every chunk, four at a time, as the copy stage's window would. */
  async function copyAll(source: string, target: string, migration: string, chunks: readonly Chunk[]) {
    const results: CopyChunkResult[] = [];
    const queue = [...chunks];
    const worker = async () => {
      for (let chunk = queue.shift(); chunk; chunk = queue.shift()) {
        results.push(await copy({ source, target, migration, chunk }));
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return results;
  }

  /** The whole-table chunk of one table of the source. */
  async function wholeTableChunk(source: string, table: string): Promise<Chunk> {
    const tables = await run(acts.listCopyTables, { source });
    const chunk = planChunks(
      tables.filter((t) => t.table === table),
      { splitLargerThan: Number.MAX_SAFE_INTEGER },
    )[0];
    if (!chunk) throw new Error(`no table ${table}`);
    return chunk;
  }

  async function bigTarget(label: string): Promise<string> {
    const target = await emptyDatabase(label);
    await query(target, BIG_TABLE);
    await run(acts.ensureLedger, { target });
    return target;
  }

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'pgferry-copy-'));
    acts = createActivities(testActivityDeps({ clustersDir: root }));
    await createTemplateDatabase(template, FIXTURE);
    bigSource = await emptyDatabase('big_src');
    await query(bigSource, BIG_TABLE);
    await query(
      bigSource,
      `INSERT INTO public.big SELECT g, md5(g::text) || ' row ' || g FROM generate_series(1, ${BIG_ROWS}) AS g`,
    );
  }, 60_000);

  afterAll(async () => {
    for (const db of databases) await dropDatabase(db).catch(() => undefined);
    await dropDatabase(template);
    await rm(root, { recursive: true, force: true });
  }, 60_000);

  it('lists the tables that hold rows, with the columns COPY must name', async () => {
    const source = await cloneFixture('list');
    // A ledger left on a source that was once a target is pgferry's, not the user's.
    await query(source, 'CREATE SCHEMA pgferry; CREATE TABLE pgferry.chunks (chunk_id text)');
    const tables = await run(acts.listCopyTables, { source });
    const byName = new Map(tables.map((t) => [`${t.schema}.${t.table}`, t]));

    expect(byName.get('inventory.events_2024_europe')).toBeDefined();
    expect(byName.get('inventory.vehicles')).toBeDefined();
    expect(byName.get('inventory.trucks')).toBeDefined();
    for (const absent of [
      'inventory.events',
      'inventory.events_2024',
      'inventory.stock',
      'Sales.customer_totals',
    ]) {
      expect(byName.has(absent)).toBe(false);
    }
    expect(tables.some((t) => t.schema === 'pgferry')).toBe(false);
    expect(byName.get('Sales.orders')?.columns).toEqual([
      'id',
      'customer_id',
      'status',
      'quantity',
      'net',
      'placed_at',
    ]);
    expect(byName.get('public.legacy_accounts')?.columns).toEqual(['id', 'balance']);
    expect(byName.get('données.Order Items')?.columns).toEqual([
      'order_id',
      'ligne n°',
      'article',
      'prix €',
      'quantité',
    ]);
    const orders = byName.get('Sales.orders');
    expect(orders?.pages).toBeGreaterThan(1);
    expect(orders?.bytes).toBeGreaterThanOrEqual((orders?.pages ?? 0) * 8192);
  });

  it('builds copied tables’ indexes from the catalog under the keys pg_restore lists, so post-data adds the rest and the schema ends equal', async () => {
    const source = await cloneFixture('idx_src');
    const target = await targetWithSchema(source, 'idx_tgt', 'pre-data');
    await run(acts.ensureLedger, { target });
    const tables = await run(acts.listCopyTables, { source });
    await copyAll(source, target, 'idx', planChunks(tables, { splitLargerThan: SPLIT }));
    await run(acts.finalizeTarget, { target });

    const input = { source, target, tables: tables.map((t) => ({ schema: t.schema, table: t.table })) };
    const { built } = await run(acts.buildTableIndexes, input);
    // A retry drops and builds the same items again; asked to, it also analyzes each table.
    const again = await run(acts.buildTableIndexes, { ...input, analyze: true });
    expect(again.built).toEqual(built);
    expect(again.analyzed).toEqual(tables.map((t) => qualifiedTableName(t.schema, t.table)));
    const stats = await query<{ tables: number; analyzed: number }>(
      target,
      `SELECT count(*)::int AS tables, count(last_analyze)::int AS analyzed FROM pg_stat_user_tables
        WHERE (schemaname, relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [tables.map((t) => t.schema), tables.map((t) => t.table)],
    );
    expect(stats).toEqual([{ tables: tables.length, analyzed: tables.length }]);
    expect(built.length).toBeGreaterThan(5);

    const archive = path.join(root, 'idx-post.dump');
    await runCommand('pg_dump', ['--section=post-data', '-Fc', '-f', archive, source]);
    const listed = await runCommand('pg_restore', ['--list', archive]);
    const keys = new Set(
      listed.stdout
        .split('\n')
        .map((line) => /^\d+; (\d+) (\d+) /.exec(line))
        .filter((m) => m !== null)
        .map((m) => `${m[1]}:${m[2]}`),
    );
    expect(built.filter((key) => !keys.has(key))).toEqual([]);

    await run(acts.copySchemaSection, {
      source,
      target,
      section: 'post-data',
      jobs: 2,
      marker: 'unused-for-post-data',
      skip: built,
    });
    expect((await databaseFingerprint(target)).schema).toEqual((await databaseFingerprint(source)).schema);
  });

  it("copies every chunk into a pre-data schema, and the target's table data equals the source's", async () => {
    const source = await cloneFixture('pre_src');
    const target = await targetWithSchema(source, 'pre_tgt', 'pre-data');
    await run(acts.ensureLedger, { target });
    await run(acts.ensureLedger, { target });

    const chunks = planChunks(await run(acts.listCopyTables, { source }), { splitLargerThan: SPLIT });
    const perTable = new Map<string, number>();
    for (const c of chunks) perTable.set(c.id.split('#')[0]!, (perTable.get(c.id.split('#')[0]!) ?? 0) + 1);
    expect(Math.max(...perTable.values())).toBeGreaterThan(2);

    const results = await copyAll(source, target, 'pre', chunks);
    expect(results.every((r) => !r.skipped)).toBe(true);
    expect((await run(acts.chunksDone, { target, migration: 'pre' })).sort()).toEqual(
      chunks.map((c) => c.id).sort(),
    );
    expect(await run(acts.chunksDone, { target, migration: 'another' })).toEqual([]);

    await run(acts.finalizeTarget, { target });
    expect(await query(target, "SELECT 1 FROM pg_namespace WHERE nspname = 'pgferry'")).toEqual([]);
    expect(await run(acts.chunksDone, { target, migration: 'pre' })).toEqual([]);
    // Data only: the schema differs by what post-data adds, sequences are set after the copy, and
    // large objects are not the copy's job.
    const [sourceData, targetData] = await Promise.all([tableData(source), tableData(target)]);
    expect(Object.keys(sourceData).length).toBeGreaterThan(20);
    expect(targetData).toEqual(sourceData);
    const rows = results.reduce((sum, r) => sum + r.rows, 0);
    expect(rows).toBe(Object.values(sourceData).reduce((sum, t) => sum + t.rows, 0));
  });

  it('copies into a full schema without firing its triggers or checking its foreign keys', async () => {
    const source = await cloneFixture('full_src');
    const target = await targetWithSchema(source, 'full_tgt', 'full');
    const triggers = await query<{ tgname: string; tgenabled: string }>(
      target,
      "SELECT tgname, tgenabled FROM pg_trigger WHERE tgname IN ('orders_audit', 'vehicles_guard') ORDER BY 1",
    );
    expect(triggers).toEqual([
      { tgname: 'orders_audit', tgenabled: 'O' },
      { tgname: 'vehicles_guard', tgenabled: 'O' },
    ]);
    await run(acts.ensureLedger, { target });

    const chunks = planChunks(await run(acts.listCopyTables, { source }), { splitLargerThan: SPLIT });
    // Children before their parents: foreign keys that were checked would reject these rows.
    const childrenFirst = [
      ...chunks.filter((c) => c.table === 'Order Items' || c.table === 'credit_notes'),
      ...chunks.filter((c) => c.table !== 'Order Items' && c.table !== 'credit_notes'),
    ];
    await copyAll(source, target, 'full', childrenFirst);
    await run(acts.finalizeTarget, { target });

    const [sourceData, targetData] = await Promise.all([tableData(source), tableData(target)]);
    expect(targetData).toEqual(sourceData);
    // The audit trigger would have added rows and drawn from the sequence; the guard would have raised.
    expect(await count(target, 'audit.changes')).toBe(20);
    expect(await query(target, 'SELECT is_called FROM audit.changes_id_seq')).toEqual([{ is_called: false }]);
    expect(await count(target, 'inventory.vehicles')).toBe(20);
  });

  it('maps columns by name across dropped and generated columns and a different physical order', async () => {
    const source = await emptyDatabase('shape_src');
    await query(
      source,
      `CREATE TABLE public.shape (a integer, gone text, b text, g integer GENERATED ALWAYS AS (a * 2) STORED, c integer[]);
       INSERT INTO public.shape (a, gone, b, c) SELECT g, 'x', 'before ' || g, ARRAY[g, NULL] FROM generate_series(1, 50) AS g;
       ALTER TABLE public.shape DROP COLUMN gone;
       INSERT INTO public.shape (a, b, c) SELECT g, 'after ' || g, '{}' FROM generate_series(51, 100) AS g;`,
    );
    const target = await emptyDatabase('shape_tgt');
    await query(
      target,
      'CREATE TABLE public.shape (c integer[], g integer GENERATED ALWAYS AS (a * 2) STORED, b text, a integer)',
    );
    const chunk = await wholeTableChunk(source, 'shape');
    expect(chunk.columns).toEqual(['a', 'b', 'c']);
    // Without a ledger there is no knowing what was copied: the chunk is refused, not copied.
    const noLedger = await rejectionOf(copy({ source, target, migration: 'shape', chunk }));
    expect((noLedger as ApplicationFailure).type).toBe(ErrorCode.Internal);
    expect(await count(target, 'public.shape')).toBe(0);
    const badRange = await rejectionOf(
      copy({ source, target, migration: 'shape', chunk: { ...chunk, range: { fromPage: 5, toPage: 2 } } }),
    );
    expect((badRange as ApplicationFailure).type).toBe(ErrorCode.InvalidInput);
    await run(acts.ensureLedger, { target });

    const result = await copy({ source, target, migration: 'shape', chunk });
    expect(result).toMatchObject({ rows: 100, skipped: false });
    await run(acts.finalizeTarget, { target });
    expect(await tableData(target)).toEqual(await tableData(source));
    expect(await query(target, 'SELECT a, b, g, c FROM public.shape WHERE a IN (1, 100) ORDER BY a')).toEqual(
      [
        { a: 1, b: 'before 1', g: 2, c: [1, null] },
        { a: 100, b: 'after 100', g: 200, c: [] },
      ],
    );
  });

  it('loads TOASTed values the source holds uncompressed without a compression attempt, and stores every value as the source does', async () => {
    const source = await emptyDatabase('toast_src');
    await query(source, INCOMPRESSIBLE_DOCS);
    const target = await targetWithSchema(source, 'toast_tgt', 'pre-data');
    await run(acts.ensureLedger, { target });
    expect(await compression(source, 'docs')).toEqual([{ blob: '0', prose: '1500' }]);

    const result = await copy({
      source,
      target,
      migration: 'toast',
      chunk: await wholeTableChunk(source, 'docs'),
    });
    // note holds no compressed value either (too short to be tried): EXTERNAL changes nothing for it.
    expect(result).toMatchObject({ rows: 1500, skipped: false, storedAsIs: ['blob', 'note'] });
    // Under the threshold the check is not worth a scan: the load goes as the schema says.
    const small = await copy({
      source,
      target,
      migration: 'toast',
      chunk: await wholeTableChunk(source, 'small_docs'),
    });
    expect(small).toMatchObject({ rows: 100, skipped: false });
    expect(small.storedAsIs).toBeUndefined();

    // The schema is as it was, and each value is stored as on the source: blob uncompressed, prose compressed.
    expect(await query(target, DOCS_STORAGE)).toEqual(await query(source, DOCS_STORAGE));
    expect(await compression(target, 'docs')).toEqual([{ blob: '0', prose: '1500' }]);
    await run(acts.finalizeTarget, { target });
    expect(await tableData(target)).toEqual(await tableData(source));

    // A value compressed on the source (here one row) means the target could compress too: blob
    // is loaded as the schema says.
    const mixed = await emptyDatabase('toast_mixed');
    await query(
      mixed,
      `${INCOMPRESSIBLE_DOCS} UPDATE public.docs SET blob = repeat('a', 9000) WHERE id = 1;`,
    );
    const mixedTarget = await targetWithSchema(mixed, 'toast_mixed_tgt', 'pre-data');
    await run(acts.ensureLedger, { target: mixedTarget });
    const again = await copy({
      source: mixed,
      target: mixedTarget,
      migration: 'toast',
      chunk: await wholeTableChunk(mixed, 'docs'),
    });
    expect(again.storedAsIs).toEqual(['note']);
    expect(await compression(mixedTarget, 'docs')).toEqual([{ blob: '1', prose: '1500' }]);
  });

  it('loads a split table’s incompressible TOASTed column as is across its ranges, then gives it its storage back', async () => {
    const source = await emptyDatabase('toast_split_src');
    await query(source, INCOMPRESSIBLE_DOCS);
    const target = await targetWithSchema(source, 'toast_split_tgt', 'pre-data');
    await run(acts.ensureLedger, { target });
    const tables = (await run(acts.listCopyTables, { source })).filter((t) => t.table === 'docs');
    const chunks = planChunks(tables, { splitLargerThan: 4 * 1024 * 1024 });
    expect(chunks.length).toBeGreaterThan(1);
    const input = {
      source,
      target,
      tables: [{ schema: 'public', table: 'docs', columns: chunks[0]!.columns }],
    };
    const { tables: set } = await run(acts.setAsIsStorage, input);
    expect(set).toEqual([{ schema: 'public', table: 'docs', columns: ['blob', 'note'] }]);
    // A retry finds the columns an earlier attempt set.
    expect((await run(acts.setAsIsStorage, input)).tables).toEqual(set);
    expect(await query(target, DOCS_STORAGE)).toContainEqual({ attname: 'blob', attstorage: 'e' });

    await copyAll(source, target, 'split_toast', chunks);
    await run(acts.restoreStorage, { target, tables: set });
    await run(acts.restoreStorage, { target, tables: set });
    expect(await query(target, DOCS_STORAGE)).toEqual(await query(source, DOCS_STORAGE));
    expect(await compression(target, 'docs')).toEqual([{ blob: '0', prose: '1500' }]);
    await run(acts.finalizeTarget, { target });
    const [sourceData, targetData] = await Promise.all([tableData(source), tableData(target)]);
    expect(targetData['public.docs']).toEqual(sourceData['public.docs']);
  });

  it('skips a chunk the ledger has, and two attempts at once copy it only once', async () => {
    const target = await bigTarget('twice');
    const chunk = await wholeTableChunk(bigSource, 'big');
    const input = { source: bigSource, target, migration: 'twice', chunk };

    const both = await Promise.all([copy(input), copy(input)]);
    expect(both.map((r) => r.skipped).sort()).toEqual([false, true]);
    expect(both.map((r) => r.rows)).toEqual([BIG_ROWS, BIG_ROWS]);
    const again = await copy(input);
    expect(again).toMatchObject({ chunkId: chunk.id, rows: BIG_ROWS, skipped: true });
    expect(again.bytes).toBeGreaterThan(0);
    expect(await count(target, 'public.big')).toBe(BIG_ROWS);
    expect(await run(acts.chunksDone, { target, migration: 'twice' })).toEqual([chunk.id]);
  });

  it('leaves neither rows nor a ledger row when the target connection dies mid-COPY, and a retry copies the chunk once', async () => {
    const target = await bigTarget('killed');
    // A page range over the whole table: a whole-table chunk would first TRUNCATE (for a frozen
    // load), and wait there on the blocker below instead of mid-COPY.
    const whole = await wholeTableChunk(bigSource, 'big');
    const chunk = { ...whole, id: `${whole.id}#1[0,)`, range: { fromPage: 0 } };
    const input = { source: bigSource, target, migration: 'killed', chunk };

    await withClient(target, async (blocker) => {
      // An uncommitted row with a key from the middle of the table: the COPY loads the rows before
      // it, then waits on this transaction, so it is certainly mid-stream when the backend dies.
      await blocker.query('BEGIN');
      await blocker.query("INSERT INTO public.big VALUES ($1, 'blocker')", [BIG_ROWS / 2]);
      const env = activityEnv();
      const heartbeats: ProgressFigures[] = [];
      env.on('heartbeat', (figures: ProgressFigures) => heartbeats.push(figures));
      // Catch from the start: the attempt fails while this test is still busy killing the backend.
      const attempt = rejectionOf(env.run(acts.copyChunk, input));
      const pid = await copyBackendWaitingOnLock(target);
      await waitFor(
        'a heartbeat with bytes',
        async () => (heartbeats.some((h) => (h.bytes ?? 0) > 0) ? true : undefined),
        15_000,
        25,
      );
      expect(heartbeats.at(-1)?.detail).toBe(chunk.id);
      await query(adminUrl(), 'SELECT pg_terminate_backend($1)', [pid]);
      const error = await attempt;
      expect(error).toBeInstanceOf(ApplicationFailure);
      expect((error as ApplicationFailure).type).toBe(ErrorCode.ConnectionLost);
      await blocker.query('ROLLBACK');
    });

    expect(await count(target, 'public.big')).toBe(0);
    expect(await run(acts.chunksDone, { target, migration: 'killed' })).toEqual([]);
    expect(await copy(input)).toMatchObject({ rows: BIG_ROWS, skipped: false });
    expect(await copy(input)).toMatchObject({ rows: BIG_ROWS, skipped: true });
    expect(await count(target, 'public.big')).toBe(BIG_ROWS);
    expect((await tableData(target))['public.big']).toEqual((await tableData(bigSource))['public.big']);
  });

  it('ends both sides and copies nothing when the activity is cancelled mid-COPY', async () => {
    const target = await bigTarget('cancel');
    const chunk = await wholeTableChunk(bigSource, 'big');
    await withClient(target, async (blocker) => {
      await blocker.query('BEGIN');
      await blocker.query("INSERT INTO public.big VALUES ($1, 'blocker')", [BIG_ROWS / 2]);
      const env = activityEnv();
      const attempt = rejectionOf(
        env.run(acts.copyChunk, { source: bigSource, target, migration: 'cancel', chunk }),
      );
      await copyBackendWaitingOnLock(target);
      env.cancel();
      expect(await attempt).toBeInstanceOf(CancelledFailure);
      // A backend waiting on a lock notices its closed socket once the lock is free.
      await blocker.query('ROLLBACK');
      await waitFor(
        'the copy connections to close',
        async () => {
          const rows = await query(
            adminUrl(),
            "SELECT 1 FROM pg_stat_activity WHERE datname = ANY ($1) AND application_name = 'pgferry'",
            [[databaseName(target), databaseName(bigSource)]],
          );
          return rows.length === 0 ? true : undefined;
        },
        15_000,
        25,
      );
    });
    expect(await count(target, 'public.big')).toBe(0);
    expect(await run(acts.chunksDone, { target, migration: 'cancel' })).toEqual([]);
  });

  it('reads under an exported snapshot, so rows committed after it are not copied', async () => {
    const source = await emptyDatabase('snap_src');
    await query(source, 'CREATE TABLE public.events (id integer)');
    await query(source, 'INSERT INTO public.events SELECT generate_series(1, 10)');
    const target = await emptyDatabase('snap_tgt');
    await query(target, 'CREATE TABLE public.events (id integer)');
    await run(acts.ensureLedger, { target });

    await withClient(source, async (holder) => {
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      const [row] = (await holder.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows;
      const snapshot = row!.id;
      await query(source, 'INSERT INTO public.events SELECT generate_series(11, 15)');
      const tables = await run(acts.listCopyTables, { source, snapshot });
      const [chunk] = planChunks(tables, { splitLargerThan: SPLIT });
      const result = await copy({ source, target, migration: 'snap', chunk: chunk!, snapshot });
      expect(result.rows).toBe(10);
      await holder.query('COMMIT');
      // The exporting transaction is over: the snapshot can no longer be adopted.
      const error = await rejectionOf(run(acts.listCopyTables, { source, snapshot }));
      expect((error as ApplicationFailure).type).toBe(ErrorCode.SnapshotLost);
    });
    expect(await count(target, 'public.events')).toBe(10);
  });
});
