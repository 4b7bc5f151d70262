import { existsSync } from 'node:fs';
import { chmod, link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { z } from 'zod';
import { DEFAULTS } from '../domain/constants';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { CodecKey } from './codec';
import { loadTemporalConnection, type TemporalConnection } from './temporal-connection';

const EnvSchema = z.object({
  PGFERRY_STATE_DIR: z.string().min(1).default(DEFAULTS.stateDir),
  PGFERRY_CODEC_KEY: z.string().optional(),
  PGFERRY_CODEC_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .default('k1'),
  PGFERRY_CODEC_KEY_FILE: z.string().optional(),
  PGFERRY_PG_BINDIR: z.string().optional(),
  PGFERRY_CLUSTERS_DIR: z.string().optional(),
  PGFERRY_CLUSTER_BINDIRS: z
    .string()
    .regex(/^\d+=[^,]+(,\d+=[^,]+)*$/, 'expected MAJOR=DIR[,MAJOR=DIR…], e.g. 15=/usr/lib/postgresql/15/bin')
    .optional(),
  PGFERRY_CLUSTER_VERSION: z.coerce.number().int().min(12).optional(),
  PGFERRY_CLUSTER_USER: z.string().min(1).default('postgres'),
  PGFERRY_DATA_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(DEFAULTS.dataConcurrency),
  PGFERRY_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  PGFERRY_SWITCH_HOOK_COMMAND: z.string().min(1).optional(),
  PGFERRY_CODEC_TOKEN: z.string().min(1).optional(),
  SLACK_BOT_TOKEN: z.string().min(1).optional(),
  SLACK_API_URL: z.url({ protocol: /^https?$/ }).default('https://slack.com/api/'),
  PGFERRY_SLACK_CHANNEL: z
    .string()
    .regex(/^[CGD][A-Z0-9]{2,}$/, 'expected a Slack channel id such as C0123ABCD (not its #name)')
    .optional(),
  PGFERRY_WEBHOOK_SECRET: z.string().min(1).optional(),
});

/** The worker's and the client's settings, parsed from the environment. */
export interface Config {
  /** Where Temporal is and how to reach it (TEMPORAL_* variables and temporal.toml profiles). */
  readonly temporal: TemporalConnection;
  readonly stateDir: string;
  readonly codecKeyFile: string;
  readonly codecKey: string | undefined;
  readonly codecKeyId: string;
  readonly pgBinDir: string | undefined;
  readonly clustersDir: string;
  readonly clusterBinDirs: Readonly<Record<number, string>>;
  readonly defaultClusterVersion: number;
  readonly clusterUser: string;
  readonly dataConcurrency: number;
  readonly logLevel: string;
  /** A command the worker runs at cutover (set on the worker only: workflow input never names a command). */
  readonly switchHookCommand: string | undefined;
  /** The bearer token the codec server requires, when set. */
  readonly codecToken: string | undefined;
  /** The Slack bot token (xoxb-…) the worker posts notifications with; slack: targets need it. */
  readonly slackBotToken: string | undefined;
  /** Slack's Web API base URL, ending in `/` (tests point it at a stand-in). */
  readonly slackApiUrl: string;
  /** A channel id every migration also notifies, with or without --notify. */
  readonly slackChannel: string | undefined;
  /** The HMAC-SHA256 key that signs webhook notifications; unsigned (with a warning) without it. */
  readonly webhookSecret: string | undefined;
}

function discoverServerBinDirs(): Record<number, string> {
  const out: Record<number, string> = {};
  for (const major of [12, 13, 14, 15, 16, 17, 18]) {
    const dir = `/usr/lib/postgresql/${major}/bin`;
    if (existsSync(path.join(dir, 'initdb'))) out[major] = dir;
  }
  return out;
}

/**
 * Parses settings from the environment, and the Temporal connection from it and the profile of
 * temporal.toml (`profile`, else TEMPORAL_PROFILE); every problem is named by its variable or key.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  options: { profile?: string | undefined } = {},
): Config {
  // An empty variable (what compose makes of an unset one) means unset.
  const parsed = EnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue?.path[0] ?? 'environment');
    throw new PgferryError(ErrorCode.InvalidInput, `${field}: ${issue?.message ?? 'invalid'}`, {
      field,
      fix: `correct ${field} in the environment`,
    });
  }
  const e = parsed.data;
  const stateDir = path.resolve(e.PGFERRY_STATE_DIR);
  const clusterBinDirs = e.PGFERRY_CLUSTER_BINDIRS
    ? Object.fromEntries(
        e.PGFERRY_CLUSTER_BINDIRS.split(',').map((pair) => {
          const at = pair.indexOf('=');
          return [Number(pair.slice(0, at)), pair.slice(at + 1)];
        }),
      )
    : discoverServerBinDirs();
  const majors = Object.keys(clusterBinDirs).map(Number);
  return {
    temporal: loadTemporalConnection(env, options),
    stateDir,
    codecKeyFile: path.resolve(e.PGFERRY_CODEC_KEY_FILE ?? path.join(stateDir, 'codec-key.json')),
    codecKey: e.PGFERRY_CODEC_KEY,
    codecKeyId: e.PGFERRY_CODEC_KEY_ID,
    pgBinDir: e.PGFERRY_PG_BINDIR,
    clustersDir: path.resolve(e.PGFERRY_CLUSTERS_DIR ?? path.join(stateDir, 'clusters')),
    clusterBinDirs,
    defaultClusterVersion: e.PGFERRY_CLUSTER_VERSION ?? (majors.includes(15) ? 15 : Math.max(0, ...majors)),
    clusterUser: e.PGFERRY_CLUSTER_USER,
    dataConcurrency: e.PGFERRY_DATA_CONCURRENCY,
    logLevel: e.PGFERRY_LOG_LEVEL,
    switchHookCommand: e.PGFERRY_SWITCH_HOOK_COMMAND,
    codecToken: e.PGFERRY_CODEC_TOKEN,
    slackBotToken: e.SLACK_BOT_TOKEN,
    // The Web API client appends the method name to the base: keep exactly one slash between them.
    slackApiUrl: e.SLACK_API_URL.endsWith('/') ? e.SLACK_API_URL : `${e.SLACK_API_URL}/`,
    slackChannel: e.PGFERRY_SLACK_CHANNEL,
    webhookSecret: e.PGFERRY_WEBHOOK_SECRET,
  };
}

/**
 * The codec key: PGFERRY_CODEC_KEY (base64 of 32 bytes) when set, else the key file, which is made
 * (mode 0600) on first use so that a dev setup encrypts out of the box.
 */
export async function loadCodecKey(config: Config): Promise<CodecKey> {
  if (config.codecKey !== undefined) {
    return { id: config.codecKeyId, key: Buffer.from(config.codecKey, 'base64') };
  }
  try {
    const stored = JSON.parse(await readFile(config.codecKeyFile, 'utf8')) as { id: string; key: string };
    return { id: stored.id, key: Buffer.from(stored.key, 'base64') };
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') {
      throw new PgferryError(
        ErrorCode.InvalidInput,
        `PGFERRY_CODEC_KEY_FILE: ${config.codecKeyFile} is not a pgferry key file`,
        {
          field: 'PGFERRY_CODEC_KEY_FILE',
          fix: 'remove it to have a new key made, or point PGFERRY_CODEC_KEY_FILE at the right file',
          cause: err,
        },
      );
    }
  }
  const made = { id: `${config.codecKeyId}-${randomBytes(3).toString('hex')}`, key: randomBytes(32) };
  await mkdir(path.dirname(config.codecKeyFile), { recursive: true });
  // Written whole under a private name, then linked into place: link() fails if the file exists, so
  // a process racing us never reads a half-written key, and the first one to link wins.
  const draft = `${config.codecKeyFile}.${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(draft, JSON.stringify({ id: made.id, key: made.key.toString('base64') }), { mode: 0o600 });
  try {
    await link(draft, config.codecKeyFile).catch((err: { code?: string }) => {
      if (err.code !== 'EEXIST') throw err;
    });
  } finally {
    await unlink(draft).catch(() => undefined);
  }
  await chmod(config.codecKeyFile, 0o600);
  // Another process may have won the race to create it: the file is the truth.
  const stored = JSON.parse(await readFile(config.codecKeyFile, 'utf8')) as { id: string; key: string };
  return { id: stored.id, key: Buffer.from(stored.key, 'base64') };
}
