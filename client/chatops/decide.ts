import type { ChatIdentity } from '../../domain/chat';
import { SafeName } from '../../domain/contracts';
import { ErrorCode, PgferryError } from '../../domain/errors';
import type { DecisionInput } from '../../domain/migration';
import { toPgferryError } from '../errors';
import { oneLineStatement } from '../format';
import { migrationWorkflowId } from '../ids';
import {
  decisionOf,
  describeDecision,
  ephemeral,
  errorReply,
  migrationName,
  type ChatClient,
  type ChatReply,
} from './replies';
import type { ChatUsers } from './users';

/** Who clicked or typed, as Slack says: workspace, user id and name, channel. */
export interface ChatActor {
  readonly team?: string | undefined;
  readonly userId: string;
  readonly userName?: string | undefined;
  readonly channel?: string | undefined;
}

/** A decision asked for in chat, before it is checked. */
export interface ChatDecisionRequest {
  readonly outcome: 'approve' | 'reject';
  readonly name: string;
  /** Why; a function of the mapped approver name for clicks, which carry no text. */
  readonly reason?: string | ((by: string) => string) | undefined;
  readonly actor: ChatActor;
}

/** The `via` of a decision taken in Slack (domain/chat.ts): the chat identity kept in the history. */
export function slackIdentity(actor: ChatActor): Record<string, string> {
  const identity: ChatIdentity = {
    chat: 'slack',
    team: actor.team,
    userId: actor.userId,
    userName: actor.userName,
    channel: actor.channel,
  };
  return Object.fromEntries(
    Object.entries(identity).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}

/**
 * Takes a decision from chat through the same approval Update as the CLI. Refusals (an unmapped
 * user, a rejection without a reason, the workflow's own validator, a migration that is gone)
 * come back as ephemeral replies and change nothing; a decision is announced in the channel.
 */
export async function decideFromChat(
  client: ChatClient,
  users: ChatUsers | undefined,
  request: ChatDecisionRequest,
): Promise<ChatReply> {
  const { name, actor, outcome } = request;
  const by = approverOf(users, actor);
  if (typeof by !== 'string') return by;
  const reason = typeof request.reason === 'function' ? request.reason(by) : request.reason;
  if (outcome === 'reject' && !reason) {
    return ephemeral(`A rejection needs a reason: \`/pgferry reject ${name} REASON\`. Nothing was changed.`);
  }
  // Not a name any migration could have (pgferry names are SafeNames): answered without asking Temporal.
  if (!SafeName.safeParse(name).success)
    return errorReply(name, new PgferryError(ErrorCode.WorkflowNotFound, `no migration named ${name}`));
  const decision: DecisionInput = { by, ...(reason ? { reason } : {}), via: slackIdentity(actor) };
  try {
    const taken =
      outcome === 'approve' ? await client.approve(name, decision) : await client.reject(name, decision);
    const mark = taken.outcome === 'approved' ? '✅' : '⛔';
    return {
      response_type: 'in_channel',
      text: `${mark} *${migrationName(name)}* ${describeDecision(taken)}`,
    };
  } catch (err) {
    return refusal(client, name, err);
  }
}

/** The approver name a Slack user is mapped to, or the reply that refuses them (nothing is changed). */
function approverOf(users: ChatUsers | undefined, actor: ChatActor): string | ChatReply {
  if (!users) {
    return ephemeral(
      'Decisions from Slack are turned off: this endpoint was started without `--users`. ' +
        'Ask the operator to start `pgferry chatops serve --users FILE` with a file mapping Slack user ids to approver names.',
    );
  }
  const by = users.get(actor.userId);
  if (by === undefined) {
    return ephemeral(
      `You (<@${actor.userId}>) may not decide from Slack: your user id ${actor.userId} is not in the --users file. ` +
        'Ask the operator to add it with your pgferry approver name. Nothing was changed.',
    );
  }
  return by;
}

/** An approval of one held schema change asked for in chat (`/pgferry ddl approve NAME N REASON`). */
export interface ChatDdlApprovalRequest {
  readonly name: string;
  readonly change: number;
  readonly reason: string;
  readonly actor: ChatActor;
}

/**
 * Approves one schema change a `--ddl hold` migration holds, through the same approveDdl Update
 * as `pgferry ddl approve`, with the same approver rules; the Slack identity is kept in the
 * history. Refusals come back as ephemeral replies and change nothing; an approval is announced.
 */
export async function approveDdlFromChat(
  client: ChatClient,
  users: ChatUsers | undefined,
  request: ChatDdlApprovalRequest,
): Promise<ChatReply> {
  const { name, change, reason, actor } = request;
  const by = approverOf(users, actor);
  if (typeof by !== 'string') return by;
  if (!SafeName.safeParse(name).success)
    return errorReply(name, new PgferryError(ErrorCode.WorkflowNotFound, `no migration named ${name}`));
  try {
    const approved = await client.approveDdl(name, { change, by, reason, via: slackIdentity(actor) });
    return {
      response_type: 'in_channel',
      text:
        `✅ *${migrationName(name)}*: schema change #${approved.change} (${approved.tag}) approved by ${approved.by} (${approved.reason}); ` +
        `the target runs it when the replication reaches it.\n\`${oneLineStatement(approved.statement)}\``,
    };
  } catch (err) {
    return refusal(client, name, err);
  }
}

/**
 * Moves a migration in its fallback window back to its source, through the same fallback Update
 * as `pgferry fallback`, with the same approver rules; the Slack identity is kept in the history.
 * Refusals come back as ephemeral replies; a fallback is announced with its downtime.
 */
export async function fallbackFromChat(
  client: ChatClient,
  users: ChatUsers | undefined,
  request: { readonly name: string; readonly reason: string; readonly actor: ChatActor },
): Promise<ChatReply> {
  const { name, reason, actor } = request;
  const by = approverOf(users, actor);
  if (typeof by !== 'string') return by;
  if (!SafeName.safeParse(name).success)
    return errorReply(name, new PgferryError(ErrorCode.WorkflowNotFound, `no migration named ${name}`));
  try {
    const f = await client.fallback(name, { by, reason, via: slackIdentity(actor) });
    const downtime = f.downtimeMs === undefined ? '' : `, downtime ${f.downtimeMs} ms`;
    return {
      response_type: 'in_channel',
      text: `:rewind: *${migrationName(name)}*: fell back to the source by ${f.by} (${f.reason})${downtime}; the target stays frozen.`,
    };
  } catch (err) {
    const e = toPgferryError(err);
    if (e.code === ErrorCode.FallbackFailed)
      return ephemeral(`:warning: *${migrationName(name)}*: ${e.message}. The target is the primary still.`);
    return refusal(client, name, err);
  }
}

/** Why a decision did not go through, worded for the person who asked. */
async function refusal(client: ChatClient, name: string, err: unknown): Promise<ChatReply> {
  const e = toPgferryError(err);
  // The workflow's validator refused it (not ready, already decided, not an approver): its own words.
  if (e.code === ErrorCode.ApprovalRefused)
    return ephemeral(`:no_entry: *${migrationName(name)}*: ${e.message}. Nothing was changed.`);
  if (e.code === ErrorCode.TemporalUnavailable) return errorReply(name, e);
  // An Update to a closed workflow fails as if the workflow were not there: say which it is.
  try {
    // By its migration id: a bare name could also be the id of a backup or a restore.
    const status = await client.status(migrationWorkflowId(name));
    if (status.state !== 'running' && status.state !== 'waiting') {
      const decided = decisionOf(status);
      const already = decided ? ` It was already ${describeDecision(decided)}.` : '';
      return ephemeral(
        `*${migrationName(name)}* is no longer running: it ended ${status.state} (stage ${status.stage}).${already} Nothing was changed.`,
      );
    }
  } catch (lookup) {
    return errorReply(name, toPgferryError(lookup));
  }
  return errorReply(name, e);
}
