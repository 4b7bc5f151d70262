import type { Logger } from 'pino';
import type { Env } from './pg/connect';
import type { BackupStorage } from './storage/storage';

/** Everything activities need from the outside world; the worker builds it, tests pass their own. */
export interface ActivityDeps {
  /** The worker's environment: where password_env references are looked up. */
  readonly env: Env;
  readonly logger: Logger;
  /** Directory of pg_dump / pg_restore; PATH when undefined. */
  readonly pgBinDir: string | undefined;
  /** Server binaries (initdb, pg_ctl) of each PostgreSQL major version, for local clusters. */
  readonly clusterBinDirs: Readonly<Record<number, string>>;
  /** The major version of a new local cluster when the input names none. */
  readonly defaultClusterVersion: number;
  /** Where local clusters keep their data directories. */
  readonly clustersDir: string;
  /** OS user that owns and runs local clusters when the worker runs as root. */
  readonly clusterUser: string;
  /** The worker's endpoint-switch command, run at cutover with the migration in its environment. */
  readonly switchHookCommand?: string | undefined;
  /** The storage that serves a location. */
  readonly storageFor: (location: string) => BackupStorage;
}
