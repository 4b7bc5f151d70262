import type { WorkflowStatus, WorkflowSummary } from '../../domain/contracts';
import { describeError, ErrorCode, type PgferryError } from '../../domain/errors';
import type { Decision } from '../../domain/migration';
import type { PgferryClient } from '../pgferry-client';
import { toPgferryError } from '../errors';
import { oneLineStatement } from '../format';

/** What the chat endpoint needs of a PgferryClient: the reads, the two decisions and schema-change approvals. */
export type ChatClient = Pick<
  PgferryClient,
  'approve' | 'reject' | 'approveDdl' | 'fallback' | 'status' | 'list'
>;

/** A reply posted to a slash command's or a click's response_url. */
export interface ChatReply {
  /** `ephemeral`: only the person who asked sees it; `in_channel`: everyone in the channel. */
  readonly response_type: 'ephemeral' | 'in_channel';
  readonly text: string;
}

/** A reply only the asker sees: help, errors, refusals, reads. */
export function ephemeral(text: string): ChatReply {
  return { response_type: 'ephemeral', text };
}

/** How many migrations `/pgferry list` shows: a chat message is no place for a long table. */
const LIST_LIMIT = 20;

/** The name of a migration from its workflow id (`migration-shop` → `shop`). */
export function migrationName(id: string): string {
  return id.replace(/^migration-/, '');
}

function describeState(s: { state: string; stage: string }): string {
  return s.state === 'waiting' ? `waiting for a decision at ${s.stage}` : `${s.state}, stage ${s.stage}`;
}

/** `/pgferry list`: the migrations, newest first, each with its state and stage. */
export async function listReply(client: ChatClient): Promise<ChatReply> {
  // list() returns every pgferry workflow; a few extra leave room for the backups and restores skipped here.
  const all: WorkflowSummary[] = await client.list({ limit: LIST_LIMIT * 3 });
  const migrations = all.filter((w) => w.type === 'migration').slice(0, LIST_LIMIT);
  if (migrations.length === 0) return ephemeral('No migrations yet.');
  const lines = migrations.map((w) => `• \`${migrationName(w.id)}\` — ${describeState(w)}`);
  return ephemeral([`*Migrations* (newest first):`, ...lines].join('\n'));
}

/** `/pgferry status NAME`: where one migration stands, its decision or its error. */
export async function statusReply(client: ChatClient, name: string): Promise<ChatReply> {
  let status: WorkflowStatus;
  try {
    status = await client.status(name);
  } catch (err) {
    return errorReply(name, toPgferryError(err));
  }
  const lines = [`*${migrationName(status.id)}*: ${describeState(status)}`];
  const decision = decisionOf(status);
  if (decision) lines.push(`Decision: ${describeDecision(decision)}`);
  else if (status.state === 'waiting')
    lines.push(
      `Decide with \`/pgferry approve ${migrationName(status.id)}\` or \`/pgferry reject ${migrationName(status.id)} REASON\`.`,
    );
  lines.push(...heldChanges(status));
  if (status.error) lines.push(`Error: [${status.error.code}] ${describeError(status.error)}`);
  return ephemeral(lines.join('\n'));
}

/** A schema change as status lists it (`details.ddl`). */
interface ListedChange {
  readonly id: number;
  readonly tag: string;
  readonly statement: string;
  readonly status: string;
}

/** The schema changes a --ddl hold migration holds, each with the command that lets it through. */
function heldChanges(status: WorkflowStatus): string[] {
  const listed = (status.details as { ddl?: ListedChange[] } | undefined)?.ddl ?? [];
  const name = migrationName(status.id);
  return listed
    .filter((c) => c.status === 'held')
    .map(
      (c) =>
        `Held schema change #${c.id} (${c.tag}): \`${oneLineStatement(c.statement)}\` — approve with \`/pgferry ddl approve ${name} ${c.id} REASON\``,
    );
}

/** The decision a migration's status reports, once one was taken. */
export function decisionOf(status: WorkflowStatus): Decision | undefined {
  return (status.details as { approval?: { decision?: Decision } } | undefined)?.approval?.decision;
}

/** "approved by alice (why)" */
export function describeDecision(d: Pick<Decision, 'outcome' | 'by' | 'reason'>): string {
  return `${d.outcome} by ${d.by}${d.reason ? ` (${d.reason})` : ''}`;
}

/** A failure as a chat reply, worded for the person who asked; `name` is the migration it concerned. */
export function errorReply(name: string | undefined, e: PgferryError): ChatReply {
  switch (e.code) {
    case ErrorCode.WorkflowNotFound:
      return ephemeral(
        `No migration named \`${name ?? '?'}\`. See \`/pgferry list\` for the migrations there are.`,
      );
    case ErrorCode.TemporalUnavailable:
      return ephemeral(
        'pgferry cannot reach its Temporal server right now; nothing was changed. Try again shortly.',
      );
    default:
      return ephemeral(`${name ? `\`${name}\`: ` : ''}[${e.code}] ${e.describe()}`);
  }
}
