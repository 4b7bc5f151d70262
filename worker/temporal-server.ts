import { spawn } from 'node:child_process';
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ErrorCode, PgferryError } from '../domain/errors';
import { executable, goBinDir } from './temporal-cli';

/**
 * The Temporal server release pgferry's self-hosted topology is built and tested with; the images
 * of docker-compose.yml carry the same version (test/docker-compose.test.ts compares them).
 */
export const TEMPORAL_SERVER_VERSION = '1.29.1';

/** The server and its SQL schema tool, as `go install` builds them (into GOPATH/bin as `server` and `sql`). */
export const TEMPORAL_SERVER_PACKAGES = [
  `go.temporal.io/server/cmd/server@v${TEMPORAL_SERVER_VERSION}`,
  `go.temporal.io/server/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}`,
] as const;

/** Where the Temporal server binary and its SQL tool were found (or built). */
export interface TemporalServerBinaries {
  readonly server: string;
  readonly sqlTool: string;
  readonly how: string;
}

/**
 * Finds both binaries: $TEMPORAL_SERVER_PATH and $TEMPORAL_SQL_TOOL_PATH, then `temporal-server`
 * and `temporal-sql-tool` on PATH (the names of the release archives and Docker images), then
 * `server` and `sql` in $(go env GOPATH)/bin (where `go install` puts them). Both come from one place.
 */
export function findTemporalServer(env: NodeJS.ProcessEnv = process.env): TemporalServerBinaries | undefined {
  const server = env.TEMPORAL_SERVER_PATH;
  const sqlTool = env.TEMPORAL_SQL_TOOL_PATH;
  if (server && sqlTool && executable(server) && executable(sqlTool)) {
    return { server, sqlTool, how: 'TEMPORAL_SERVER_PATH and TEMPORAL_SQL_TOOL_PATH' };
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const found = inDir(dir, 'temporal-server', 'temporal-sql-tool');
    if (found) return { ...found, how: 'PATH' };
  }
  const goBin = goBinDir(env);
  const built = goBin ? inDir(goBin, 'server', 'sql') : undefined;
  return built ? { ...built, how: '$(go env GOPATH)/bin' } : undefined;
}

function inDir(
  dir: string,
  server: string,
  sqlTool: string,
): Omit<TemporalServerBinaries, 'how'> | undefined {
  const found = { server: path.join(dir, server), sqlTool: path.join(dir, sqlTool) };
  return executable(found.server) && executable(found.sqlTool) ? found : undefined;
}

/** One build at a time on a host: a second caller waits for the first one's binaries instead of compiling them again. */
const BUILD_LOCK = path.join(tmpdir(), 'pgferry-temporal-server-build.lock');

/**
 * Finds the Temporal server and its SQL tool, building both with `go install` when they are not
 * there (several minutes). While another process builds them (CI starts the build early, in the
 * background), waits for it. Throws TemporalUnavailable, saying why, when they can be neither
 * found nor built: a self-hosted cluster has no fallback.
 */
export async function setupTemporalServer(
  say: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TemporalServerBinaries> {
  for (;;) {
    const found = findTemporalServer(env);
    if (found) {
      say(`temporal server: ${found.server}, sql tool: ${found.sqlTool} (found via ${found.how})`);
      return found;
    }
    const lock = takeBuildLock();
    if (lock === undefined) {
      say(`temporal server: another process is building it (${BUILD_LOCK}); waiting for it…`);
      await waitForBuildLock();
      continue;
    }
    try {
      return await build(say, env);
    } finally {
      rmSync(BUILD_LOCK, { force: true });
    }
  }
}

async function build(say: (line: string) => void, env: NodeJS.ProcessEnv): Promise<TemporalServerBinaries> {
  const goBin = goBinDir(env);
  if (!goBin) {
    throw new PgferryError(
      ErrorCode.TemporalUnavailable,
      'the Temporal server is not installed and Go is not available to build it',
      {
        fix: `install Go, or set TEMPORAL_SERVER_PATH and TEMPORAL_SQL_TOOL_PATH to temporal-server and temporal-sql-tool ${TEMPORAL_SERVER_VERSION}`,
      },
    );
  }
  say(
    `temporal server: not installed; building ${TEMPORAL_SERVER_PACKAGES.join(' and ')} with go install (takes several minutes)…`,
  );
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn('go', ['install', ...TEMPORAL_SERVER_PACKAGES], {
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('error', () => resolve(-1));
    child.once('close', resolve);
  });
  const built = inDir(goBin, 'server', 'sql');
  if (code !== 0 || !built) {
    throw new PgferryError(
      ErrorCode.TemporalUnavailable,
      `go install of the Temporal server failed (exit ${String(code)})`,
      {
        fix: `run go install ${TEMPORAL_SERVER_PACKAGES.join(' ')} and read its output`,
      },
    );
  }
  say(`temporal server: built ${built.server} and ${built.sqlTool}`);
  return { ...built, how: 'go install' };
}

/**
 * Creates the lock file holding this process's id, atomically (written aside, then linked into
 * place, so nobody reads it empty); undefined when a live process holds it. A dead holder's lock
 * is taken over.
 */
function takeBuildLock(): true | undefined {
  const mine = `${BUILD_LOCK}.${process.pid}`;
  writeFileSync(mine, String(process.pid));
  try {
    for (;;) {
      try {
        linkSync(mine, BUILD_LOCK);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (holderAlive()) return undefined;
        rmSync(BUILD_LOCK, { force: true });
      }
    }
  } finally {
    rmSync(mine, { force: true });
  }
}

function holderAlive(): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(BUILD_LOCK, 'utf8').trim());
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitForBuildLock(): Promise<void> {
  while (holderAlive()) await new Promise((resolve) => setTimeout(resolve, 2000));
}
