import type { Client } from 'pg';
import type { ApproveDdlInput } from '../domain/activity-inputs';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { DdlApproval } from '../domain/migration';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { withClient } from './pg/connect';
import {
  approvalsSql,
  approveSql,
  capturedHeadSql,
  ddlObjects,
  type DdlObjects,
  TABLE_EXISTS,
} from './pg/ddl-sql';
import { replicationStep } from './pg/replication-checks';

/**
 * --ddl hold: a schema change is replayed on the target only once a person has approved it. The
 * approval is a row in the target's table of approvals (pgferry.BASE_approved), written by
 * approveDdlChange when the migration workflow takes the `approveDdl` Update; the replay trigger
 * reads it on the apply worker's next retry.
 */

/** One approval as the target recorded it. */
export interface ApprovalRow {
  readonly id: string;
  readonly approved_by: string;
  readonly reason: string;
  readonly approved_at: string;
}

/** The first change the replication waits at for want of an approval. */
export interface HeldChange {
  readonly id: number;
  readonly tag: string;
  readonly statement: string;
}

/** How many captured changes past the last replayed one a look reads to find the held one. */
const HEAD_ROWS = 200;

/** Whether the target keeps approvals, i.e. the migration holds its schema changes (--ddl hold). */
async function holds(target: Client, o: DdlObjects): Promise<boolean> {
  const { rows } = await target.query<{ present: boolean }>(TABLE_EXISTS, [o.approvals]);
  return rows[0]?.present ?? false;
}

/** The approvals on the target by change id; undefined when the migration does not hold its changes. */
export async function readApprovals(
  target: Client,
  o: DdlObjects,
): Promise<Map<number, ApprovalRow> | undefined> {
  if (!(await holds(target, o))) return undefined;
  const { rows } = await target.query<ApprovalRow>(approvalsSql(o));
  return new Map(rows.map((r) => [Number(r.id), r]));
}

/**
 * A listed change with its approval: under --ddl hold a change not yet on the target is `held`
 * until approved, then `approved` until the replay runs it. Without approvals, as it was.
 */
export function withApproval<C extends { readonly id: number; readonly status: string }>(
  change: C,
  approvals: Map<number, ApprovalRow> | undefined,
): C {
  if (approvals === undefined) return change;
  const a = approvals.get(change.id);
  const status = change.status === 'pending' ? (a ? 'approved' : 'held') : change.status;
  return {
    ...change,
    status,
    ...(a ? { approvedBy: a.approved_by, approvalReason: a.reason, approvedAt: a.approved_at } : {}),
  };
}

/**
 * The change the replication waits at (--ddl hold): the first one captured after the last replayed
 * that nobody has approved. `hold` false when the migration does not hold its changes.
 */
export async function heldChange(
  source: Client,
  target: Client,
  replicationName: string,
  lastReplayed: number,
): Promise<{ hold: boolean; held?: HeldChange }> {
  const o = ddlObjects(replicationName);
  const approvals = await readApprovals(target, o);
  if (approvals === undefined) return { hold: false };
  const { rows } = await source.query<{ id: string; tag: string; statement: string }>(capturedHeadSql(o), [
    String(lastReplayed),
    HEAD_ROWS,
  ]);
  const first = rows.find((r) => !approvals.has(Number(r.id)));
  if (first === undefined) return { hold: true };
  return { hold: true, held: { id: Number(first.id), tag: first.tag, statement: first.statement.trim() } };
}

/**
 * Records a person's approval of one captured change on the target, after checking that the
 * migration holds its changes, that the change was captured, and that it is neither on the target
 * already nor approved by someone else. Safe to run twice: the same approval again returns the
 * recorded one.
 */
export async function approveDdlChange(deps: ActivityDeps, input: ApproveDdlInput): Promise<DdlApproval> {
  const o = ddlObjects(input.publication);
  return withHeartbeat(`approving schema change #${input.change}`, async () => {
    const captured = await withClient(
      input.source,
      deps.env,
      replicationStep('source', 'reading the schema change'),
      (c) => capturedChange(c, o, input.change),
    );
    return withClient(
      input.target,
      deps.env,
      replicationStep('target', 'recording the approval of a schema change'),
      async (c) => {
        const approvals = await readApprovals(c, o);
        if (approvals === undefined) throw notHolding(input);
        await refuseReplayed(c, o, input);
        const known = captured ?? refuseUnknown(input);
        const before = approvals.get(input.change);
        if (before && (before.approved_by !== input.by || before.reason !== input.reason)) {
          throw refused(
            `change: schema change #${input.change} was already approved by ${before.approved_by} at ${before.approved_at} (${before.reason})`,
            'change',
            'nothing to do: it is applied on the target when the replication reaches it (pgferry status)',
          );
        }
        await c.query(approveSql(o), [String(input.change), input.by, input.reason]);
        const row = (await readApprovals(c, o))?.get(input.change);
        return {
          change: input.change,
          tag: known.tag,
          statement: known.statement.trim(),
          by: row?.approved_by ?? input.by,
          reason: row?.reason ?? input.reason,
          at: row?.approved_at ?? '',
        };
      },
    );
  });
}

/** The change as the source captured it; undefined when there is none by that id (or no capture). */
async function capturedChange(
  source: Client,
  o: DdlObjects,
  id: number,
): Promise<{ tag: string; statement: string } | undefined> {
  const { rows } = await source.query<{ present: boolean }>(TABLE_EXISTS, [o.table]);
  if (!rows[0]?.present) return undefined;
  const found = await source.query<{ id: string; tag: string; statement: string }>(capturedHeadSql(o), [
    String(id - 1),
    1,
  ]);
  const row = found.rows[0];
  return row && Number(row.id) === id ? row : undefined;
}

/** Refuses a change the target has already replayed (applied, skipped, failed or resolved). */
async function refuseReplayed(target: Client, o: DdlObjects, input: ApproveDdlInput): Promise<void> {
  const { rows } = await target.query<{ status: string }>(`SELECT status FROM ${o.table} WHERE id = $1`, [
    String(input.change),
  ]);
  const status = rows[0]?.status;
  if (status === undefined) return;
  throw refused(
    `change: schema change #${input.change} is already ${status} on the target; only a held change waits for approval`,
    'change',
    `see the held changes in pgferry status ${input.migration} (status held)`,
  );
}

function refuseUnknown(input: ApproveDdlInput): never {
  throw refused(
    `change: no schema change #${input.change} was captured on the source of migration ${input.migration}`,
    'change',
    `give the number of a held change, as pgferry status ${input.migration} lists them (status held)`,
  );
}

function notHolding(input: ApproveDdlInput): PgferryError {
  return refused(
    `ddl: migration ${input.migration} does not hold its schema changes for approval now (not started with --ddl hold, or its replication has ended)`,
    'ddl',
    'only a migration started with --ddl hold, while it replicates, takes approvals of schema changes',
  );
}

function refused(message: string, field: string, fix: string): PgferryError {
  return new PgferryError(ErrorCode.ApprovalRefused, message, { field, fix });
}
