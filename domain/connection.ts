import { ErrorCode, PgferryError } from './errors';

/**
 * A parsed connection: everything needed to reach a database except the password, which never
 * leaves the worker. `passwordEnv` names an environment variable on the worker that holds it;
 * without it, libpq's password file (PGPASSFILE or ~/.pgpass) is used.
 */
export interface ConnSpec {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** libpq's sslmode; unset means `prefer`, as in libpq. */
  readonly sslmode: string | undefined;
  /** A CA certificate file in the worker's certificate directory (PGFERRY_SSL_DIR, default ~/.postgresql). */
  readonly sslrootcert?: string | undefined;
  readonly passwordEnv: string | undefined;
}

const PROTOCOLS = new Set(['postgres:', 'postgresql:']);
const SSL_MODES = new Set(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']);
const KNOWN_PARAMS = new Set(['sslmode', 'sslrootcert', 'password_env']);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The prefix of every environment variable that password_env may name. A URL is workflow input,
 * and its password goes to whatever server the URL names: without a rule, anyone who can start a
 * workflow could have the worker send any of its secrets (a bot token, a cloud key) to their server.
 */
export const PASSWORD_ENV_PREFIX = 'PGFERRY_PASSWORD_';

/** Whether password_env may name `name`: it has the prefix, or the worker lists it in `allowList` (PGFERRY_PASSWORD_ENVS, comma-separated). */
export function passwordEnvAllowed(name: string, allowList: string | undefined): boolean {
  if (name.startsWith(PASSWORD_ENV_PREFIX) && name.length > PASSWORD_ENV_PREFIX.length) return true;
  return (allowList ?? '')
    .split(',')
    .map((listed) => listed.trim())
    .includes(name);
}

/** The fix for a password_env that names a variable the worker does not hand out as a password. */
export function passwordEnvFix(name: string): string {
  return `keep the password in a variable named ${PASSWORD_ENV_PREFIX}… on the worker (e.g. ?password_env=${PASSWORD_ENV_PREFIX}SOURCE), or add ${name} to the worker's PGFERRY_PASSWORD_ENVS (comma-separated) and restart the worker`;
}

/** How to pass a password without it reaching Temporal: said wherever a URL carries one. */
export const PASSWORD_FIX =
  "remove the password from the URL; put it in the worker's ~/.pgpass (or the file PGPASSFILE names), or set it in an environment variable on the worker named PGFERRY_PASSWORD_… and add ?password_env=NAME to the URL";

/** A URL's problem, said without the field name: what is wrong and how to fix it. */
export interface UrlProblem {
  readonly message: string;
  readonly fix: string;
}

const URL_FORM = 'write it as postgres://USER@HOST:PORT/DATABASE';

/**
 * Why an sslrootcert value cannot name a CA file in the worker's certificate directory, if it
 * cannot: a path that climbs out of it (`..`) is refused before it reaches a worker.
 */
function sslRootCertProblem(value: string): string | undefined {
  if (value === '') return 'sslrootcert names no file';
  if (value.includes('\0')) return 'sslrootcert is not a file name';
  if (value.split('/').includes('..'))
    return `sslrootcert "${value}" leaves the worker's certificate directory`;
  return undefined;
}

/** Parses a `postgres://user@host:port/db` URL, or says what is wrong with it. */
export function tryParseConnectionUrl(url: string): { spec: ConnSpec } | { problem: UrlProblem } {
  const problem = (message: string, fix: string) => ({ problem: { message, fix } });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Never quote the value: it may carry a password, and this message can reach workflow history.
    return problem('the value is not a URL', URL_FORM);
  }
  if (!PROTOCOLS.has(parsed.protocol)) {
    return problem(`the URL scheme "${parsed.protocol.replace(/:$/, '')}" is not postgres`, URL_FORM);
  }
  if (parsed.password !== '') {
    return problem('the URL carries a password, and passwords never enter workflow history', PASSWORD_FIX);
  }
  const decode = (part: string): string | undefined => {
    try {
      return decodeURIComponent(part);
    } catch {
      return undefined;
    }
  };
  const host = decode(parsed.hostname)?.replace(/^\[(.*)\]$/, '$1');
  if (host === undefined) return problem('the host has a malformed %-escape', URL_FORM);
  if (host === '') return problem('the URL names no host', URL_FORM);
  const port = parsed.port === '' ? 5432 : Number(parsed.port);
  const rawPath = parsed.pathname.replace(/^\//, '');
  // A "/" inside the name arrives as %2F: check the raw path, then decode.
  if (rawPath === '' || rawPath.includes('/'))
    return problem('the URL names no database', 'end the URL with /DATABASE');
  const database = decode(rawPath);
  if (database === undefined)
    return problem('the database name has a malformed %-escape', 'write special characters as %XX');
  const user = parsed.username === '' ? 'postgres' : decode(parsed.username);
  if (user === undefined)
    return problem('the user name has a malformed %-escape', 'write special characters as %XX');
  for (const key of parsed.searchParams.keys()) {
    if (!KNOWN_PARAMS.has(key))
      return problem(`unknown URL parameter "${key}"`, 'use only sslmode, sslrootcert and password_env');
  }
  const sslmode = parsed.searchParams.get('sslmode') ?? undefined;
  if (sslmode !== undefined && !SSL_MODES.has(sslmode)) {
    return problem(`sslmode "${sslmode}" is not a libpq sslmode`, `use one of ${[...SSL_MODES].join(', ')}`);
  }
  const sslrootcert = parsed.searchParams.get('sslrootcert') ?? undefined;
  const certProblem = sslrootcert === undefined ? undefined : sslRootCertProblem(sslrootcert);
  if (certProblem !== undefined) {
    return problem(
      certProblem,
      "name the CA certificate by its file name in the worker's certificate directory (PGFERRY_SSL_DIR, default ~/.postgresql)",
    );
  }
  const passwordEnv = parsed.searchParams.get('password_env') ?? undefined;
  if (passwordEnv !== undefined && !ENV_NAME.test(passwordEnv)) {
    return problem(
      `password_env "${passwordEnv}" is not an environment variable name`,
      'use letters, digits and _',
    );
  }
  return { spec: { host, port, user, database, sslmode, sslrootcert, passwordEnv } };
}

/** Parses a connection URL; throws InvalidInput naming `field` when it does not parse. */
export function parseConnectionUrl(url: string, field: string): ConnSpec {
  const parsed = tryParseConnectionUrl(url);
  if ('spec' in parsed) return parsed.spec;
  throw new PgferryError(ErrorCode.InvalidInput, `${field}: ${parsed.problem.message}`, {
    field,
    fix: parsed.problem.fix,
  });
}

/** Formats a spec back into a URL without password (what workflow inputs carry). */
export function formatConnectionUrl(spec: ConnSpec): string {
  const host = spec.host.includes(':') ? `[${spec.host}]` : spec.host;
  const params: string[] = [];
  if (spec.sslmode) params.push(`sslmode=${spec.sslmode}`);
  if (spec.sslrootcert) params.push(`sslrootcert=${encodeURIComponent(spec.sslrootcert)}`);
  if (spec.passwordEnv) params.push(`password_env=${spec.passwordEnv}`);
  const query = params.length > 0 ? `?${params.join('&')}` : '';
  return `postgres://${encodeURIComponent(spec.user)}@${host}:${spec.port}/${encodeURIComponent(spec.database)}${query}`;
}

/** A short human label: `host:port/db`. */
export function connectionLabel(spec: ConnSpec): string {
  return `${spec.host}:${spec.port}/${spec.database}`;
}

/** The same server, another database. */
export function withDatabase(spec: ConnSpec, database: string): ConnSpec {
  return { ...spec, database };
}

/** True when two specs point at the same database on the same server. */
export function sameDatabase(a: ConnSpec, b: ConnSpec): boolean {
  const local = (h: string) => (h === 'localhost' || h === '::1' ? '127.0.0.1' : h);
  return local(a.host) === local(b.host) && a.port === b.port && a.database === b.database;
}
