import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { ErrorCode, PgferryError } from '../domain/errors';

/**
 * Who may call the codec server. `token`: every /encode and /decode carries
 * `Authorization: Bearer <token>`. `none`: anyone who reaches the port and passes the origin check
 * (only ever chosen explicitly: `--insecure-no-auth`, or the dev stack on loopback).
 */
export type CodecAuth = { readonly kind: 'token'; readonly token: string } | { readonly kind: 'none' };

/** The origins of the dev server's UI (`temporal server start-dev`, port 8233), as browsers send them. */
export const DEV_UI_ORIGINS: readonly string[] = ['http://localhost:8233', 'http://127.0.0.1:8233'];

/** A bearer token shorter than this is guessable; `openssl rand -hex 32` makes a good one. */
export const MIN_TOKEN_LENGTH = 16;

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * True when the request's Authorization header carries `token`. Both sides are hashed first, so
 * that timingSafeEqual compares equal lengths and the time taken says nothing about the token,
 * not even its length.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  const given = match?.[1] ?? '';
  // Compare even when the header is missing, so that a missing and a wrong token cost the same.
  return timingSafeEqual(digest(given), digest(token)) && given !== '';
}

/** True for addresses only this machine reaches: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h.startsWith('::ffff:127.');
}

/**
 * A UI origin as browsers send it (`http://host:port`, no path): the URL's origin, so that
 * `http://localhost:8233/` and `http://localhost:8233` are one. Anything else is InvalidInput.
 */
export function parseOrigin(value: string, field = 'ui-origin'): string {
  let url: URL | undefined;
  try {
    url = new URL(value.trim());
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname.length > 1) {
    throw new PgferryError(ErrorCode.InvalidInput, `${field}: "${value}" is not an origin`, {
      field,
      fix: `give the UI's origin as a browser sends it, e.g. --${field} http://localhost:8233 (no path, no wildcard)`,
    });
  }
  return url.origin;
}

/** A bearer token, checked: non-empty and long enough; `field` names where it came from. */
export function parseToken(value: string, field: string): string {
  const token = value.trim();
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `${field}: the codec token must be at least ${MIN_TOKEN_LENGTH} characters without spaces`,
      { field, fix: 'make one with `openssl rand -hex 32`' },
    );
  }
  return token;
}
