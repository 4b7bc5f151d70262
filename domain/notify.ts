/**
 * What a migration tells people in chat and on webhooks: the targets (`slack:CHANNEL_ID`,
 * `webhook:URL`), the events, and the messages built from them. Pure: the worker's notify activity
 * sends what these functions build, and tests read them without Slack.
 */
import { z } from 'zod';
import { formatByteSize } from './byte-size';
import { APPROVAL_BLOCK_ID, APPROVE_ACTION_ID, describeChatIdentity, REJECT_ACTION_ID } from './chat';

/** The most targets one migration notifies: each event costs one step per target in the history. */
export const MAX_NOTIFY_TARGETS = 10;

/** The `event_type` of the metadata on every message pgferry posts to Slack (how a retry finds its own post). */
export const SLACK_METADATA_EVENT_TYPE = 'pgferry_notification';

/** A notification target, parsed: a Slack channel (by id) or a webhook URL. */
export type NotifyTargetSpec =
  { readonly kind: 'slack'; readonly channel: string } | { readonly kind: 'webhook'; readonly url: string };

/** What is wrong with a target as written, and how to write it. */
export interface NotifyTargetProblem {
  readonly message: string;
  readonly fix: string;
}

const TARGET_FIX =
  'write slack:CHANNEL_ID (the channel’s id, e.g. slack:C0123ABCD, shown under the channel’s name → About in Slack) or webhook:https://HOST/PATH';

/** Parses `slack:CHANNEL_ID` or `webhook:http(s)://…`; a problem names what is wrong and the fix. */
export function parseNotifyTarget(value: string): NotifyTargetSpec | { problem: NotifyTargetProblem } {
  if (value.startsWith('slack:')) {
    const channel = value.slice('slack:'.length);
    // Channel ids are upper-case letters and digits: C… public, G… private, D… direct messages.
    if (/^[CGD][A-Z0-9]{2,}$/.test(channel)) return { kind: 'slack', channel };
    return {
      problem: {
        message: `"${value}" does not name a Slack channel by its id (C…, G… or D…)`,
        fix: 'give the channel’s id, e.g. slack:C0123ABCD (in Slack: the channel’s name → About, at the bottom), not its #name; invite the pgferry app to it',
      },
    };
  }
  if (value.startsWith('webhook:')) {
    const url = value.slice('webhook:'.length);
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed && (parsed.protocol === 'https:' || parsed.protocol === 'http:')) {
      return { kind: 'webhook', url };
    }
    return {
      problem: { message: `"${value}" is not an http(s) URL`, fix: 'write webhook:https://HOST/PATH' },
    };
  }
  return {
    problem: {
      message: `expected slack:CHANNEL_ID or webhook:https://HOST/PATH, got "${value}"`,
      fix: TARGET_FIX,
    },
  };
}

/** One notification target of a migration: `slack:CHANNEL_ID` or `webhook:https://…`. */
export const NotifyTarget = z
  .string()
  .superRefine((value, ctx) => {
    const parsed = parseNotifyTarget(value);
    if ('problem' in parsed) {
      ctx.addIssue({ code: 'custom', message: parsed.problem.message, params: { fix: parsed.problem.fix } });
    }
  })
  .describe(
    'slack:CHANNEL_ID (a channel id such as C0123ABCD; the worker needs SLACK_BOT_TOKEN) or webhook:https://HOST/PATH (a signed JSON POST)',
  );

/** A Slack message pgferry posted: where, and its timestamp id (what chat.update and threads refer to). */
export interface ChatMessageRef {
  readonly channel: string;
  readonly ts: string;
}

/** What every notification says about its migration: labels, never passwords. */
export interface MigrationFacts {
  readonly name: string;
  readonly workflowId: string;
  /** `host:port/database`. */
  readonly source: string;
  readonly target: string;
  readonly mode: 'offline' | 'online';
  readonly startedBy?: string | undefined;
}

/** How much was copied. */
export interface SizeFacts {
  readonly bytes: number;
  readonly rows: number;
  readonly tables: number;
}

/** The validation in one line's worth of figures. */
export interface ValidationFacts {
  readonly level: string;
  readonly ok: boolean;
  readonly tablesOk: number;
  readonly tables: number;
}

/** How far the target is behind the source (online). */
export interface LagFacts {
  readonly lagBytes: number;
  readonly lagSeconds?: number | null | undefined;
}

/** The events a migration notifies, each with what a person needs to act on it. */
export type NotifyEvent =
  | {
      /** The migration waits at its gate for a person. */
      readonly event: 'approval';
      readonly size: SizeFacts;
      readonly validation?: ValidationFacts | undefined;
      readonly lag?: LagFacts | undefined;
      /** Why an approval would be refused now (online: replication, validation, the last cutover); absent when ready. */
      readonly notReady?: string | undefined;
      /** ISO time after which the deadline policy applies. */
      readonly deadline?: string | undefined;
      readonly approvers: readonly string[];
      readonly requireSecondPerson: boolean;
    }
  | {
      /** The gate closed: a decision, or the deadline passed (abort), or the migration was cancelled at it. */
      readonly event: 'decided';
      readonly outcome: 'approved' | 'rejected' | 'expired' | 'cancelled';
      readonly by?: string | undefined;
      readonly reason?: string | undefined;
      /** update, signal or auto. */
      readonly channel?: string | undefined;
      /** The chat identity of a decision taken in chat. */
      readonly via?: Readonly<Record<string, string>> | undefined;
    }
  | {
      /** Still waiting: `secondsLeft` before the deadline, 0 when it passed and the migration keeps waiting. */
      readonly event: 'reminder';
      readonly secondsLeft: number;
      readonly deadline?: string | undefined;
      readonly approvers: readonly string[];
    }
  | {
      /** Online, at the gate: the migration stopped being ready for approval (`ready` false, with why), or is ready again. */
      readonly event: 'readiness';
      readonly ready: boolean;
      readonly problem?: string | undefined;
      /** The slot is lost: replication cannot go on, and the migration must be rejected (and started again). */
      readonly lost?: boolean | undefined;
      readonly lag?: LagFacts | undefined;
    }
  | {
      /** Online: the slot holds back more WAL on the source than the threshold (--max-retained-wal). */
      readonly event: 'retained_wal';
      readonly retainedBytes: number;
      readonly thresholdBytes: number;
      readonly walStatus?: string | undefined;
      /** What the source may still write before the slot is lost; absent when max_slot_wal_keep_size is -1. */
      readonly safeWalBytes?: number | undefined;
      readonly sourceFreeBytes?: number | undefined;
    }
  | {
      readonly event: 'completed';
      readonly size: SizeFacts;
      /** Source frozen → target ready. */
      readonly downtimeMs?: number | undefined;
    }
  | {
      /**
       * The fallback window (--fallback-window): opened with its deadline, or ended — by a fallback
       * (who, why, its downtime), a release, its deadline, or not opened at all (why).
       */
      readonly event: 'window';
      readonly state: 'open' | 'fell_back' | 'released' | 'expired' | 'not_opened';
      readonly until?: string | undefined;
      readonly by?: string | undefined;
      readonly reason?: string | undefined;
      readonly downtimeMs?: number | undefined;
      readonly problem?: string | undefined;
    }
  | { readonly event: 'rejected'; readonly by: string; readonly reason?: string | undefined }
  | {
      /** Failed or cancelled, and the compensations ran. */
      readonly event: 'rolled_back';
      readonly reason: string;
      readonly code: string;
      readonly cancelled: boolean;
    }
  | {
      /** Past the point of no return a step keeps failing: retried with backoff until it succeeds. */
      readonly event: 'attention';
      readonly step: string;
      readonly code: string;
      readonly message: string;
      readonly fix: string;
    }
  | {
      /** Failed (or rejected), and the rollback keeps failing: it is retried until it succeeds, but a person must look. */
      readonly event: 'failed';
      readonly reason: string;
      readonly code: string;
      readonly rollbackError: string;
      /** What to do: mend the cause, or give up with `pgferry cleanup NAME --terminate`. */
      readonly fix?: string | undefined;
    };

/** The name of an event. */
export type NotifyEventName = NotifyEvent['event'];

/** One event of one migration as it is sent: when it happened and its delivery id (stable across retries). */
export type Notification = NotifyEvent & {
  readonly at: string;
  readonly delivery: string;
  readonly migration: MigrationFacts;
};

/** A Block Kit block; only the shapes pgferry builds. */
export type SlackBlock = Readonly<Record<string, unknown>>;

/** A Slack message: the blocks and the plain text that notifications and old clients show. */
export interface SlackMessage {
  readonly text: string;
  readonly blocks: SlackBlock[];
}

/** The delivery id of an event: unique per run, the same on every retry (receivers de-duplicate by it). */
export function deliveryId(workflowId: string, runId: string, seq: number, event: NotifyEventName): string {
  return `${workflowId}/${runId}/${seq}-${event}`;
}

/** The webhook body: `{ event, migration, workflowId, at, delivery, source, target, mode, startedBy?, … }`. */
export function webhookPayload(n: Notification): Record<string, unknown> {
  const { migration, at, delivery, event, ...rest } = n;
  return {
    event,
    migration: migration.name,
    workflowId: migration.workflowId,
    at,
    delivery,
    source: migration.source,
    target: migration.target,
    mode: migration.mode,
    ...(migration.startedBy ? { startedBy: migration.startedBy } : {}),
    ...rest,
  };
}

/** The Slack message of an event: Block Kit blocks and the text fallback. */
export function slackMessage(n: Notification): SlackMessage {
  const m = n.migration;
  const name = `*${esc(m.name)}*`;
  const route = `${esc(m.source)} → ${esc(m.target)}`;
  const footer = context(
    `workflow \`${esc(m.workflowId)}\` · ${m.mode}${m.startedBy ? ` · started by ${esc(m.startedBy)}` : ''}`,
  );
  switch (n.event) {
    case 'approval': {
      const fields = [
        field('Source → target', route),
        field('Mode', m.mode),
        field('Size', sizeLine(n.size)),
        field('Validation', n.validation ? validationLine(n.validation) : validationPending(m.mode)),
        ...(n.lag ? [field('Lag', lagLine(n.lag))] : []),
        ...(n.notReady ? [field('Not ready yet', esc(n.notReady).slice(0, 1900))] : []),
        field('Started by', esc(m.startedBy ?? 'unknown')),
        field('Approvers', n.approvers.length > 0 ? esc(n.approvers.join(', ')) : 'anyone'),
        ...(n.deadline ? [field('Deadline', slackDate(n.deadline))] : []),
      ];
      return {
        text: `pgferry: migration ${m.name} (${m.source} → ${m.target}, ${m.mode}) waits for approval`,
        blocks: [
          header(`Approval needed: migration ${m.name}`),
          { type: 'section', fields: fields.slice(0, 10) },
          {
            type: 'actions',
            block_id: APPROVAL_BLOCK_ID,
            elements: [
              button('Approve', APPROVE_ACTION_ID, m.name, 'primary'),
              button('Reject', REJECT_ACTION_ID, m.name, 'danger'),
            ],
          },
          context(
            `or from a shell: \`pgferry approve ${esc(m.name)} --as YOU\`${n.requireSecondPerson ? ` · someone other than ${esc(m.startedBy ?? 'the starter')} must approve` : ''}`,
          ),
          footer,
        ],
      };
    }
    case 'decided': {
      const how = n.via ? ` (${esc(describeChatIdentity(n.via))})` : n.channel ? ` (${n.channel})` : '';
      const why = n.reason ? ` — ${esc(n.reason)}` : '';
      const line =
        n.outcome === 'approved'
          ? `:white_check_mark: *Approved* by ${esc(n.by ?? '?')}${how} at ${slackDate(n.at)}${why}`
          : n.outcome === 'rejected'
            ? `:x: *Rejected* by ${esc(n.by ?? '?')}${how} at ${slackDate(n.at)}${why}; rolling back`
            : n.outcome === 'expired'
              ? `:hourglass: *Expired* at ${slackDate(n.at)}: nobody decided in time${why}; rolling back`
              : `:no_entry_sign: *Cancelled* at ${slackDate(n.at)} while waiting for a decision${why}; rolling back`;
      return {
        text: `pgferry: migration ${m.name} ${n.outcome}${n.by ? ` by ${n.by}` : ''}${n.reason ? ` — ${n.reason}` : ''}`,
        blocks: [
          header(`Migration ${m.name}: ${n.outcome}`),
          { type: 'section', fields: [field('Source → target', route), field('Mode', m.mode)] },
          section(line),
          footer,
        ],
      };
    }
    case 'reminder': {
      const line =
        n.secondsLeft > 0
          ? `:alarm_clock: ${name} still waits for a decision: ${durationLine(n.secondsLeft)} left${n.deadline ? ` (until ${slackDate(n.deadline)})` : ''}`
          : `:alarm_clock: ${name}: the approval deadline passed; it keeps waiting for a decision`;
      return {
        text: `pgferry: migration ${m.name} waits for approval${n.secondsLeft > 0 ? ` (${durationLine(n.secondsLeft)} left)` : ' (deadline passed)'}`,
        blocks: [
          section(`${line}${n.approvers.length > 0 ? ` · approvers: ${esc(n.approvers.join(', '))}` : ''}`),
        ],
      };
    }
    case 'readiness': {
      const line = n.ready
        ? `:large_green_circle: ${name} is ready for approval again${n.lag ? ` (lag ${lagLine(n.lag)})` : ''}.`
        : n.lost
          ? `:red_circle: ${name} can no longer be approved: ${esc(n.problem ?? 'its replication slot was lost')}.`
          : `:large_orange_circle: ${name} is not ready for approval: ${esc(n.problem ?? 'replication is behind')}. An approval is refused until it is.`;
      return {
        text: `pgferry: migration ${m.name} ${n.ready ? 'is ready for approval again' : `is not ready for approval: ${n.problem ?? ''}`}`,
        blocks: [section(line), footer],
      };
    }
    case 'retained_wal': {
      const safe =
        n.safeWalBytes === undefined ? '' : `; ${bytesLine(n.safeWalBytes)} more before the slot is lost`;
      const free =
        n.sourceFreeBytes === undefined
          ? ''
          : `; ${bytesLine(n.sourceFreeBytes)} free on the source's WAL disk`;
      return {
        text: `pgferry: migration ${m.name}: its slot holds ${bytesLine(n.retainedBytes)} of WAL on the source (warning at ${bytesLine(n.thresholdBytes)})`,
        blocks: [
          section(
            `:warning: ${name}: its replication slot holds back ${bytesLine(n.retainedBytes)} of WAL on ${esc(m.source)} (warning at ${bytesLine(n.thresholdBytes)}${n.walStatus ? `, wal_status ${esc(n.walStatus)}` : ''}${safe}${free}). Approve or reject soon, or let the target catch up.`,
          ),
          footer,
        ],
      };
    }
    case 'completed': {
      const downtime = n.downtimeMs === undefined ? '' : `, downtime ${n.downtimeMs} ms`;
      return {
        text: `pgferry: migration ${m.name} completed: ${m.source} → ${m.target}${downtime}`,
        blocks: [
          section(
            `:white_check_mark: ${name} completed: ${route} (${m.mode}), ${sizeLine(n.size)}${downtime}.`,
          ),
          footer,
        ],
      };
    }
    case 'window':
      return windowMessage(n, name, footer);
    case 'rejected':
      return {
        text: `pgferry: migration ${m.name} was rejected by ${n.by}${n.reason ? `: ${n.reason}` : ''}; rolled back`,
        blocks: [
          section(
            `:x: ${name} was rejected by ${esc(n.by)}${n.reason ? `: ${esc(n.reason)}` : ''}. Rolled back: ${route} is as before.`,
          ),
          footer,
        ],
      };
    case 'rolled_back':
      return {
        text: `pgferry: migration ${m.name} ${n.cancelled ? 'was cancelled' : 'failed'} and was rolled back: ${n.reason}`,
        blocks: [
          section(
            `:leftwards_arrow_with_hook: ${name} ${n.cancelled ? 'was cancelled' : `failed [${esc(n.code)}]`}: ${esc(n.reason)}. Rolled back.`,
          ),
          footer,
        ],
      };
    case 'attention':
      return {
        text: `pgferry: migration ${m.name} needs attention: ${n.step} keeps failing: ${n.message}`,
        blocks: [
          section(
            `:warning: ${name} is past its point of no return and \`${esc(n.step)}\` keeps failing [${esc(n.code)}]: ${esc(n.message)}. It is retried until it succeeds; nothing is rolled back. ${esc(n.fix)}.`,
          ),
          footer,
        ],
      };
    case 'failed':
      return {
        text: `pgferry: migration ${m.name} failed and its rollback has not finished: ${n.reason}`,
        blocks: [
          section(
            `:rotating_light: ${name} failed [${esc(n.code)}]: ${esc(n.reason)}. Its rollback keeps failing (${esc(n.rollbackError)}) and is retried until it succeeds: see \`pgferry status ${esc(m.name)}\`.${n.fix ? ` ${esc(n.fix)}.` : ''}`,
          ),
          footer,
        ],
      };
  }
}

/** The fallback window's Slack message: its deadline and the commands while open, how it ended after. */
function windowMessage(
  n: Extract<Notification, { event: 'window' }>,
  name: string,
  footer: SlackBlock,
): SlackMessage {
  const m = n.migration;
  const downtime = n.downtimeMs === undefined ? '' : `, downtime ${n.downtimeMs} ms`;
  const said: Record<typeof n.state, string> = {
    open: `fallback window open until ${n.until ?? '?'}: pgferry fallback ${m.name} --as WHO --reason TEXT moves back to the source, pgferry release ${m.name} ends it`,
    fell_back: `fell back to the source by ${n.by ?? '?'}${n.reason ? ` (${n.reason})` : ''}${downtime}; the target stays frozen`,
    released: `fallback window released${n.by ? ` by ${n.by}` : ''}: the target stays the primary`,
    expired: 'fallback window ended at its deadline: the target stays the primary',
    not_opened: `fallback window not opened (${n.problem ?? 'unknown'}): the cutover stands without a way back`,
  };
  const icon = n.state === 'fell_back' ? ':rewind:' : n.state === 'not_opened' ? ':warning:' : ':hourglass:';
  return {
    text: `pgferry: migration ${m.name}: ${said[n.state]}`,
    blocks: [section(`${icon} ${name}: ${esc(said[n.state])}.`), footer],
  };
}

/** Slack's mrkdwn treats &, < and > as control characters. */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function header(text: string): SlackBlock {
  // Header blocks hold plain text of at most 150 characters.
  return { type: 'header', text: { type: 'plain_text', text: text.slice(0, 150), emoji: true } };
}

function section(text: string): SlackBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: text.slice(0, 3000) } };
}

function context(text: string): SlackBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text }] };
}

function field(label: string, value: string): { type: 'mrkdwn'; text: string } {
  return { type: 'mrkdwn', text: `*${label}*\n${value}` };
}

function button(text: string, actionId: string, value: string, style: 'primary' | 'danger'): SlackBlock {
  return { type: 'button', text: { type: 'plain_text', text }, action_id: actionId, value, style };
}

/** Slack shows the time in each reader's own zone; the ISO text is the fallback. */
function slackDate(iso: string): string {
  const seconds = Math.floor(Date.parse(iso) / 1000);
  return `<!date^${seconds}^{date_short_pretty} {time}|${iso}>`;
}

function count(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function bytesLine(bytes: number): string {
  return formatByteSize(bytes);
}

function sizeLine(s: SizeFacts): string {
  return `${bytesLine(s.bytes)}, ${count(s.rows)} rows, ${count(s.tables)} tables`;
}

function validationLine(v: ValidationFacts): string {
  return `${v.level}: ${v.tablesOk}/${v.tables} tables equal${v.ok ? '' : ' — DIFFERENCES'}`;
}

function validationPending(mode: 'offline' | 'online'): string {
  return mode === 'online' ? 'runs at cutover, on the frozen source' : 'none';
}

function lagLine(l: LagFacts): string {
  return `${bytesLine(l.lagBytes)}${typeof l.lagSeconds === 'number' ? ` (${l.lagSeconds.toFixed(1)} s)` : ''}`;
}

function durationLine(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}
