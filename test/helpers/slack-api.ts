import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the stand-in received: the Web API method (or the response_url path) and its decoded body. */
export interface SlackCall {
  readonly method: string;
  readonly body: Record<string, unknown>;
  readonly authorization: string | undefined;
}

/**
 * A local HTTP server standing in for Slack's Web API (point `SLACK_API_URL` at `apiUrl`) and for
 * the `response_url`s of slash commands and clicks (`responseUrl(id)`). It records every call and
 * answers as Slack does: `{ ok: true, … }`, with a `ts` for each posted message.
 */
export interface SlackApiStandIn {
  /** The Web API base URL, ending in `/api/`. */
  readonly apiUrl: string;
  /** Every call so far, in order. */
  readonly calls: SlackCall[];
  /** A response_url the stand-in records posts to, under the method name `response:ID`. */
  responseUrl(id: string): string;
  /** The calls to one method. */
  callsTo(method: string): SlackCall[];
  /** Resolves with the first call to `method` matching `predicate`, or rejects after `timeoutMs`. */
  waitForCall(
    method: string,
    predicate?: (call: SlackCall) => boolean,
    timeoutMs?: number,
  ): Promise<SlackCall>;
  close(): Promise<void>;
}

/** Starts the stand-in on a free port of 127.0.0.1. */
export async function startSlackApi(): Promise<SlackApiStandIn> {
  const calls: SlackCall[] = [];
  let seq = 0;
  const server: Server = createServer((req, res) => {
    void readBody(req).then((raw) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = decodeBody(raw, req.headers['content-type']);
      const method = url.pathname.startsWith('/response/')
        ? `response:${url.pathname.slice('/response/'.length)}`
        : url.pathname.replace(/^\/api\//, '');
      calls.push({ method, body, authorization: req.headers.authorization });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answer(method, body, () => `1700000000.${String(++seq).padStart(6, '0')}`)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const callsTo = (method: string) => calls.filter((c) => c.method === method);
  return {
    apiUrl: `${base}/api/`,
    calls,
    responseUrl: (id) => `${base}/response/${id}`,
    callsTo,
    waitForCall: (method, predicate = () => true, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const check = () => {
          const found = callsTo(method).find(predicate);
          if (found) return resolve(found);
          if (Date.now() - started > timeoutMs) {
            return reject(
              new Error(`no matching ${method} call within ${timeoutMs} ms; calls: ${JSON.stringify(calls)}`),
            );
          }
          setTimeout(check, 50);
        };
        check();
      }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => resolve(raw));
  });
}

/** Slack's clients send forms (with JSON-encoded fields such as `blocks`) or JSON. */
function decodeBody(raw: string, contentType: string | undefined): Record<string, unknown> {
  if (!raw) return {};
  if (contentType?.includes('application/json')) return JSON.parse(raw) as Record<string, unknown>;
  const body: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    body[key] = /^[[{]/.test(value) ? safeJson(value) : value;
  }
  return body;
}

function safeJson(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function answer(
  method: string,
  body: Record<string, unknown>,
  nextTs: () => string,
): Record<string, unknown> {
  switch (method) {
    case 'auth.test':
      return {
        ok: true,
        url: 'https://pgferry-test.slack.com/',
        team: 'pgferry-test',
        user: 'pgferry',
        team_id: 'T0TEST',
        user_id: 'U0BOT',
        bot_id: 'B0BOT',
      };
    case 'chat.postMessage':
      return { ok: true, channel: body.channel, ts: nextTs(), message: { text: body.text } };
    case 'chat.update':
      return { ok: true, channel: body.channel, ts: body.ts, text: body.text };
    case 'chat.postEphemeral':
      return { ok: true, message_ts: nextTs() };
    case 'users.info':
      return { ok: true, user: { id: body.user, name: `user-${String(body.user)}` } };
    default:
      return { ok: true };
  }
}
