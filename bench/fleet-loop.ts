import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { runOk } from './proc';

/**
 * What a user scripts instead of a fleet: the roles once (`pg_dumpall --roles-only | psql`), then
 * every database `createdb` + `pg_dump -Fc | pg_restore` under `xargs -P`. psql goes on past the
 * roles that exist already (postgres), as it does by default; a failed database fails the loop
 * (pipefail; xargs exits 123).
 */
const LOOP = `set -euo pipefail
pg_dumpall --roles-only --dbname="$SOURCE/postgres" | psql -X -q --dbname="$TARGET/postgres" >/dev/null 2>"$WORK/roles.err"
xargs -a "$WORK/databases" -P "$PARALLEL" -I{} bash -c 'set -euo pipefail
  createdb --maintenance-db="$TARGET/postgres" "$1"
  pg_dump -Fc --dbname="$SOURCE/$1" | pg_restore --dbname="$TARGET/$1"' _ {}
`;

/** One timed run of the loop. */
export interface LoopRun {
  readonly seconds: number;
  /** The script, as the report shows it. */
  readonly command: string;
}

/** Runs the loop from `sourceServer` into `targetServer` (postgres://USER@HOST:PORT each) and times it. */
export async function runDumpRestoreLoop(options: {
  sourceServer: string;
  targetServer: string;
  databases: readonly string[];
  parallel: number;
}): Promise<LoopRun> {
  const work = await mkdtemp(path.join(tmpdir(), 'pgferry-bench-loop-'));
  try {
    await writeFile(path.join(work, 'databases'), `${options.databases.join('\n')}\n`);
    const began = performance.now();
    await runOk('bash', ['-c', LOOP], {
      env: {
        ...process.env,
        SOURCE: options.sourceServer,
        TARGET: options.targetServer,
        WORK: work,
        PARALLEL: String(options.parallel),
      },
    });
    return {
      seconds: (performance.now() - began) / 1000,
      command: `pg_dumpall --roles-only | psql; then xargs -P ${options.parallel}: createdb DB && pg_dump -Fc DB | pg_restore -d DB`,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
