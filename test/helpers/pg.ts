import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type QueryResultRow } from 'pg';
import { sleep } from './wait';

/** Where the Debian packages put the server binaries (initdb, pg_ctl) that are not on PATH. */
export const DEFAULT_PG_BIN_DIR = '/usr/lib/postgresql/15/bin';

const HOST = '127.0.0.1';
const PROTECTED_DATABASES = new Set(['postgres', 'template0', 'template1']);

/** Quotes a PostgreSQL identifier: wraps it in double quotes and doubles any inside. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** URL of the shared test server (trust auth, user postgres) or of another local server by port. */
export function adminUrl(port = 5432, db = 'postgres'): string {
  return `postgresql://postgres@${HOST}:${port}/${encodeURIComponent(db)}`;
}

/** Runs `fn` with a connected client and always closes it, even when `fn` throws. */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  // A backend killed under us (DROP DATABASE ... WITH (FORCE), pg_ctl stop) emits 'error' on an idle
  // client; unhandled, that event would crash the whole vitest worker instead of failing one test.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs one statement on a fresh connection and returns its rows. */
export async function query<R extends QueryResultRow = QueryResultRow>(
  url: string,
  sql: string,
  params?: unknown[],
): Promise<R[]> {
  return withClient(url, async (client) => (await client.query<R>(sql, params)).rows);
}

/** Result of a finished child process. */
export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program without a shell; rejects with its stderr in the message so failures explain themselves. */
export function runCommand(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      { cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stderr}`.trim()));
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}

/** A short database name that is safe unquoted: lowercase, at most 50 characters, random suffix. */
export function uniqueName(prefix: string): string {
  let base = prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_');
  if (!/^[a-z_]/.test(base)) base = `t_${base}`;
  const suffix = randomBytes(5).toString('hex');
  return `${base.slice(0, 50 - suffix.length - 1)}_${suffix}`;
}

function adminUrlFor(target: string, port: number): { admin: string; db: string } {
  if (!/^postgres(ql)?:\/\//.test(target)) return { admin: adminUrl(port), db: target };
  const parsed = new URL(target);
  const db = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  parsed.pathname = '/postgres';
  return { admin: parsed.toString(), db };
}

/** Drops a database (by URL or by name on `port`), disconnecting its sessions; missing is fine. */
export async function dropDatabase(urlOrName: string, port = 5432): Promise<void> {
  const { admin, db } = adminUrlFor(urlOrName, port);
  if (PROTECTED_DATABASES.has(db) || db === '') throw new Error(`refusing to drop database "${db}"`);
  await withClient(admin, async (client) => {
    const found = await client.query<{ datistemplate: boolean }>(
      'SELECT datistemplate FROM pg_database WHERE datname = $1',
      [db],
    );
    // PostgreSQL refuses to drop a database flagged as a template.
    if (found.rows[0]?.datistemplate)
      await client.query(`ALTER DATABASE ${quoteIdent(db)} IS_TEMPLATE false`);
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(db)} WITH (FORCE)`);
  });
}

/** Creates an empty UTF-8 database from template0 (no template1 customisations) and returns its URL. */
export async function createEmptyDatabase(name: string, port = 5432): Promise<string> {
  await query(adminUrl(port), `CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 ENCODING 'UTF8'`);
  return adminUrl(port, name);
}

/** (Re)builds database `name` from scratch by loading `sqlFile` with psql, and returns its URL. */
export async function createTemplateDatabase(name: string, sqlFile: string, port = 5432): Promise<string> {
  await dropDatabase(name, port);
  const url = await createEmptyDatabase(name, port);
  // One transaction so a failing fixture leaves nothing half-loaded; -X so a ~/.psqlrc cannot interfere.
  await runCommand(
    'psql',
    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-d', url, '-f', sqlFile],
    {
      env: { ...process.env, PGCLIENTENCODING: 'UTF8' },
    },
  );
  return url;
}

/** Creates `newName` as a file-level copy of `template` and returns its URL. */
export async function cloneDatabase(template: string, newName: string, port = 5432): Promise<string> {
  const sql = `CREATE DATABASE ${quoteIdent(newName)} TEMPLATE ${quoteIdent(template)}`;
  for (let attempt = 1; ; attempt++) {
    try {
      await query(adminUrl(port), sql);
      return adminUrl(port, newName);
    } catch (error) {
      // 55006: a session that just disconnected from the template may not have exited yet.
      const code = (error as { code?: unknown }).code;
      if (code !== '55006' || attempt >= 10) throw error;
      await sleep(300);
    }
  }
}

/** Finds a TCP port on 127.0.0.1 that is free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

/** Options of a throw-away PostgreSQL cluster. */
export interface ThrowawayClusterOptions {
  port?: number;
  walLevel?: 'logical' | 'replica';
  auth?: 'trust' | 'scram';
  /** Superuser password; used (and required by initdb) only with auth 'scram'. */
  password?: string;
  binDir?: string;
  /** More postgresql.conf lines, after pgferry's own (later lines win), e.g. `ssl = on`. */
  settings?: readonly string[];
  /** Files written into the data directory before the server starts (owned by the server's user, mode 0600), e.g. a certificate and its key. */
  files?: Readonly<Record<string, string>>;
  /** The whole pg_hba.conf, instead of the one initdb writes. */
  hba?: string;
}

/** A running private cluster; call stop() in afterAll. */
export interface ThrowawayCluster {
  readonly port: number;
  readonly dataDir: string;
  /** Superuser password, when the cluster uses scram auth. */
  readonly password: string | undefined;
  url(db?: string): string;
  stop(): Promise<void>;
}

const DEFAULT_SCRAM_PASSWORD = 'pgferry-test-password';

async function osUserIds(user: string): Promise<{ uid: number; gid: number }> {
  const uid = Number((await runCommand('id', ['-u', user])).stdout.trim());
  const gid = Number((await runCommand('id', ['-g', user])).stdout.trim());
  return { uid, gid };
}

/**
 * Starts a private cluster in a fresh temp dir on a free port (initdb + pg_ctl as the `postgres` OS user
 * when running as root, since the server refuses to run as root). The caller must stop() it in afterAll:
 * nothing global cleans up behind the test.
 */
export async function startThrowawayCluster(
  options: ThrowawayClusterOptions = {},
): Promise<ThrowawayCluster> {
  const binDir = options.binDir ?? DEFAULT_PG_BIN_DIR;
  const auth = options.auth ?? 'trust';
  const password = auth === 'scram' ? (options.password ?? DEFAULT_SCRAM_PASSWORD) : undefined;
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), 'pgferry-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const ids = asRoot ? await osUserIds('postgres') : undefined;
  const runPg = (program: string, args: string[]) => {
    const binary = join(binDir, program);
    return asRoot
      ? runCommand('runuser', ['-u', 'postgres', '--', binary, ...args], { cwd: dir })
      : runCommand(binary, args, { cwd: dir });
  };

  let started = false;
  try {
    if (ids) await chown(dir, ids.uid, ids.gid);
    const initArgs = ['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'];
    if (password !== undefined) {
      const pwFile = join(dir, 'pwfile');
      await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
      if (ids) await chown(pwFile, ids.uid, ids.gid);
      initArgs.push(`--pwfile=${pwFile}`, '--auth-host=scram-sha-256', '--auth-local=trust');
      await runPg('initdb', initArgs);
      await rm(pwFile, { force: true });
    } else {
      initArgs.push('--auth=trust');
      await runPg('initdb', initArgs);
    }

    for (const [name, text] of Object.entries({
      ...options.files,
      ...(options.hba === undefined ? {} : { 'pg_hba.conf': options.hba }),
    })) {
      const file = join(dataDir, name);
      await writeFile(file, text, { mode: 0o600 });
      if (ids) await chown(file, ids.uid, ids.gid);
    }

    // Another process can grab a port between freePort() and the server binding it, so retry a few.
    const attempts = options.port === undefined ? 3 : 1;
    let port = 0;
    for (let attempt = 1; !started; attempt++) {
      port = options.port ?? (await freePort());
      await appendFile(
        join(dataDir, 'postgresql.conf'),
        [
          '',
          '# throw-away test cluster (appended by test/helpers/pg.ts; later lines win)',
          `listen_addresses = '${HOST}'`,
          `port = ${port}`,
          `unix_socket_directories = '${dir}'`,
          'fsync = off',
          'synchronous_commit = off',
          'full_page_writes = off',
          `wal_level = ${options.walLevel ?? 'logical'}`,
          'max_wal_senders = 10',
          'max_replication_slots = 10',
          'max_connections = 50',
          "shared_buffers = '32MB'",
          ...(options.settings ?? []),
          '',
        ].join('\n'),
      );
      try {
        await runPg('pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
        started = true;
      } catch (error) {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        if (attempt >= attempts) throw new Error(`${(error as Error).message}\nserver log:\n${log}`);
      }
    }

    let stopped = false;
    const startedPort = port;
    return {
      port: startedPort,
      dataDir,
      password,
      url(db = 'postgres') {
        const credentials = password === undefined ? 'postgres' : `postgres:${encodeURIComponent(password)}`;
        return `postgresql://${credentials}@${HOST}:${startedPort}/${encodeURIComponent(db)}`;
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await runPg('pg_ctl', ['-D', dataDir, '-w', '-m', 'immediate', 'stop']).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (started)
      await runPg('pg_ctl', ['-D', dataDir, '-w', '-m', 'immediate', 'stop']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * One test's databases: a source cloned from `template` and a target name (both added to
 * `databases`, for the suite to drop), and a migration name made from `tag`.
 */
export async function clonedPair(
  template: string,
  prefix: string,
  tag: string,
  databases: string[],
): Promise<{ source: string; target: string; name: string }> {
  const source = uniqueName(`${prefix}_${tag}_s`);
  const target = uniqueName(`${prefix}_${tag}_t`);
  databases.push(source, target);
  await cloneDatabase(template, source);
  return { source, target, name: uniqueName(tag).replace(/_/g, '-') };
}

/**
 * public.docs, whose blob column holds 8 kB of md5 hex per row: pglz cannot shrink it by a quarter,
 * so PostgreSQL keeps it uncompressed (12 MB of TOAST, above the copy's as-is threshold); prose
 * compresses well; note is short or NULL. public.small_docs: 100 of its rows, under the threshold.
 */
export const INCOMPRESSIBLE_DOCS = `CREATE TABLE public.docs (id integer PRIMARY KEY, blob text NOT NULL, prose text NOT NULL, note text);
  INSERT INTO public.docs (id, blob, prose, note)
  SELECT i, (SELECT string_agg(md5(i::text || ':' || j::text), '') FROM generate_series(1, 256) AS j),
         repeat('lorem ipsum dolor ' || i || ' ', 500), CASE WHEN i % 2 = 0 THEN 'short' END
    FROM generate_series(1, 1500) AS i;
  CREATE TABLE public.small_docs AS SELECT * FROM public.docs WHERE id <= 100;`;
