import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TLSConfig } from '@temporalio/client';
import {
  loadClientConfigFromToml,
  loadClientConfigProfile,
  toClientOptions,
  type ClientConfigProfile,
  type ConfigDataSource,
} from '@temporalio/envconfig';
import { DEFAULTS } from '../domain/constants';
import { ErrorCode, PgferryError } from '../domain/errors';

/**
 * How a pgferry process reaches Temporal: read by `@temporalio/envconfig` exactly as the Temporal
 * CLI and SDKs read it (TEMPORAL_* variables over a profile of `temporal.toml`). The CLI, the
 * library, the worker and `chatops serve` all take it from here.
 */
export interface TemporalConnection {
  readonly address: string;
  readonly namespace: string;
  /** TLS (with the certificates' contents); undefined: plaintext. */
  readonly tls: TLSConfig | undefined;
  /** Sent as `Authorization: Bearer …` (Temporal Cloud); never printed. */
  readonly apiKey: string | undefined;
  /** Extra gRPC headers (`grpc_meta`, TEMPORAL_GRPC_META_*). */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  /** The profile read from the config file, when the file had it. */
  readonly profile: string | undefined;
  /** The config file that was read, when there was one. */
  readonly configFile: string | undefined;
}

/** What `Connection.connect` and `NativeConnection.connect` take for a TemporalConnection. */
export interface TemporalConnectOptions {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
  metadata?: Record<string, string>;
}

const DEFAULT_PROFILE = 'default';

/**
 * The file envconfig reads: TEMPORAL_CONFIG_FILE, else `temporalio/temporal.toml` in the user's
 * config folder (XDG_CONFIG_HOME, else ~/.config; macOS and Windows as envconfig has it).
 */
export function temporalConfigFile(env: NodeJS.ProcessEnv): string | undefined {
  if (env.TEMPORAL_CONFIG_FILE) return env.TEMPORAL_CONFIG_FILE;
  let dir: string | undefined;
  if (process.platform === 'win32') dir = env.APPDATA;
  else if (process.platform === 'darwin')
    dir = env.HOME ? path.join(env.HOME, 'Library', 'Application Support') : undefined;
  else if (env.XDG_CONFIG_HOME) dir = path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : undefined;
  else dir = env.HOME ? path.join(env.HOME, '.config') : undefined;
  return dir === undefined ? undefined : path.join(dir, 'temporalio', 'temporal.toml');
}

function configFileError(file: string, message: string, cause: unknown): PgferryError {
  return new PgferryError(ErrorCode.InvalidInput, `TEMPORAL_CONFIG_FILE: ${file} ${message}`, {
    field: 'TEMPORAL_CONFIG_FILE',
    fix: `correct ${file} (a temporal.toml with [profile.NAME] tables, as \`temporal config\` writes), or point TEMPORAL_CONFIG_FILE elsewhere`,
    cause,
  });
}

/** The config file's text and its profile names; none when there is no file (as envconfig, not an error). */
function readConfigFile(file: string | undefined): { data: string; profiles: string[] } | undefined {
  if (file === undefined) return undefined;
  let data: string;
  try {
    data = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw configFileError(file, 'cannot be read', err);
  }
  try {
    return {
      data,
      profiles: Object.keys(loadClientConfigFromToml(Buffer.from(data), { strict: false }).profiles),
    };
  } catch (err) {
    // envconfig cannot take a file without any [profile.…] table (it reads `profile` of it): none.
    if (err instanceof TypeError) return { data, profiles: [] };
    throw configFileError(file, `is not a valid temporal.toml: ${(err as Error).message}`, err);
  }
}

/** The variable or the file key a TLS setting came from, to name it in an error. */
function tlsField(env: NodeJS.ProcessEnv, profile: string, key: string): string {
  const variable = `TEMPORAL_TLS_${key.toUpperCase()}`;
  return env[variable] !== undefined ? variable : `profile.${profile}.tls.${key}`;
}

/** Checks that every TLS file the profile names can be read, naming the first that cannot. */
function checkTlsFiles(env: NodeJS.ProcessEnv, profileName: string, tls: ClientConfigProfile['tls']): void {
  if (!tls || tls.disabled) return;
  const files: [ConfigDataSource | undefined, string, string][] = [
    [tls.clientCert, 'client_cert_path', 'the client certificate (PEM)'],
    [tls.clientKey, 'client_key_path', "the client certificate's private key (PEM)"],
    [tls.serverCACert, 'server_ca_cert_path', "the CA certificate that signed the server's (PEM)"],
  ];
  for (const [source, key, what] of files) {
    if (!source || !('path' in source)) continue;
    const field = tlsField(env, profileName, key);
    try {
      readFileSync(source.path);
    } catch (err) {
      throw new PgferryError(
        ErrorCode.InvalidInput,
        `${field}: ${source.path} cannot be read (${(err as { code?: string }).code ?? 'error'})`,
        { field, fix: `point ${field} at ${what}, readable by this user`, cause: err },
      );
    }
  }
  if (Boolean(tls.clientCert) !== Boolean(tls.clientKey)) {
    const [given, missing] = tls.clientCert
      ? ['client_cert_path', 'client_key_path']
      : ['client_key_path', 'client_cert_path'];
    // The missing one belongs where the given one came from: a variable, or the profile.
    const field = tlsField(env, profileName, given).startsWith('TEMPORAL_')
      ? `TEMPORAL_TLS_${missing.toUpperCase()}`
      : `profile.${profileName}.tls.${missing}`;
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `${field}: missing; a client certificate needs its key and a key its certificate`,
      {
        field,
        fix: `set ${field} too (or neither the client certificate nor its key)`,
      },
    );
  }
}

/**
 * Reads the Temporal connection from `env` (empty variables are unset, as compose makes them) and
 * the profile of `temporal.toml` named by `profile`, else TEMPORAL_PROFILE, else `default` when the
 * file has it. A named profile that is not there, an unreadable or invalid file, or a TLS file that
 * cannot be read is InvalidInput naming the setting and the fix, before anything connects.
 */
export function loadTemporalConnection(
  env: NodeJS.ProcessEnv,
  options: { profile?: string | undefined } = {},
): TemporalConnection {
  // Empty TEMPORAL_GRPC_META_* remove a header of the file: envconfig's meaning, kept.
  const vars = Object.fromEntries(
    Object.entries(env).filter(
      (e): e is [string, string] =>
        e[1] !== undefined && (e[1] !== '' || e[0].startsWith('TEMPORAL_GRPC_META_')),
    ),
  );
  const named = options.profile ?? vars.TEMPORAL_PROFILE;
  const file = temporalConfigFile(vars);
  const config = readConfigFile(file);
  if (named !== undefined && !config?.profiles.includes(named)) {
    const where = config
      ? `${file} has ${config.profiles.length ? config.profiles.join(', ') : 'no profiles'}`
      : `there is no config file (${file ?? 'no HOME'})`;
    throw new PgferryError(ErrorCode.InvalidInput, `profile: no profile "${named}": ${where}`, {
      field: 'profile',
      fix: `name a profile of the file with --profile or TEMPORAL_PROFILE, or add [profile.${named}] to it (TEMPORAL_CONFIG_FILE says which file)`,
    });
  }
  const profileName = named ?? DEFAULT_PROFILE;
  const profile = loadClientConfigProfile({
    ...(named !== undefined ? { profile: named } : {}),
    ...(config && config.profiles.length > 0
      ? { configSource: { data: config.data } }
      : { disableFile: true }),
    overrideEnvVars: vars,
  });
  checkTlsFiles(vars, profileName, profile.tls);
  const { connectionOptions, namespace } = toClientOptions(profile);
  const tls = connectionOptions.tls === true ? {} : connectionOptions.tls || undefined;
  return {
    address: connectionOptions.address ?? DEFAULTS.temporalAddress,
    namespace: namespace ?? DEFAULTS.temporalNamespace,
    tls,
    apiKey: connectionOptions.apiKey,
    metadata: profile.grpcMeta,
    profile: config?.profiles.includes(profileName) ? profileName : undefined,
    configFile: config ? file : undefined,
  };
}

/** A plaintext connection to `address`: the dev server that `pgferry dev` and the demo start. */
export function plainTemporalConnection(address: string, namespace: string): TemporalConnection {
  return {
    address,
    namespace,
    tls: undefined,
    apiKey: undefined,
    metadata: undefined,
    profile: undefined,
    configFile: undefined,
  };
}

/** The options both Temporal connection classes take. */
export function temporalConnectOptions(connection: TemporalConnection): TemporalConnectOptions {
  return {
    address: connection.address,
    ...(connection.tls ? { tls: connection.tls } : {}),
    ...(connection.apiKey !== undefined ? { apiKey: connection.apiKey } : {}),
    ...(connection.metadata ? { metadata: { ...connection.metadata } } : {}),
  };
}

/** How the connection is secured, in a few words (no secret): for messages and `ready` lines. */
export function describeTemporalSecurity(connection: TemporalConnection): string {
  const parts: string[] = [];
  if (connection.tls)
    parts.push(
      connection.tls.clientCertPair ? 'TLS with a client certificate' : 'TLS without a client certificate',
    );
  else parts.push('plaintext');
  if (connection.apiKey !== undefined) parts.push('API key');
  if (connection.profile !== undefined)
    parts.push(`profile ${connection.profile} of ${connection.configFile ?? '?'}`);
  return parts.join(', ');
}

/** Temporal did not answer, or refused the connection: named, with what was tried and the way on. */
export function temporalUnavailable(
  cause: unknown,
  connection: TemporalConnection | string | undefined,
): PgferryError {
  const address = typeof connection === 'string' ? connection : connection?.address;
  const how = typeof connection === 'object' ? ` (${describeTemporalSecurity(connection)})` : '';
  const reason = cause instanceof Error ? `: ${cause.message.split('\n')[0]}` : '';
  return new PgferryError(
    ErrorCode.TemporalUnavailable,
    `Temporal is not reachable at ${address ?? 'its address'}${how}${reason}`,
    {
      field: 'TEMPORAL_ADDRESS',
      fix:
        'start it with `pgferry dev`, or set TEMPORAL_ADDRESS (or a temporal.toml profile: --profile, TEMPORAL_PROFILE) to your Temporal server; ' +
        'a server that requires TLS needs tls in the profile or TEMPORAL_TLS=true, one that requires a client certificate also client_cert_path and client_key_path ' +
        '(TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH), Temporal Cloud with an API key TEMPORAL_API_KEY',
      cause,
    },
  );
}
