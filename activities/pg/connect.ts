import { Client, type ClientConfig } from 'pg';
import pgpass from 'pgpass';
import {
  PASSWORD_ENV_PREFIX,
  passwordEnvAllowed,
  passwordEnvFix,
  type ConnSpec,
} from '../../domain/connection';
import { ErrorCode, PgferryError } from '../../domain/errors';
import type { TableRef } from '../../domain/tables';
import { classifyPgError, type PgStep } from './errors';
import { SqlState } from './sqlstate';
import { isTlsHandshakeError, tlsPlan, type TlsAttempt, type TlsPlan } from './tls';

/** Where passwords come from on the worker: its environment (and, through libpq and pg, ~/.pgpass). */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Refuses a password_env that the worker does not hand out as a password: one without the
 * PGFERRY_PASSWORD_ prefix that its PGFERRY_PASSWORD_ENVS does not list, or one that is not set.
 * The URL is workflow input and names the server the password goes to, so this is what keeps
 * the worker's other secrets (a bot token, a cloud key) from going to whoever asks.
 */
export function checkPasswordEnv(spec: ConnSpec, env: Env, field: string): void {
  const name = spec.passwordEnv;
  if (name === undefined) return;
  if (!passwordEnvAllowed(name, env.PGFERRY_PASSWORD_ENVS)) {
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `${field}: password_env=${name} is not a password variable: the worker sends only variables named ${PASSWORD_ENV_PREFIX}… or listed in its PGFERRY_PASSWORD_ENVS`,
      { field, fix: passwordEnvFix(name) },
    );
  }
  if (env[name] === undefined) {
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `${field}: the URL names password_env=${name}, but the worker has no such environment variable`,
      { field, fix: `set ${name} in the worker's environment and restart the worker` },
    );
  }
}

/** The password for a spec, from the env var it names (see checkPasswordEnv); undefined lets the password file answer. */
export function resolvePassword(spec: ConnSpec, env: Env, field: string): string | undefined {
  checkPasswordEnv(spec, env, field);
  return spec.passwordEnv === undefined ? undefined : env[spec.passwordEnv];
}

/**
 * The password from libpq's password file (PGPASSFILE or ~/.pgpass), asked for only when the
 * server wants one; none there is AuthFailed, named, since no retry can supply it.
 */
function passwordFileLookup(spec: ConnSpec, field: string): () => Promise<string> {
  return () =>
    new Promise((resolve, reject) => {
      pgpass({ host: spec.host, port: spec.port, database: spec.database, user: spec.user }, (password) => {
        if (password !== undefined) return resolve(password);
        reject(
          new PgferryError(
            ErrorCode.AuthFailed,
            `${field}: the server asks for a password for user "${spec.user}", and the worker has none`,
            {
              field,
              fix: `put it in the worker's ~/.pgpass (or the file PGPASSFILE names), or in an env var on the worker named ${PASSWORD_ENV_PREFIX}… and add ?password_env=NAME to the URL`,
            },
          ),
        );
      });
    });
}

/**
 * node-postgres settings for a spec, for one TLS attempt (by default the first that its sslmode
 * makes; openClient makes the others). A password never comes from workflow input.
 */
export function clientConfig(
  spec: ConnSpec,
  env: Env,
  field: string,
  ssl: TlsAttempt = tlsPlan(spec, env, field).attempts[0],
): ClientConfig {
  const password = resolvePassword(spec, env, field) ?? passwordFileLookup(spec, field);
  return {
    host: spec.host,
    port: spec.port,
    user: spec.user,
    database: spec.database,
    password,
    // Always set: node-postgres would otherwise read PGSSLMODE of the worker instead of the URL.
    ssl,
    application_name: 'pgferry',
    connectionTimeoutMillis: 10_000,
  };
}

/**
 * Environment for a libpq tool (pg_dump, pg_restore, psql) reaching this spec. The tool inherits
 * the worker's environment, so what the URL does not say is set here too: PGSSLMODE (the URL's,
 * `prefer` when unset) and PGPASSWORD (empty, so a PGPASSWORD of the worker never goes to the
 * URL's server; libpq then reads the password file). The database goes only here, never on the
 * command line, where libpq would read a name with `=` in it as a connection string.
 */
export function libpqEnv(spec: ConnSpec, env: Env, field: string): Record<string, string> {
  return {
    PGHOST: spec.host,
    PGPORT: String(spec.port),
    PGUSER: spec.user,
    PGDATABASE: spec.database,
    PGAPPNAME: 'pgferry',
    PGCONNECT_TIMEOUT: '10',
    ...tlsPlan(spec, env, field).libpqEnv,
    PGPASSWORD: resolvePassword(spec, env, field) ?? '',
  };
}

// Whether each client's connection has closed, as its own events tell (see trackConnection).
const connectionState = new WeakMap<Client, { gone: boolean }>();

/**
 * Watches a client's connection: an idle client whose server goes away emits 'error', which kills
 * the worker without a listener; and once it has closed, an error without a code is its loss.
 */
export function trackConnection(client: Client): void {
  const state = { gone: false };
  connectionState.set(client, state);
  client.on('error', () => (state.gone = true));
  client.on('end', () => (state.gone = true));
}

/** True when the client's connection is known to have closed (only for clients that trackConnection watches). */
export function connectionGone(client: Client): boolean {
  return connectionState.get(client)?.gone ?? false;
}

/**
 * Whether libpq's allow and prefer answer a failed attempt with the other kind of connection: the
 * server refused TLS, refused this kind of connection in pg_hba.conf (28000), or the TLS
 * handshake failed.
 */
function otherKindMayWork(err: unknown, refusedTls: boolean): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code === SqlState.InvalidAuthorization || isTlsHandshakeError(code);
  return refusedTls;
}

// The server's answer to a TLS request: one byte, S or N (node-postgres reports an N only in words).
const REFUSES_TLS = 'N'.charCodeAt(0);

// When each server (host:port) last refused TLS. libpq's prefer goes on in plain text on the same
// socket after the server's N; node-postgres needs a second connection (a second backend on the
// server), so for a while prefer goes plain at once to a server that just refused TLS. An attacker
// who can answer N could downgrade prefer anyway: remembering it weakens nothing.
const refusedTlsAt = new Map<string, number>();
const TLS_REFUSAL_MEMORY_MS = 60_000;

function serverKey(spec: ConnSpec): string {
  return `${spec.host}:${spec.port}`;
}

/** prefer's attempts, plain first while its server is remembered to refuse TLS. */
function rememberedAttempts(spec: ConnSpec, attempts: TlsPlan['attempts']): TlsPlan['attempts'] {
  if ((spec.sslmode ?? 'prefer') !== 'prefer') return attempts;
  const refused = refusedTlsAt.get(serverKey(spec));
  // Plain first, and TLS still when the server now refuses plain connections (as allow does).
  return refused !== undefined && Date.now() - refused < TLS_REFUSAL_MEMORY_MS
    ? [false, attempts[0]]
    : attempts;
}

/**
 * Opens a connected client for a spec (with `extra` settings), trying TLS as its sslmode says
 * (tlsPlan); the client is tracked (trackConnection). A failure to connect comes back named by
 * classifyPgError (an unreachable server as the step's firstContact says); a server that refuses
 * TLS where the sslmode requires it, as ConnectionFailed. `step` is the field of the server, or a
 * PgStep.
 */
export async function openClient(
  spec: ConnSpec,
  env: Env,
  step: string | PgStep,
  extra: Partial<ClientConfig> = {},
): Promise<Client> {
  const named: PgStep = typeof step === 'string' ? { field: step } : step;
  const { field } = named;
  const attempts = rememberedAttempts(spec, tlsPlan(spec, env, field).attempts);
  for (const [index, ssl] of attempts.entries()) {
    const client = new Client({ ...clientConfig(spec, env, field, ssl), ...extra });
    trackConnection(client);
    let answer: number | undefined;
    if (ssl !== false) client.connection.stream.once('data', (chunk: Buffer) => (answer = chunk[0]));
    try {
      await client.connect();
      if (answer !== undefined) refusedTlsAt.delete(serverKey(spec));
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      const refusedTls = answer === REFUSES_TLS;
      if (refusedTls) refusedTlsAt.set(serverKey(spec), Date.now());
      if (index < attempts.length - 1 && otherKindMayWork(err, refusedTls)) continue;
      if (refusedTls) throw tlsRefused(spec, field, err);
      throw classifyPgError(err, { ...named, connecting: spec });
    }
  }
  throw new Error('unreachable: the last attempt returns or throws');
}

/** A server that answered the TLS request with no: the sslmode requires TLS, so no connection. */
function tlsRefused(spec: ConnSpec, field: string, cause: unknown): PgferryError {
  return new PgferryError(
    ErrorCode.ConnectionFailed,
    `${field}: ${spec.host}:${spec.port} does not accept TLS connections, and sslmode=${spec.sslmode ?? 'prefer'} requires TLS`,
    {
      field,
      fix: "turn on ssl in the server's postgresql.conf (ssl = on, with a certificate), or use sslmode=prefer in the URL",
      cause,
    },
  );
}

/** Runs statements in one transaction on `client` (all or nothing). */
export async function inTransaction(client: Client, statements: readonly string[]): Promise<void> {
  await client.query('BEGIN');
  try {
    for (const sql of statements) await client.query(sql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Opens a client, runs `fn`, and always closes the client. Whatever fails comes back named by the
 * one classifier (classifyPgError): connection errors as bad input or a lost connection, query
 * errors by their SQLSTATE. `step` is the field of the server ('source', 'target'), or a PgStep that
 * also says what was being done and how to fix a missing right.
 */
export async function withClient<T>(
  spec: ConnSpec,
  env: Env,
  step: string | PgStep,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  const named: PgStep = typeof step === 'string' ? { field: step } : step;
  const client = await openClient(spec, env, named);
  try {
    return await fn(client);
  } catch (err) {
    throw classifyPgError(err, { ...named, connectionGone: connectionGone(client) });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Runs one step on a client, naming what it throws by that step: for steps that talk to the other
 * side from inside a withClient, or that say more precisely what they do than the whole activity.
 */
export async function inStep<T>(client: Client, step: PgStep, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classifyPgError(err, { ...step, connectionGone: connectionGone(client) });
  }
}

/**
 * Runs `fn` inside one transaction on one client; rolls back on error. Errors are named by the
 * withClient (or inStep) around it.
 */
export async function withTransaction<T>(client: Client, fn: () => Promise<T>, begin = 'BEGIN'): Promise<T> {
  await client.query(begin);
  try {
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Quotes an identifier for SQL: the one way pgferry ever puts a name into a statement. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A table, schema-qualified and quoted. */
export function tableSql(table: TableRef): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
}

/** Quotes a string literal for SQL statements that take no parameters (CREATE DATABASE, COMMENT). */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
