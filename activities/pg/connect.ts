import { Client, type ClientConfig } from 'pg';
import pgpass from 'pgpass';
import type { ConnSpec } from '../../domain/connection';
import { ErrorCode, PgferryError } from '../../domain/errors';
import type { TableRef } from '../../domain/tables';
import { classifyPgError, type PgStep } from './errors';

/** Where passwords come from on the worker: its environment (and, through libpq and pg, ~/.pgpass). */
export type Env = Readonly<Record<string, string | undefined>>;

/** The password for a spec, from the env var it names; undefined lets the password file answer. */
export function resolvePassword(spec: ConnSpec, env: Env, field: string): string | undefined {
  if (spec.passwordEnv === undefined) return undefined;
  const value = env[spec.passwordEnv];
  if (value === undefined) {
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `${field}: the URL names password_env=${spec.passwordEnv}, but the worker has no such environment variable`,
      { field, fix: `set ${spec.passwordEnv} in the worker's environment and restart the worker` },
    );
  }
  return value;
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
              fix: "put it in the worker's ~/.pgpass (or the file PGPASSFILE names), or in an env var on the worker named by ?password_env=NAME",
            },
          ),
        );
      });
    });
}

/** node-postgres settings for a spec. A password never comes from workflow input. */
export function clientConfig(spec: ConnSpec, env: Env, field: string): ClientConfig {
  const password = resolvePassword(spec, env, field) ?? passwordFileLookup(spec, field);
  const ssl =
    spec.sslmode === undefined ||
    spec.sslmode === 'disable' ||
    spec.sslmode === 'prefer' ||
    spec.sslmode === 'allow'
      ? undefined
      : { rejectUnauthorized: spec.sslmode === 'verify-full' || spec.sslmode === 'verify-ca' };
  return {
    host: spec.host,
    port: spec.port,
    user: spec.user,
    database: spec.database,
    password,
    ...(ssl === undefined ? {} : { ssl }),
    application_name: 'pgferry',
    connectionTimeoutMillis: 10_000,
  };
}

/** Environment for a libpq tool (pg_dump, pg_restore, psql) reaching this spec. */
export function libpqEnv(spec: ConnSpec, env: Env, field: string): Record<string, string> {
  const out: Record<string, string> = {
    PGHOST: spec.host,
    PGPORT: String(spec.port),
    PGUSER: spec.user,
    PGDATABASE: spec.database,
    PGAPPNAME: 'pgferry',
    PGCONNECT_TIMEOUT: '10',
  };
  if (spec.sslmode) out.PGSSLMODE = spec.sslmode;
  const password = resolvePassword(spec, env, field);
  if (password !== undefined) out.PGPASSWORD = password;
  return out;
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
  const client = new Client(clientConfig(spec, env, named.field));
  trackConnection(client);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw classifyPgError(err, { field: named.field, connecting: spec });
  }
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
