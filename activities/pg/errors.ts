import { TemporalFailure } from '@temporalio/common';
import { connectionLabel, type ConnSpec } from '../../domain/connection';
import { ErrorCode, PgferryError } from '../../domain/errors';
import { isCertificateError, isTlsHandshakeError } from './tls';
import { LOST_ERRNOS, LOST_SQLSTATES, SqlState, UNREACHABLE_ERRNOS, UNSUPPORTED_SQLSTATES } from './sqlstate';

/** One step of an activity against one server: the words its errors are named with. */
export interface PgStep {
  /** The input field of the server the step talks to ('source' or 'target'). */
  readonly field: string;
  /** What the step was doing, e.g. `copying public.t#0`: it goes into the message after the field. */
  readonly doing?: string;
  /** The fix of a missing privilege, where the step knows better than the generic one of its side. */
  readonly privilegeFix?: string;
  /**
   * True for a step that reaches its server for the first time in its run (preflight, the input
   * check that opens a backup, a restore or a provision): an unreachable server is then bad input
   * (ConnectionFailed, at once). Otherwise the server answered earlier in the run, and its absence
   * is a restart, a failover or the network: ServerUnreachable, which Temporal retries.
   */
  readonly firstContact?: boolean;
}

/** What the classifier knows besides the error: the step, and the state of its connection. */
export interface PgErrorContext extends PgStep {
  /** The server being connected to, while connecting: unreachable is then named by firstContact, not a lost connection. */
  readonly connecting?: ConnSpec;
  /** True when the step's connection is known to have closed: an error without a code is then its loss. */
  readonly connectionGone?: boolean;
}

// What a missing privilege asks of each side when the step names no better fix.
const PRIVILEGE_FIXES: Readonly<Record<string, string>> = {
  source:
    'run as a superuser, or grant the source user what this step needs (pg_read_all_data to read every table, REPLICATION for the slot, ownership of what it changes)',
  target:
    'run as a superuser, or grant the target user what this step needs (ownership of the database and its tables, SET on session_replication_role on PostgreSQL 15+)',
};

interface PgLikeError {
  readonly code?: unknown;
  readonly message?: unknown;
}

/**
 * The one classifier of pg errors: names an error by its SQLSTATE or errno as a PgferryError with
 * a stable code, the side at fault and a fix. A missing privilege is PermissionDenied and an
 * operation the server cannot do for this data Unsupported (no retry mends either); a lost
 * connection ConnectionLost (a retry reconnects); while connecting, a refused login or a missing
 * database are named as the bad input they are, and an unreachable server too at first contact,
 * but ServerUnreachable (retried) once the run has reached it before. Anything else is
 * Internal, which Temporal retries. Errors already named (PgferryError, Temporal's failures, such
 * as the CancelledFailure of a cancelled activity) pass through unchanged.
 */
export function classifyPgError(err: unknown, context: PgErrorContext): Error {
  if (err instanceof PgferryError || err instanceof TemporalFailure) return err;
  const e = (err ?? {}) as PgLikeError;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = typeof e.message === 'string' ? e.message : String(err);
  const { field } = context;
  const head = context.doing === undefined ? `${field}: ` : `${field}: ${context.doing}: `;
  const named = (errorCode: ErrorCode, text: string, fix?: string) =>
    new PgferryError(errorCode, text, { field, ...(fix === undefined ? {} : { fix }), cause: err });
  if (context.connecting !== undefined) {
    const failed = connectFailure(err, code, message, context.connecting, context);
    if (failed !== undefined) return failed;
  }
  switch (code) {
    case SqlState.InsufficientPrivilege:
      return named(
        ErrorCode.PermissionDenied,
        `${head}${message}`,
        context.privilegeFix ??
          PRIVILEGE_FIXES[field] ??
          'grant the user the rights it needs, or use a superuser',
      );
    case SqlState.InvalidPassword:
    case SqlState.InvalidAuthorization:
      return named(
        ErrorCode.AuthFailed,
        `${head}${message}`,
        "check the user, its password and the server's pg_hba.conf",
      );
    case SqlState.InvalidCatalogName:
      return named(
        ErrorCode.DatabaseMissing,
        `${head}${message}`,
        'check the database name at the end of the URL',
      );
    default:
  }
  if (code !== undefined && UNSUPPORTED_SQLSTATES.has(code)) {
    return named(
      ErrorCode.Unsupported,
      `${head}${message} (SQLSTATE ${code})`,
      'the server cannot do this for this data, whatever the retry: see the message for the type or feature, and change or leave out what uses it',
    );
  }
  if (isLost(code, context.connectionGone === true)) {
    return named(ErrorCode.ConnectionLost, `${head}${message}`);
  }
  if (context.connecting !== undefined) return named(ErrorCode.ConnectionLost, `${field}: ${message}`);
  const state = code === undefined ? '' : ` (SQLSTATE ${code})`;
  return named(ErrorCode.Internal, `${head.slice(0, -2)}${state}: ${message}`);
}

/**
 * A connection went away under a query: the server ended the session or the network did (a code
 * says so), or the connection is known closed and the driver's error carries no code at all.
 */
function isLost(code: string | undefined, connectionGone: boolean): boolean {
  if (code === undefined) return connectionGone;
  return (
    code.startsWith(SqlState.ConnectionExceptionClass) || LOST_SQLSTATES.has(code) || LOST_ERRNOS.has(code)
  );
}

/** The errors only connecting has: an unreachable server, a refused login, a missing database. */
function connectFailure(
  err: unknown,
  code: string | undefined,
  message: string,
  spec: ConnSpec,
  step: PgStep,
): PgferryError | undefined {
  const { field } = step;
  const named = (errorCode: ErrorCode, text: string, fix: string) =>
    new PgferryError(errorCode, text, { field, fix, cause: err });
  if (code !== undefined && UNREACHABLE_ERRNOS.has(code)) {
    return unreachable(err, `cannot reach ${spec.host}:${spec.port} (${code})`, spec, step);
  }
  if (code !== undefined && isCertificateError(code)) {
    return named(
      ErrorCode.ConnectionFailed,
      `${field}: the certificate of ${spec.host}:${spec.port} is not accepted (sslmode=${spec.sslmode ?? 'prefer'}, ${code}): ${message}`,
      code === 'ERR_TLS_CERT_ALTNAME_INVALID'
        ? 'use the host name the certificate was made for (its subjectAltName) in the URL, or sslmode=verify-ca to verify the chain only'
        : "name the CA that signed the server's certificate with ?sslrootcert=FILE (in the worker's PGFERRY_SSL_DIR, default ~/.postgresql), or use sslmode=require to encrypt without verifying",
    );
  }
  if (code !== undefined && isTlsHandshakeError(code)) {
    return named(
      ErrorCode.ConnectionFailed,
      `${field}: the TLS handshake with ${spec.host}:${spec.port} failed (${code}): ${message}`,
      "check the server's ssl settings (ssl_min_protocol_version, its certificate and key), or use sslmode=disable",
    );
  }
  // node-postgres's own connection timeout is a plain Error: no code to tell it by, only its text.
  if (code === undefined && /timeout/i.test(message)) {
    return unreachable(err, `connecting to ${spec.host}:${spec.port} timed out`, spec, step);
  }
  switch (code) {
    case SqlState.InvalidPassword:
      return named(
        ErrorCode.AuthFailed,
        `${field}: password authentication failed for user "${spec.user}" on ${connectionLabel(spec)}`,
        "put the right password in the worker's ~/.pgpass (or PGPASSFILE), or in the env var that ?password_env= names",
      );
    case SqlState.InvalidAuthorization:
      return named(
        ErrorCode.AuthFailed,
        `${field}: the server refused user "${spec.user}": ${message}`,
        "check the user name and the server's pg_hba.conf, or pass a password",
      );
    case SqlState.InvalidCatalogName:
      return named(
        ErrorCode.DatabaseMissing,
        `${field}: database "${spec.database}" does not exist on ${spec.host}:${spec.port}`,
        'check the database name at the end of the URL',
      );
    case SqlState.InsufficientPrivilege:
      return named(
        ErrorCode.PermissionDenied,
        `${field}: user "${spec.user}" lacks a privilege: ${message}`,
        'grant the user the rights it needs, or use a superuser',
      );
    default:
      return undefined;
  }
}

/**
 * A server that does not answer: bad input at first contact (the URL or the network is wrong,
 * and nothing has started), a restart or failover once the run has reached it (retried).
 */
function unreachable(err: unknown, what: string, spec: ConnSpec, step: PgStep): PgferryError {
  const { field } = step;
  if (step.firstContact === true) {
    return new PgferryError(ErrorCode.ConnectionFailed, `${field}: ${what}`, {
      field,
      fix: 'check the host and port in the URL, and that the server is running and accepts TCP connections from the worker',
      cause: err,
    });
  }
  return new PgferryError(
    ErrorCode.ServerUnreachable,
    `${field}: ${what}; it answered earlier in this run (a restart or a failover?), so the step is retried`,
    {
      field,
      fix: `bring the server at ${spec.host}:${spec.port} back, or mend the network between the worker and it: the step is retried, a rollback step until the server answers`,
      cause: err,
    },
  );
}
