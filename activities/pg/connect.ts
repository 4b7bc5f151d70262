import { Client, type ClientConfig } from 'pg';
import pgpass from 'pgpass';
import { connectionLabel, type ConnSpec } from '../../domain/connection';
import { ErrorCode, PgferryError } from '../../domain/errors';
import { SqlState, UNREACHABLE_ERRNOS } from './sqlstate';

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

interface PgLikeError {
  code?: string;
  message?: string;
}

/**
 * Names a connection error: unreachable, wrong password, missing database, no rights. Other
 * errors come back as ConnectionLost, which is retryable.
 */
export function classifyConnectError(err: unknown, spec: ConnSpec, field: string): PgferryError {
  if (err instanceof PgferryError) return err;
  const e = (err ?? {}) as PgLikeError;
  const where = connectionLabel(spec);
  const message = e.message ?? String(err);
  if (e.code !== undefined && UNREACHABLE_ERRNOS.has(e.code)) {
    return new PgferryError(
      ErrorCode.ConnectionFailed,
      `${field}: cannot reach ${spec.host}:${spec.port} (${e.code})`,
      {
        field,
        fix: 'check the host and port, and that the server is running and accepts TCP connections from the worker',
        cause: err,
      },
    );
  }
  if (/timeout/i.test(message) && e.code === undefined) {
    return new PgferryError(
      ErrorCode.ConnectionFailed,
      `${field}: connecting to ${spec.host}:${spec.port} timed out`,
      {
        field,
        fix: 'check the host, the port and the firewall between the worker and the server',
        cause: err,
      },
    );
  }
  switch (e.code) {
    case SqlState.InvalidPassword:
      return new PgferryError(
        ErrorCode.AuthFailed,
        `${field}: password authentication failed for user "${spec.user}" on ${where}`,
        {
          field,
          fix: "put the right password in the worker's ~/.pgpass (or PGPASSFILE), or in the env var that ?password_env= names",
          cause: err,
        },
      );
    case SqlState.InvalidAuthorization:
      return new PgferryError(
        ErrorCode.AuthFailed,
        `${field}: the server refused user "${spec.user}": ${message}`,
        {
          field,
          fix: "check the user name and the server's pg_hba.conf, or pass a password",
          cause: err,
        },
      );
    case SqlState.InvalidCatalogName:
      return new PgferryError(
        ErrorCode.DatabaseMissing,
        `${field}: database "${spec.database}" does not exist on ${spec.host}:${spec.port}`,
        {
          field,
          fix: 'check the database name at the end of the URL',
          cause: err,
        },
      );
    case SqlState.InsufficientPrivilege:
      return new PgferryError(
        ErrorCode.PermissionDenied,
        `${field}: user "${spec.user}" lacks a privilege: ${message}`,
        {
          field,
          fix: 'grant the user the rights it needs, or use a superuser',
          cause: err,
        },
      );
    default:
      return new PgferryError(ErrorCode.ConnectionLost, `${field}: ${message}`, { field, cause: err });
  }
}

/** Opens a client, runs `fn`, and always closes the client. Connection errors come back named. */
export async function withClient<T>(
  spec: ConnSpec,
  env: Env,
  field: string,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client(clientConfig(spec, env, field));
  // An idle client whose server goes away emits 'error'; without a listener that kills the worker.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw classifyConnectError(err, spec, field);
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs `fn` inside one transaction on one client; rolls back on error. */
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

/** Quotes a string literal for SQL statements that take no parameters (CREATE DATABASE, COMMENT). */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
