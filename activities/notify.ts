import { activityInfo } from '@temporalio/activity';
import { LogLevel, WebAPIPlatformError, WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { NotifyInput, NotifyTargetsInput } from '../domain/activity-inputs';
import { ErrorCode, PgferryError } from '../domain/errors';
import {
  parseNotifyTarget,
  slackMessage,
  SLACK_METADATA_EVENT_TYPE,
  webhookPayload,
  type ChatMessageRef,
  type Notification,
} from '../domain/notify';
import type { ActivityDeps } from './deps';
import { postHeaders } from './signing';

/** What `notify` did. */
export interface NotifyResult {
  readonly target: string;
  /** Slack: the message posted (or updated). */
  readonly message?: ChatMessageRef;
  /** Slack: this retry found the message an earlier attempt had posted, and posted nothing. */
  readonly found?: boolean;
  /** Webhook: the receiver's HTTP status, and whether the body was signed. */
  readonly status?: number;
  readonly signed?: boolean;
}

/** Which attempt of the activity this is, and when its first attempt was scheduled. */
export interface AttemptInfo {
  readonly attempt: number;
  readonly firstScheduledMs: number;
}

/** Slack API errors that mean the token is wrong or lacks a scope: no retry mends them. */
const TOKEN_ERRORS = new Set([
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'not_allowed_token_type',
  'missing_scope',
  'no_permission',
]);
/** Slack API errors that mean the channel cannot take our message. */
const CHANNEL_ERRORS = new Set(['channel_not_found', 'not_in_channel', 'is_archived', 'restricted_action']);

/** The attempt of the running activity (1 outside an activity, e.g. when a test calls the function). */
export function currentAttempt(): AttemptInfo {
  try {
    const info = activityInfo();
    return { attempt: info.attempt, firstScheduledMs: info.scheduledTimestampMs };
  } catch {
    return { attempt: 1, firstScheduledMs: Date.now() };
  }
}

/**
 * The targets a migration notifies: its own plus the worker's PGFERRY_SLACK_CHANNEL, without
 * duplicates. Refuses, before anything is changed, a slack: target that this worker cannot serve.
 */
export async function notifyTargets(
  deps: ActivityDeps,
  input: NotifyTargetsInput,
): Promise<{ targets: string[] }> {
  const fallback = deps.notify?.slackChannel ? [`slack:${deps.notify.slackChannel}`] : [];
  const targets = [...new Set([...input.targets, ...fallback])];
  for (const [i, target] of targets.entries()) {
    const parsed = parseNotifyTarget(target);
    if ('problem' in parsed) {
      throw new PgferryError(ErrorCode.InvalidInput, parsed.problem.message, {
        field: `notify.${i}`,
        fix: parsed.problem.fix,
      });
    }
    if (parsed.kind === 'slack' && !deps.notify?.slackBotToken) throw missingToken(target);
  }
  return { targets };
}

/**
 * Sends one event to one target. Slack: the approval request and every other event are posted
 * (a reminder in the approval message's thread), a decision updates the approval message. A retry
 * first looks for a message an earlier attempt posted (by the delivery id in its metadata) and
 * posts only when there is none. Webhook: a signed JSON POST carrying the delivery id.
 */
export async function sendNotification(
  deps: ActivityDeps,
  input: NotifyInput,
  attempt: AttemptInfo = currentAttempt(),
): Promise<NotifyResult> {
  const parsed = parseNotifyTarget(input.target);
  if ('problem' in parsed) {
    throw new PgferryError(ErrorCode.InvalidInput, parsed.problem.message, {
      field: 'notify',
      fix: parsed.problem.fix,
    });
  }
  if (parsed.kind === 'webhook') {
    return { target: input.target, ...(await postWebhook(deps, parsed.url, input.notification)) };
  }
  const settings = deps.notify;
  if (!settings?.slackBotToken) throw missingToken(input.target);
  const slack = new WebClient(settings.slackBotToken, {
    slackApiUrl: settings.slackApiUrl,
    // Temporal retries the activity; a client retry of chat.postMessage would post twice.
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 15_000,
    logLevel: LogLevel.ERROR,
  });
  try {
    const message = await postToSlack(slack, parsed.channel, input, attempt, deps.logger);
    return { target: input.target, ...message };
  } catch (err) {
    throw slackFailure(err, input.target);
  }
}

async function postToSlack(
  slack: WebClient,
  channel: string,
  input: NotifyInput,
  attempt: AttemptInfo,
  logger: Logger,
): Promise<{ message: ChatMessageRef; found?: boolean }> {
  const n = input.notification;
  const { text, blocks } = slackMessage(n);
  const approval = input.approvalMessage;
  if (n.event === 'decided' && approval) {
    // Updating a message is idempotent: a retry writes the same outcome again.
    await slack.apiCall('chat.update', { channel: approval.channel, ts: approval.ts, text, blocks });
    return { message: approval };
  }
  // Reminders and news of the replication's readiness answer in the approval message's thread.
  const threaded = n.event === 'reminder' || n.event === 'readiness' || n.event === 'retained_wal';
  const thread = threaded ? approval?.ts : undefined;
  if (attempt.attempt > 1) {
    const ts = await findPosted(slack, channel, thread, n.delivery, attempt.firstScheduledMs, logger);
    if (ts) return { message: { channel, ts }, found: true };
  }
  const posted = (await slack.apiCall('chat.postMessage', {
    channel,
    text,
    blocks,
    ...(thread ? { thread_ts: thread } : {}),
    unfurl_links: false,
    metadata: {
      event_type: SLACK_METADATA_EVENT_TYPE,
      event_payload: { delivery: n.delivery, migration: n.migration.name, event: n.event },
    },
  })) as { channel?: string; ts?: string };
  if (!posted.ts) {
    throw new PgferryError(ErrorCode.ToolFailed, `Slack did not say where it posted to ${channel}`, {
      field: 'notify',
    });
  }
  return { message: { channel: posted.channel ?? channel, ts: posted.ts } };
}

/**
 * The ts of a message carrying our delivery id, posted since the first attempt was scheduled:
 * an earlier attempt may have posted it and died before its result was recorded. A lookup that
 * fails (no channels:history scope, say) finds nothing, and the caller posts: the one window left
 * for a duplicate, documented in the README.
 */
async function findPosted(
  slack: WebClient,
  channel: string,
  thread: string | undefined,
  delivery: string,
  sinceMs: number,
  logger: Logger,
): Promise<string | undefined> {
  // A minute of slack for clocks that disagree between this worker and Slack.
  const oldest = String(Math.floor(sinceMs / 1000) - 60);
  try {
    const page = (await slack.apiCall(thread ? 'conversations.replies' : 'conversations.history', {
      channel,
      ...(thread ? { ts: thread } : {}),
      oldest,
      include_all_metadata: true,
      limit: 200,
    })) as {
      messages?: {
        ts?: string;
        metadata?: { event_type?: string; event_payload?: { delivery?: unknown } };
      }[];
    };
    return page.messages?.find(
      (m) =>
        m.metadata?.event_type === SLACK_METADATA_EVENT_TYPE &&
        m.metadata.event_payload?.delivery === delivery,
    )?.ts;
  } catch (err) {
    logger.warn(
      { channel, delivery, err: err instanceof Error ? err.message : String(err) },
      'could not look for an earlier post of this notification; posting it',
    );
    return undefined;
  }
}

async function postWebhook(
  deps: ActivityDeps,
  url: string,
  n: Notification,
): Promise<{ status: number; signed: boolean }> {
  const body = JSON.stringify(webhookPayload(n));
  const secret = deps.notify?.webhookSecret;
  const headers = postHeaders({ event: n.event, delivery: n.delivery, body, secret });
  if (!secret) {
    // Only the origin: webhook URLs often carry their own token in the path.
    deps.logger.warn(
      { webhook: new URL(url).origin, event: n.event },
      'PGFERRY_WEBHOOK_SECRET is not set: the webhook goes out unsigned',
    );
  }
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new PgferryError(
      ErrorCode.ToolFailed,
      `webhook ${new URL(url).origin}: ${err instanceof Error ? err.message : String(err)}`,
      { field: 'notify', cause: err },
    );
  }
  await response.arrayBuffer().catch(() => undefined);
  if (response.ok) return { status: response.status, signed: Boolean(secret) };
  const permanent = response.status >= 400 && response.status < 500 && ![408, 429].includes(response.status);
  throw new PgferryError(
    permanent ? ErrorCode.InvalidInput : ErrorCode.ToolFailed,
    `webhook ${new URL(url).origin} answered ${response.status}`,
    {
      field: 'notify',
      fix: permanent
        ? 'check the webhook URL, and that the receiver checks signatures with the same PGFERRY_WEBHOOK_SECRET'
        : undefined,
    },
  );
}

function missingToken(target: string): PgferryError {
  return new PgferryError(
    ErrorCode.InvalidInput,
    `SLACK_BOT_TOKEN: the worker has no Slack token, so it cannot post to ${target}`,
    {
      field: 'SLACK_BOT_TOKEN',
      fix: 'set SLACK_BOT_TOKEN (the Slack app’s bot token, xoxb-…, with the chat:write and channels:history scopes) in the worker’s environment and restart it, or leave out the slack: target',
    },
  );
}

/** Names a Slack failure: token and channel problems are not retried, the rest (network, rate limits) are. */
function slackFailure(err: unknown, target: string): Error {
  if (err instanceof PgferryError) return err;
  if (err instanceof WebAPIPlatformError) {
    const code = err.data.error;
    if (TOKEN_ERRORS.has(code)) {
      return new PgferryError(ErrorCode.InvalidInput, `SLACK_BOT_TOKEN: Slack refused the token (${code})`, {
        field: 'SLACK_BOT_TOKEN',
        fix: 'give the worker a valid bot token (xoxb-…) with the chat:write and channels:history scopes',
        cause: err,
      });
    }
    if (CHANNEL_ERRORS.has(code)) {
      return new PgferryError(ErrorCode.InvalidInput, `notify: Slack cannot post to ${target} (${code})`, {
        field: 'notify',
        fix: 'invite the pgferry app to the channel (/invite @APP in it), or correct the channel id',
        cause: err,
      });
    }
    return new PgferryError(ErrorCode.ToolFailed, `Slack answered ${code} for ${target}`, {
      field: 'notify',
      cause: err,
    });
  }
  return new PgferryError(
    ErrorCode.ToolFailed,
    `Slack did not answer for ${target}: ${err instanceof Error ? err.message : String(err)}`,
    { field: 'notify', cause: err },
  );
}
