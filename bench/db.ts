import { Client } from 'pg';

/** The tables whose rows every run must carry over whole; their counts are compared after each run. */
export const MAIN_TABLES = [
  'pgbench_accounts',
  'pgbench_branches',
  'pgbench_tellers',
  'bench_wide',
  'bench_narrow',
] as const;

/** Quotes an identifier for SQL; database names below are fixed, but never trusted bare. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The URL of one database on the benchmark's server. */
export function dbUrl(server: string, database: string): string {
  return `${server}/${encodeURIComponent(database)}`;
}

/**
 * libpq flags and the database name for a database on the server: pgbench reads a URL in place
 * of the database name only in some of its code paths, so the parts go separately.
 */
export function libpqArgs(server: string, database: string): string[] {
  const url = new URL(server);
  return [
    '--host',
    url.hostname,
    '--port',
    url.port || '5432',
    '--username',
    decodeURIComponent(url.username),
    database,
  ];
}

/** Runs `fn` with a connected client and always closes it. */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  // DROP DATABASE … WITH (FORCE) ends other backends; an idle client would otherwise crash the run.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Drops a database if it exists, ending its sessions (a killed tool may have left some). */
export async function dropDatabase(server: string, name: string): Promise<void> {
  await withClient(dbUrl(server, 'postgres'), (c) =>
    c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`),
  );
}

/**
 * Makes a database writable again: an offline pgferry run freezes its source (the default), and
 * the next tool's round must find the source as the first one did.
 */
export async function unfreezeDatabase(server: string, name: string): Promise<void> {
  await withClient(dbUrl(server, 'postgres'), (c) =>
    c.query(`ALTER DATABASE ${quoteIdent(name)} RESET default_transaction_read_only`),
  );
}

/** Creates an empty database (dropping one of the same name first). */
export async function createDatabase(server: string, name: string): Promise<void> {
  await dropDatabase(server, name);
  await withClient(dbUrl(server, 'postgres'), (c) => c.query(`CREATE DATABASE ${quoteIdent(name)}`));
}

/** pg_database_size: what every tool's MB/s is measured against. */
export async function databaseSize(server: string, name: string): Promise<number> {
  return withClient(dbUrl(server, 'postgres'), async (c) => {
    const { rows } = await c.query<{ bytes: string }>('SELECT pg_database_size($1) AS bytes', [name]);
    return Number(rows[0]?.bytes ?? 0);
  });
}

/**
 * count(*) of each of `tables` (by default the main ones), each named as `regclass` prints it
 * (`pgbench_accounts`, `narrow.rows`, `"Odd"."name"`); -1 for a table that is missing.
 */
export async function tableCounts(
  server: string,
  database: string,
  tables: readonly string[] = MAIN_TABLES,
): Promise<Record<string, number>> {
  return withClient(dbUrl(server, database), async (c) => {
    const counts: Record<string, number> = {};
    for (const table of tables) {
      // The server's own spelling of the name, quoted as it must be: never the name as given.
      const { rows: found } = await c.query<{ rel: string | null }>('SELECT to_regclass($1)::text AS rel', [
        table,
      ]);
      const rel = found[0]?.rel;
      if (!rel) {
        counts[table] = -1;
        continue;
      }
      // ONLY: an inheritance parent's own rows, so that a child's lost rows show on the child.
      const { rows } = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ONLY ${rel}`);
      counts[table] = Number(rows[0]?.n ?? -1);
    }
    return counts;
  });
}

/**
 * Every table that holds rows (plain tables and partitions, not partitioned parents, views or
 * foreign tables) outside the system schemas, as `regclass` prints it: what a shape's copies must
 * carry over.
 */
export async function userTables(server: string, database: string): Promise<string[]> {
  return withClient(dbUrl(server, database), async (c) => {
    const { rows } = await c.query<{ rel: string }>(
      `SELECT c.oid::regclass::text AS rel
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND c.relpersistence <> 't'
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        ORDER BY 1`,
    );
    return rows.map((r) => r.rel);
  });
}

/** Relations of a database outside the system schemas (tables, indexes, views, sequences…), TOAST aside. */
export async function relationCount(server: string, database: string): Promise<number> {
  return withClient(dbUrl(server, database), async (c) => {
    const { rows } = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
    );
    return Number(rows[0]?.n ?? 0);
  });
}

/** The tables whose counts differ, as "table: source → target"; empty when all match. */
export function countDifferences(source: Record<string, number>, target: Record<string, number>): string[] {
  return Object.keys(source)
    .filter((t) => source[t] !== target[t])
    .map((t) => `${t}: ${source[t] ?? '?'} → ${target[t] === -1 ? 'missing' : (target[t] ?? '?')}`);
}

/**
 * Flushes dirty buffers before a timed run: the previous run's writes would otherwise be paid for
 * by the checkpoint that lands in the next one.
 */
export async function checkpoint(server: string): Promise<void> {
  await withClient(dbUrl(server, 'postgres'), (c) => c.query('CHECKPOINT'));
}

/** Server facts for the report. */
export async function serverFacts(
  server: string,
): Promise<{ version: string; major: number; settings: Record<string, string> }> {
  return withClient(dbUrl(server, 'postgres'), async (c) => {
    const { rows: v } = await c.query<{ v: string; num: string }>(
      "SELECT version() AS v, current_setting('server_version_num') AS num",
    );
    const names = [
      'shared_buffers',
      'max_wal_size',
      'wal_level',
      'synchronous_commit',
      'maintenance_work_mem',
    ];
    const { rows } = await c.query<{ name: string; setting: string }>(
      `SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name = ANY ($1::text[]) ORDER BY name`,
      [names],
    );
    return {
      version: v[0]?.v ?? '?',
      major: Math.floor(Number(v[0]?.num ?? 0) / 10000),
      settings: Object.fromEntries(rows.map((r) => [r.name, r.setting])),
    };
  });
}
