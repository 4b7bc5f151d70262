import type { ConnSpec } from '../domain/connection';
import type { ToolTrace } from './orphans';
import { libpqEnv, type Env } from './pg/connect';
import { runTool, toolFailure } from './tools';

/** Options of one pg_restore run into a target database. */
export interface PgRestoreOptions {
  readonly jobs: number;
  /** More flags, e.g. --clean --if-exists for a retried post-data. */
  readonly extraArgs?: readonly string[];
  readonly signal: AbortSignal;
  /** Called once for each item pg_restore reports in its verbose output. */
  readonly onItem: (done: number) => void;
  /** The step's trace (stopEarlierAttempt): pg_restore's pid file, and its sessions' application_name. */
  readonly trace?: ToolTrace;
}

/**
 * `pg_restore --format=directory -j N --exit-on-error` of a directory archive into the target
 * database; throws ToolFailed (retryable) with pg_restore's last words when it fails.
 */
export async function runPgRestore(
  pgRestore: string,
  dumpDir: string,
  target: ConnSpec,
  env: Env,
  options: PgRestoreOptions,
): Promise<void> {
  let done = 0;
  const result = await runTool(
    pgRestore,
    [
      '--format=directory',
      `--jobs=${options.jobs}`,
      '--exit-on-error',
      '--verbose',
      '--no-password',
      ...(options.extraArgs ?? []),
      // pg_restore writes a script unless --dbname is given. An empty URI leaves every setting to
      // the environment (libpqEnv: PGDATABASE and the rest): a database name on the command line
      // with `=` in it would be read by libpq as a connection string, and could go elsewhere.
      '--dbname=postgresql://',
      dumpDir,
    ],
    {
      env: {
        ...libpqEnv(target, env, 'target'),
        // Its sessions carry the step's name, so a later attempt can end them from any host.
        ...(options.trace ? { PGAPPNAME: options.trace.appName } : {}),
      },
      ...(options.trace ? { pidFile: options.trace.pidFile } : {}),
      signal: options.signal,
      onLine: (line) => {
        if (/finished item|processing item|creating /.test(line)) options.onItem(++done);
      },
    },
  );
  if (result.code !== 0) throw toolFailure('pg_restore', result.stderrTail, 'target');
}
