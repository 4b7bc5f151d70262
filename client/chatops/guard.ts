import type { IncomingMessage, ServerResponse } from 'node:http';

/** The one path Slack posts slash commands and interactivity (button clicks) to. */
export const SLACK_EVENTS_PATH = '/slack/events';

/** The path of the liveness probe. */
export const HEALTH_PATH = '/healthz';

/** Slash commands and clicks are small forms; anything bigger is refused with 413 (by Bolt's body limit). */
export const MAX_BODY_BYTES = 64 * 1024;

/** Slack sends slash commands and interactivity as forms; JSON is only for the Events API, which we don't use. */
const FORM = 'application/x-www-form-urlencoded';

// Bolt refuses timestamps older than five minutes; a signature must be remembered at least that long,
// plus a minute for clocks that disagree.
const REPLAY_WINDOW_MS = 6 * 60 * 1000;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The signatures of the requests Bolt has verified, for as long as their timestamps are accepted:
 * the same signed request seen again is a replay. Only verified requests are remembered, so forged
 * ones can neither fill the set nor spoil a genuine request that follows.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** True when this request's signature was verified before (the pre-check answers 401). */
  isReplay(req: IncomingMessage): boolean {
    const key = keyOf(req);
    const until = key === undefined ? undefined : this.seen.get(key);
    return until !== undefined && until > this.now();
  }

  /** Remembers a verified request; false when it was already there (two copies raced past the pre-check). */
  remember(req: IncomingMessage): boolean {
    const key = keyOf(req);
    if (key === undefined) return true;
    const now = this.now();
    for (const [k, until] of this.seen) if (until <= now) this.seen.delete(k);
    if (this.seen.has(key)) return false;
    const stamped = Number(header(req, 'x-slack-request-timestamp')) * 1000;
    this.seen.set(key, Math.max(Number.isFinite(stamped) ? stamped : now, now) + REPLAY_WINDOW_MS);
    return true;
  }
}

function keyOf(req: IncomingMessage): string | undefined {
  const signature = header(req, 'x-slack-signature');
  const timestamp = header(req, 'x-slack-request-timestamp');
  return signature && timestamp ? `${timestamp}:${signature}` : undefined;
}

function answer(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${body}\n`);
}

/**
 * What Bolt's HTTPReceiver does not check, answered before it sees the request: the health probe,
 * unknown paths and methods, the content type, and replays of a request already verified. Bolt
 * itself verifies the signature and the timestamp (401) and enforces the body limit (413). True
 * when the request may go on to Bolt.
 */
export function precheck(req: IncomingMessage, res: ServerResponse, replays: ReplayGuard): boolean {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path === HEALTH_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
    answer(res, 200, 'ok');
    return false;
  }
  if (path !== SLACK_EVENTS_PATH) {
    answer(res, 404, `not found: Slack posts to ${SLACK_EVENTS_PATH}`);
    return false;
  }
  if (req.method !== 'POST') {
    answer(res, 405, `${SLACK_EVENTS_PATH} takes POST only`, { allow: 'POST' });
    return false;
  }
  const [mediaType = ''] = (header(req, 'content-type') ?? '').split(';');
  if (mediaType.trim().toLowerCase() !== FORM) {
    answer(res, 415, `expected ${FORM}, as Slack sends slash commands and interactivity`);
    return false;
  }
  // Bolt parses the body as a form only when the header is exactly this (a charset would make it try JSON).
  req.headers['content-type'] = FORM;
  if (replays.isReplay(req)) {
    // Slack's own retry of a request we have (X-Slack-Retry-Num) wants a 200, or it retries again; neither is processed.
    if (header(req, 'x-slack-retry-num') !== undefined) answer(res, 200, 'already received');
    else answer(res, 401, 'this signed request was already received: a replay is not processed again');
    return false;
  }
  return true;
}
