import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import type { ConnSpec } from '../../domain/connection';
import { ErrorCode, PgferryError } from '../../domain/errors';

/** The TLS settings of one connection attempt of node-postgres: false for a plain connection. */
export type TlsAttempt = false | ConnectionOptions;

/** How a spec's sslmode reaches its server, said once for node-postgres and once for libpq's tools. */
export interface TlsPlan {
  /** node-postgres's attempts in order: `prefer` tries TLS and then plain, `allow` the other way round. */
  readonly attempts: readonly [TlsAttempt, ...TlsAttempt[]];
  /** PGSSLMODE and PGSSLROOTCERT for pg_dump, pg_restore and psql: libpq makes the same attempts itself. */
  readonly libpqEnv: Readonly<Record<string, string>>;
}

/** A CA certificate file that was read and found to hold certificates. */
interface RootCert {
  readonly file: string;
  /** The PEM blocks of its certificates, and nothing else of the file. */
  readonly certs: readonly string[];
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
// A CA bundle is a few hundred kilobytes at most; anything larger is not one.
const MAX_CA_FILE_BYTES = 4 * 1024 * 1024;
const CERT_DIR_FIX =
  "put the CA certificate (PEM) in the worker's certificate directory (PGFERRY_SSL_DIR, default ~/.postgresql) and name it by its file name with ?sslrootcert=FILE";

/** The worker's certificate directory: the only place an sslrootcert of a URL may name a file in. */
export function sslCertDir(env: Readonly<Record<string, string | undefined>>): string {
  return path.resolve(env.PGFERRY_SSL_DIR || path.join(homedir(), '.postgresql'));
}

/**
 * The certificates of a CA file. Refused unless it is a regular file holding PEM certificates:
 * a URL names the file, so it must not make the worker read anything else (and no message quotes
 * what the file holds).
 */
function readRootCert(file: string, field: string, what: string): RootCert {
  const refuse = (why: string) =>
    new PgferryError(ErrorCode.InvalidInput, `${field}: ${what} ${why}`, { field, fix: CERT_DIR_FIX });
  let text: string;
  try {
    const stat = statSync(file);
    if (!stat.isFile() || stat.size > MAX_CA_FILE_BYTES) throw refuse('is not a certificate file');
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof PgferryError) throw err;
    throw refuse('cannot be read on the worker');
  }
  const certs = text.match(PEM_CERTIFICATE) ?? [];
  try {
    for (const cert of certs) new X509Certificate(cert);
  } catch {
    throw refuse('holds a PEM block that is not a certificate');
  }
  if (certs.length === 0) throw refuse('holds no PEM certificate');
  return { file, certs };
}

/**
 * The CA to verify the server with: the URL's sslrootcert, inside the worker's certificate
 * directory; else libpq's default (the worker's PGSSLROOTCERT, or ~/.postgresql/root.crt) when
 * that file exists. `required` (verify-ca, verify-full): none is InvalidInput, as in libpq.
 */
function rootCert(
  spec: ConnSpec,
  env: Readonly<Record<string, string | undefined>>,
  field: string,
  required: boolean,
): RootCert | undefined {
  if (spec.sslrootcert !== undefined) {
    const dir = sslCertDir(env);
    const file = path.resolve(dir, spec.sslrootcert);
    const inside = path.relative(dir, file);
    if (inside === '' || inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside)) {
      throw new PgferryError(
        ErrorCode.InvalidInput,
        `${field}: sslrootcert ${spec.sslrootcert} is not in the worker's certificate directory ${dir}`,
        { field, fix: CERT_DIR_FIX },
      );
    }
    return readRootCert(file, field, `sslrootcert ${spec.sslrootcert}`);
  }
  const file = env.PGSSLROOTCERT || path.join(homedir(), '.postgresql', 'root.crt');
  if (existsSync(file)) return readRootCert(file, field, `the worker's default CA file ${file}`);
  if (!required) return undefined;
  throw new PgferryError(
    ErrorCode.InvalidInput,
    `${field}: sslmode=${spec.sslmode} verifies the server's certificate, and the URL names no CA certificate (sslrootcert) nor has the worker one in ${file}`,
    { field, fix: CERT_DIR_FIX },
  );
}

/** Verifies the chain against the CA; with `host`, the certificate must also name that host (verify-full). */
function verified(root: RootCert, host: string | undefined): ConnectionOptions {
  return {
    ca: [...root.certs],
    rejectUnauthorized: true,
    checkServerIdentity: (_servername, cert) =>
      host === undefined ? undefined : checkServerIdentity(host, cert),
  };
}

// TLS without verification: what libpq's allow, prefer and require (without a CA file) do.
const UNVERIFIED: ConnectionOptions = { rejectUnauthorized: false };

/**
 * The attempts libpq's sslmode makes (https://www.postgresql.org/docs/current/libpq-ssl.html):
 * unset or `prefer`: TLS, plain when the server refuses TLS; `allow`: plain, TLS when the server
 * refuses a plain connection; `disable`: plain; `require`: TLS, not verified unless a CA file is
 * there (then as verify-ca, as libpq does); `verify-ca`: the chain; `verify-full`: the chain and
 * the URL's host name. Throws InvalidInput for a CA file it may not or cannot use.
 */
export function tlsPlan(
  spec: ConnSpec,
  env: Readonly<Record<string, string | undefined>>,
  field: string,
): TlsPlan {
  const mode = spec.sslmode ?? 'prefer';
  const plan = (attempts: TlsPlan['attempts'], root?: RootCert): TlsPlan => ({
    attempts,
    libpqEnv: { PGSSLMODE: mode, ...(root === undefined ? {} : { PGSSLROOTCERT: root.file }) },
  });
  switch (mode) {
    case 'disable':
      return plan([false]);
    case 'allow':
      return plan([false, UNVERIFIED]);
    case 'prefer':
      return plan([UNVERIFIED, false]);
    case 'require': {
      const root = rootCert(spec, env, field, false);
      return plan([root === undefined ? UNVERIFIED : verified(root, undefined)], root);
    }
    case 'verify-ca':
    case 'verify-full': {
      const root = rootCert(spec, env, field, true);
      if (root === undefined) throw new Error('unreachable: a required CA is found or refused');
      return plan([verified(root, mode === 'verify-full' ? spec.host : undefined)], root);
    }
    default:
      throw new PgferryError(ErrorCode.InvalidInput, `${field}: sslmode "${mode}" is not a libpq sslmode`, {
        field,
        fix: 'use one of disable, allow, prefer, require, verify-ca, verify-full',
      });
  }
}

// Node's codes for a server certificate it does not accept (OpenSSL's verify errors, and the host name check).
const CERTIFICATE_ERRORS: ReadonlySet<string> = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

/** Whether a Node error code says the server's certificate was not accepted. */
export function isCertificateError(code: string): boolean {
  return CERTIFICATE_ERRORS.has(code);
}

/** Whether a Node error code says the TLS handshake itself failed (no shared protocol, a broken stream). */
export function isTlsHandshakeError(code: string): boolean {
  return code.startsWith('ERR_SSL_') || code === 'EPROTO';
}
