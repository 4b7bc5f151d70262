import type { Client } from 'pg';
import type { ShapeName, ShapeSize } from './config';

/**
 * One synthetic part of a shape's source: a schema of its own (so that `mixed` can hold them all),
 * filled by SQL that runs on the server. `rows` scales the part; the same part serves its own shape
 * and the mix of them all.
 */
interface Part {
  /** The schema it lives in. */
  readonly schema: string;
  /** What it is, for the report, at `rows`. */
  describe(rows: number): string;
  /** Creates and fills the schema; indexes and keys after the rows, as a restore would build them. */
  fill(c: Client, rows: number): Promise<void>;
}

/** Rows generated per INSERT: the server's memory for one statement stays small at any size. */
const BATCH = 500_000;

/** Runs `sql` (with $1, $2 the first and last row number) over 1..total in batches of `batch`. */
async function insertBatches(c: Client, sql: string, total: number, batch = BATCH): Promise<void> {
  for (let from = 1; from <= total; from += batch) {
    await c.query(sql, [from, Math.min(total, from + batch - 1)]);
  }
}

const count = (n: number) => n.toLocaleString('en-US');

/**
 * One large table whose index work dominates: a bigint primary key and two secondary indexes, one
 * of them on text (collation-aware comparisons, the slowest sort). Keys arrive in an order
 * unrelated to the heap's, as in a table that has lived a while.
 */
const indexHeavy: Part = {
  schema: 'index_heavy',
  describe: (rows) =>
    `one table of ${count(rows)} rows, bigint primary key and two secondary indexes ((integer, timestamptz) and text)`,
  async fill(c, rows) {
    await c.query(`CREATE TABLE index_heavy.events (
      id bigint NOT NULL, account_id integer NOT NULL, created_at timestamptz NOT NULL,
      amount numeric(12,2) NOT NULL, reference text NOT NULL)`);
    await insertBatches(
      c,
      `INSERT INTO index_heavy.events
       SELECT i, (i * 7919 % 250000)::int, timestamptz '2024-01-01' + (i * 104729 % 31536000) * interval '1 second',
              (i % 100000) / 100.0, left(md5(i::text), 16)
         FROM generate_series($1::bigint, $2::bigint) AS i`,
      rows,
    );
    await c.query('ALTER TABLE index_heavy.events ADD PRIMARY KEY (id)');
    await c.query('CREATE INDEX events_account ON index_heavy.events (account_id, created_at)');
    await c.query('CREATE INDEX events_reference ON index_heavy.events (reference)');
  },
};

/**
 * Wide rows of compressible text under the TOAST threshold (~2 kB a row): PostgreSQL keeps them
 * inline and uncompressed, so every byte is in the heap and the copy moves them all.
 */
const wideInline: Part = {
  schema: 'wide_inline',
  describe: (rows) => `one table of ${count(rows)} rows of ~1 kB compressible text, stored inline`,
  async fill(c, rows) {
    await c.query(`CREATE TABLE wide_inline.documents (
      id bigint NOT NULL, kind smallint NOT NULL, body text NOT NULL)`);
    await insertBatches(
      c,
      `INSERT INTO wide_inline.documents
       SELECT i, (i % 7)::smallint,
              i::text || ': ' || repeat('lorem ipsum dolor sit amet, consectetur adipiscing elit ' || (i % 1000) || ' ', 16)
         FROM generate_series($1::bigint, $2::bigint) AS i`,
      rows,
      100_000,
    );
    await c.query('ALTER TABLE wide_inline.documents ADD PRIMARY KEY (id)');
  },
};

/**
 * Incompressible 8 kB values (md5 hex has no repeats pglz can find): stored out of line in TOAST,
 * the copy has to move every byte and the target to TOAST it again. The default run's bench_wide.
 */
const toast: Part = {
  schema: 'toast',
  describe: (rows) => `one table of ${count(rows)} rows of 8 kB incompressible text, in TOAST`,
  async fill(c, rows) {
    await c.query(`CREATE TABLE toast.blobs (id bigint NOT NULL, title text NOT NULL, body text NOT NULL)`);
    await insertBatches(
      c,
      `INSERT INTO toast.blobs
       SELECT i, 'blob ' || i,
              (SELECT string_agg(md5(i::text || ':' || j::text || ':' || random()::text), '')
                 FROM generate_series(1, 256) AS j)
         FROM generate_series($1::bigint, $2::bigint) AS i`,
      rows,
      5_000,
    );
    await c.query('ALTER TABLE toast.blobs ADD PRIMARY KEY (id)');
  },
};

/**
 * Many small tables, in pairs: a parent (primary key, a unique name) and a child with a foreign key
 * to it and an index on that key. `rows` is the number of tables; the per-table costs dominate.
 */
const manyTables: Part = {
  schema: 'many_tables',
  describe: (tables) =>
    `${count(tables)} small tables (parent of 50 rows, child of 200 rows with a foreign key to it), ${count(Math.floor(tables / 2) * 4)} indexes`,
  async fill(c, tables) {
    // One server-side loop: 2,000 tables made through round trips would take minutes.
    const pairs = Math.floor(tables / 2);
    await c.query(
      `DO $$
       BEGIN
         FOR p IN 1..${pairs} LOOP
           EXECUTE format('CREATE TABLE many_tables.parent_%1$s (id integer PRIMARY KEY, name text NOT NULL UNIQUE, created date NOT NULL)', p);
           EXECUTE format('INSERT INTO many_tables.parent_%1$s SELECT g, ''name '' || g, date ''2024-01-01'' + g FROM generate_series(1, 50) g', p);
           EXECUTE format('CREATE TABLE many_tables.child_%1$s (id integer PRIMARY KEY, parent_id integer NOT NULL REFERENCES many_tables.parent_%1$s, qty integer NOT NULL, note text)', p);
           EXECUTE format('INSERT INTO many_tables.child_%1$s SELECT g, 1 + g %% 50, g * 3, ''note '' || g FROM generate_series(1, 200) g', p);
           EXECUTE format('CREATE INDEX ON many_tables.child_%1$s (parent_id)', p);
         END LOOP;
       END $$`,
    );
  },
};

/**
 * A table partitioned by month into 24 partitions, a composite primary key (which must hold the
 * partition key) and a secondary index on each partition.
 */
const partitioned: Part = {
  schema: 'partitioned',
  describe: (rows) =>
    `a table of ${count(rows)} rows in 24 monthly partitions, primary key (id, taken_at) and an index on (sensor, taken_at)`,
  async fill(c, rows) {
    await c.query(`CREATE TABLE partitioned.measurements (
      id bigint NOT NULL, taken_at timestamptz NOT NULL, sensor integer NOT NULL,
      value double precision NOT NULL, quality smallint NOT NULL) PARTITION BY RANGE (taken_at)`);
    for (let m = 0; m < 24; m += 1) {
      const from = new Date(Date.UTC(2023, m, 1)).toISOString().slice(0, 10);
      const to = new Date(Date.UTC(2023, m + 1, 1)).toISOString().slice(0, 10);
      await c.query(
        `CREATE TABLE partitioned.measurements_${String(m + 1).padStart(2, '0')}
           PARTITION OF partitioned.measurements FOR VALUES FROM ('${from}') TO ('${to}')`,
      );
    }
    // Rows spread over the two years in an order unrelated to their ids.
    await insertBatches(
      c,
      `INSERT INTO partitioned.measurements
       SELECT i, timestamptz '2023-01-01' + (i * 7919 % 63072000) * interval '1 second',
              (i % 5000)::int, (i % 1000) / 7.0, (i % 5)::smallint
         FROM generate_series($1::bigint, $2::bigint) AS i`,
      rows,
    );
    await c.query('ALTER TABLE partitioned.measurements ADD PRIMARY KEY (id, taken_at)');
    await c.query('CREATE INDEX measurements_sensor ON partitioned.measurements (sensor, taken_at)');
  },
};

/** Many narrow rows: the per-row costs (COPY parsing, tuple headers, index entries) dominate. */
const narrow: Part = {
  schema: 'narrow',
  describe: (rows) => `one table of ${count(rows)} rows of (bigint, integer, boolean), bigint primary key`,
  async fill(c, rows) {
    await c.query(
      'CREATE TABLE narrow.ticks (id bigint NOT NULL, n integer NOT NULL, flag boolean NOT NULL)',
    );
    await insertBatches(
      c,
      `INSERT INTO narrow.ticks SELECT i, (i * 7919 % 100000)::int, i % 3 = 0
         FROM generate_series($1::bigint, $2::bigint) AS i`,
      rows,
      1_000_000,
    );
    await c.query('ALTER TABLE narrow.ticks ADD PRIMARY KEY (id)');
  },
};

/** Rows (tables, for many-tables) of each part at each size. */
const SIZES: Record<ShapeSize, Record<string, number>> = {
  small: {
    index_heavy: 200_000,
    wide_inline: 25_000,
    toast: 2_000,
    many_tables: 200,
    partitioned: 200_000,
    narrow: 500_000,
  },
  default: {
    index_heavy: 2_000_000,
    wide_inline: 250_000,
    toast: 30_000,
    many_tables: 2_000,
    partitioned: 2_000_000,
    narrow: 5_000_000,
  },
};

/** The mix holds every part at this fraction of its own size: about the size of the largest two. */
const MIXED_FRACTION = 1 / 3;

/** A synthetic shape: its parts and what they are. */
export interface SyntheticShape {
  readonly name: ShapeName;
  readonly parts: { readonly part: Part; readonly rows: number }[];
}

const PARTS: Partial<Record<ShapeName, Part>> = {
  'index-heavy': indexHeavy,
  'wide-inline': wideInline,
  toast,
  'many-tables': manyTables,
  partitioned,
  narrow,
};

/** The parts of a synthetic shape at a size; undefined for a shape that is not synthetic (regression). */
export function syntheticShape(name: ShapeName, size: ShapeSize): SyntheticShape | undefined {
  const rows = (part: Part, fraction: number) => Math.round((SIZES[size][part.schema] ?? 0) * fraction);
  if (name === 'mixed') {
    return {
      name,
      parts: Object.values(PARTS).map((part) => ({ part, rows: rows(part, MIXED_FRACTION) })),
    };
  }
  const part = PARTS[name];
  return part ? { name, parts: [{ part, rows: rows(part, 1) }] } : undefined;
}

/** What a synthetic shape holds, one line. */
export function describeShape(shape: SyntheticShape): string {
  return shape.parts.map(({ part, rows }) => part.describe(rows)).join('; ');
}

/** Creates each part's schema and fills it, in a database that exists and is empty. */
export async function fillShape(c: Client, shape: SyntheticShape): Promise<void> {
  for (const { part, rows } of shape.parts) {
    await c.query(`CREATE SCHEMA ${part.schema}`);
    await part.fill(c, rows);
  }
}

/** The `many-tables` shape with `tables` tables (the fleet run's large-catalog database). */
export function manyTablesShape(tables: number): SyntheticShape {
  return { name: 'many-tables', parts: [{ part: manyTables, rows: tables }] };
}
