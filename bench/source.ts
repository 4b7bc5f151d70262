import { createDatabase, databaseSize, dbUrl, libpqArgs, tableCounts, withClient } from './db';
import { runOk } from './proc';

/** What a source is made of. */
export interface SourceShape {
  readonly scale: number;
  readonly wideRows: number;
  readonly wideBytes: number;
  readonly narrowRows: number;
}

/** A generated source: its size (pg_database_size) and the row counts every copy must match. */
export interface Source {
  readonly database: string;
  readonly shape: SourceShape;
  readonly bytes: number;
  readonly counts: Record<string, number>;
  readonly seconds: number;
}

// Rows per INSERT of the wide table: one statement per batch keeps the server's memory for the
// generated values small, whatever wideRows is.
const WIDE_BATCH = 5_000;
const NARROW_BATCH = 1_000_000;

/**
 * The wide table: each body is `wideBytes` characters of md5 hex. Hex from md5 has no repeats
 * pglz can find, so the values stay incompressible and PostgreSQL stores them out of line in the
 * TOAST table — the copy has to move (and the target to re-TOAST) every byte.
 */
const WIDE_TABLE = `CREATE TABLE public.bench_wide (
  id bigint PRIMARY KEY,
  title text NOT NULL,
  body text NOT NULL
)`;

const WIDE_INSERT = `INSERT INTO public.bench_wide (id, title, body)
  SELECT i, 'wide row ' || i,
         left((SELECT string_agg(md5(i::text || ':' || j::text || ':' || random()::text), '')
                 FROM generate_series(1, ceil($3::numeric / 32)::int) AS j), $3::int)
    FROM generate_series($1::bigint, $2::bigint) AS i`;

/** Narrow rows: the per-row costs (COPY parsing, tuple headers, index entries) dominate. */
const NARROW_TABLE = `CREATE TABLE public.bench_narrow (
  id bigint PRIMARY KEY,
  n integer NOT NULL,
  flag boolean NOT NULL
)`;

const NARROW_INSERT = `INSERT INTO public.bench_narrow (id, n, flag)
  SELECT i, (i * 7919 % 100000)::int, i % 3 = 0 FROM generate_series($1::bigint, $2::bigint) AS i`;

/** Runs an INSERT … generate_series($1, $2) over 1..total in batches. */
async function insertBatches(
  url: string,
  sql: string,
  total: number,
  batch: number,
  extra: unknown[] = [],
): Promise<void> {
  await withClient(url, async (c) => {
    for (let from = 1; from <= total; from += batch) {
      await c.query(sql, [from, Math.min(total, from + batch - 1), ...extra]);
    }
  });
}

/**
 * Creates `database` afresh: pgbench's tables at `scale`, the wide and the narrow table, then
 * VACUUM ANALYZE so every tool starts from the same visibility map and statistics.
 */
export async function generateSource(server: string, database: string, shape: SourceShape): Promise<Source> {
  const began = Date.now();
  await createDatabase(server, database);
  const url = dbUrl(server, database);
  // -q: progress every 5 s instead of every 100k rows; the default steps include the primary keys.
  await runOk('pgbench', [
    '--initialize',
    `--scale=${shape.scale}`,
    '--quiet',
    ...libpqArgs(server, database),
  ]);
  await withClient(url, async (c) => {
    await c.query(WIDE_TABLE);
    await c.query(NARROW_TABLE);
  });
  await insertBatches(url, WIDE_INSERT, shape.wideRows, WIDE_BATCH, [shape.wideBytes]);
  await insertBatches(url, NARROW_INSERT, shape.narrowRows, NARROW_BATCH);
  await withClient(url, (c) => c.query('VACUUM ANALYZE'));
  return {
    database,
    shape,
    bytes: await databaseSize(server, database),
    counts: await tableCounts(server, database),
    seconds: (Date.now() - began) / 1000,
  };
}
