import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import type { EncryptionCodec } from './codec';
import { bearerMatches, type CodecAuth } from './codec-access';

/** A payload as the remote codec protocol carries it: metadata values and data in base64. */
interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

/** Options of the codec server the Temporal UI and CLI call to show payloads in clear. */
export interface CodecServerOptions {
  readonly codec: EncryptionCodec;
  readonly port: number;
  /** Where to listen; 127.0.0.1 unless told. */
  readonly host?: string;
  /** The bearer token every /encode and /decode needs, or `none`, chosen explicitly. */
  readonly auth: CodecAuth;
  /** The UI origins CORS answers (exact matches); a request from any other origin gets 403. */
  readonly origins: readonly string[];
}

/** A running codec server. */
export interface CodecServer {
  readonly url: string;
  close(): Promise<void>;
}

const MAX_BODY = 8 * 1024 * 1024;

function fromJson(p: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
    ),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

function toJson(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The request headers the UI sends to a codec endpoint (X-Namespace always, the others when configured). */
const ALLOWED_HEADERS = 'Authorization, Authorization-Extras, Content-Type, X-Namespace';

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * CORS for the UI: an allowed origin is echoed exactly (never `*`), a foreign one gets 403 before
 * anything else, so that no page on another site can use the server through a visitor's browser.
 * Requests without an Origin (the `temporal` CLI, curl) are not from a browser and pass on to the
 * token check. Returns false when the request was answered.
 */
function admitOrigin(req: IncomingMessage, res: ServerResponse, origins: readonly string[]): boolean {
  res.setHeader('Vary', 'Origin');
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (!origins.includes(origin)) {
    reply(res, 403, {
      error: `origin ${origin} is not allowed; start the codec server with --ui-origin ${origin}`,
    });
    return false;
  }
  res.setHeader('Access-Control-Allow-Origin', origin);
  res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
  // The UI's "include cross-origin credentials" option sends cookies; it needs this to read the answer.
  res.setHeader('Access-Control-Allow-Credentials', 'true');
  res.setHeader('Access-Control-Max-Age', '600');
  if (req.headers['access-control-request-private-network'] === 'true') {
    res.setHeader('Access-Control-Allow-Private-Network', 'true');
  }
  return true;
}

/** Decodes or encodes the request's `{payloads: [...]}`. */
async function code(req: IncomingMessage, res: ServerResponse, codec: EncryptionCodec, path: string) {
  try {
    const body = JSON.parse(await readBody(req)) as { payloads?: JsonPayload[] };
    if (!Array.isArray(body.payloads)) {
      reply(res, 400, { error: 'expected {"payloads": [...]}' });
      return;
    }
    const payloads = body.payloads.map(fromJson);
    const out = path === '/encode' ? await codec.encode(payloads) : await codec.decode(payloads);
    reply(res, 200, { payloads: out.map(toJson) });
  } catch (err) {
    const status = (err as { status?: number }).status ?? 400;
    reply(res, status, { error: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * Temporal's remote codec endpoints (`POST /encode`, `POST /decode`, JSON `{payloads: [...]}`), so
 * that the UI and the `temporal` CLI show pgferry's encrypted payloads in clear. Whoever may call
 * them reads every payload, so: loopback unless told, CORS for the UI's origins only, and a bearer
 * token compared in constant time unless `auth` is explicitly `none`.
 */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const host = options.host ?? '127.0.0.1';
  const { auth, origins, codec } = options;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!admitOrigin(req, res, origins)) return;
    // A preflight carries no Authorization header (browsers never send one there).
    if (req.method === 'OPTIONS') {
      res.writeHead(204);
      res.end();
      return;
    }
    const path = (req.url ?? '').split('?')[0]?.replace(/\/+$/, '');
    if (req.method !== 'POST' || (path !== '/encode' && path !== '/decode')) {
      reply(res, 404, { error: 'POST /encode or /decode' });
      return;
    }
    if (auth.kind === 'token' && !bearerMatches(req.headers.authorization, auth.token)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      reply(res, 401, {
        error: 'Authorization: Bearer <token> is required (the token of --token-file or PGFERRY_CODEC_TOKEN)',
      });
      return;
    }
    await code(req, res, codec, path);
  };
  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
