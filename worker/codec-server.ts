import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import type { EncryptionCodec } from './codec';

/** A payload as the remote codec protocol carries it: metadata values and data in base64. */
interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

/** Options of the codec server the Temporal UI and CLI call to show payloads in clear. */
export interface CodecServerOptions {
  readonly codec: EncryptionCodec;
  readonly port: number;
  readonly host?: string;
  /** When set, every request needs `Authorization: Bearer <token>` (PGFERRY_CODEC_TOKEN). */
  readonly token?: string | undefined;
  /** Origins allowed by CORS (the UI's); `*` when empty. */
  readonly origins?: readonly string[];
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

/**
 * Temporal's remote codec endpoints (`POST /encode`, `POST /decode`, JSON `{payloads: [...]}`), so
 * that the UI and the `temporal` CLI show pgferry's encrypted payloads in clear. CORS for the UI's
 * origin; a bearer token when configured.
 */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const host = options.host ?? '127.0.0.1';
  const origins = options.origins ?? [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const origin = req.headers.origin;
    const allowed = origins.length === 0 ? '*' : origin && origins.includes(origin) ? origin : undefined;
    if (allowed) {
      res.setHeader('Access-Control-Allow-Origin', allowed);
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      if (allowed !== '*') res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
    }
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204);
      res.end();
      return;
    }
    const path = (req.url ?? '').split('?')[0]?.replace(/\/+$/, '');
    if (req.method !== 'POST' || (path !== '/encode' && path !== '/decode')) {
      reply(404, { error: 'POST /encode or /decode' });
      return;
    }
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
      reply(401, { error: 'a bearer token is required (PGFERRY_CODEC_TOKEN)' });
      return;
    }
    try {
      const body = JSON.parse(await readBody(req)) as { payloads?: JsonPayload[] };
      if (!Array.isArray(body.payloads)) {
        reply(400, { error: 'expected {"payloads": [...]}' });
        return;
      }
      const payloads = body.payloads.map(fromJson);
      const out =
        path === '/encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
      reply(200, { payloads: out.map(toJson) });
    } catch (err) {
      const status = (err as { status?: number }).status ?? 400;
      reply(status, { error: err instanceof Error ? err.message : String(err) });
    }
  };
  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
