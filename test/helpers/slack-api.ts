import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from './wait';

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
  /** The messages posted so far with chat.postMessage, by channel, oldest first (what conversations.history answers from). */
  readonly messages: Map<string, SlackStoredMessage[]>;
  /**
   * Carries out the next `count` calls to `method` (recorded, messages stored) but closes the
   * connection instead of answering: Slack did the work and the caller never heard of it.
   */
  loseAnswers(method: string, count?: number, predicate?: (body: Record<string, unknown>) => boolean): void;
  /** Resolves with the first call to `method` matching `predicate`, or rejects after `timeoutMs`. */
  waitForCall(
    method: string,
    predicate?: (call: SlackCall) => boolean,
    timeoutMs?: number,
  ): Promise<SlackCall>;
  close(): Promise<void>;
}

/** A message as the stand-in keeps it: what conversations.history and conversations.replies return. */
export interface SlackStoredMessage {
  readonly ts: string;
  readonly text: unknown;
  readonly blocks: unknown;
  readonly metadata: unknown;
  readonly thread_ts?: string;
}

/** Starts the stand-in on a free port of 127.0.0.1. */
export async function startSlackApi(): Promise<SlackApiStandIn> {
  const calls: SlackCall[] = [];
  const messages = new Map<string, SlackStoredMessage[]>();
  const losing: { method: string; left: number; predicate: (body: Record<string, unknown>) => boolean }[] =
    [];
  let seq = 0;
  const server: Server = createServer((req, res) => {
    void readBody(req).then((raw) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = decodeBody(raw, req.headers['content-type']);
      const method = url.pathname.startsWith('/response/')
        ? `response:${url.pathname.slice('/response/'.length)}`
        : url.pathname.replace(/^\/api\//, '');
      calls.push({ method, body, authorization: req.headers.authorization });
      const answered = answer(method, body, () => `1700000000.${String(++seq).padStart(6, '0')}`, messages);
      const lose = losing.find((l) => l.method === method && l.left > 0 && l.predicate(body));
      if (lose) {
        lose.left -= 1;
        res.socket?.destroy();
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answered));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const callsTo = (method: string) => calls.filter((c) => c.method === method);
  return {
    apiUrl: `${base}/api/`,
    calls,
    messages,
    loseAnswers: (method, count = 1, predicate = () => true) => {
      losing.push({ method, left: count, predicate });
    },
    responseUrl: (id) => `${base}/response/${id}`,
    callsTo,
    waitForCall: (method, predicate = () => true, timeoutMs = 30_000) =>
      waitFor(
        () => `a matching ${method} call; calls: ${JSON.stringify(calls)}`,
        () => callsTo(method).find(predicate),
        timeoutMs,
      ),
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
  messages: Map<string, SlackStoredMessage[]>,
): Record<string, unknown> {
  const channel = String(body.channel);
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
    case 'chat.postMessage': {
      const ts = nextTs();
      const stored: SlackStoredMessage = {
        ts,
        text: body.text,
        blocks: body.blocks,
        metadata: body.metadata,
        ...(typeof body.thread_ts === 'string' ? { thread_ts: body.thread_ts } : {}),
      };
      messages.set(channel, [...(messages.get(channel) ?? []), stored]);
      return { ok: true, channel: body.channel, ts, message: { text: body.text } };
    }
    // Newest first, as Slack answers; `oldest`, `limit` and paging are not modelled.
    case 'conversations.history':
      return {
        ok: true,
        messages: (messages.get(channel) ?? []).filter((m) => m.thread_ts === undefined).reverse(),
        has_more: false,
      };
    // The parent first, then its replies oldest first, as Slack answers.
    case 'conversations.replies':
      return {
        ok: true,
        messages: (messages.get(channel) ?? []).filter((m) => m.ts === body.ts || m.thread_ts === body.ts),
        has_more: false,
      };
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
