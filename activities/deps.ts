import type { Logger } from 'pino';
import type { ActivityMetrics } from './metrics';
import type { Env } from './pg/connect';
import type { StorageField } from './storage/azblob-client';
import type { BackupStorage } from './storage/storage';

/** Where notifications go out: the worker's Slack bot and webhook signing settings. */
export interface NotifySettings {
  /** The bot token (xoxb-…); slack: targets fail with InvalidInput naming SLACK_BOT_TOKEN without it. */
  readonly slackBotToken?: string | undefined;
  /** Slack's Web API base URL, ending in `/`. */
  readonly slackApiUrl: string;
  /** A channel id every migration notifies as well. */
  readonly slackChannel?: string | undefined;
  /** The HMAC-SHA256 key of webhook signatures; webhooks go out unsigned (with a warning) without it. */
  readonly webhookSecret?: string | undefined;
}

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
  /** Slack and webhook settings for notifications; none configured when absent. */
  readonly notify?: NotifySettings | undefined;
  /** The storage that serves a location; `field` is the input field its errors name (`to` by default). */
  readonly storageFor: (location: string, field?: StorageField) => BackupStorage;
  /** Where copy and replication figures go (the worker's /metrics); none kept when absent. */
  readonly metrics?: ActivityMetrics | undefined;
}
