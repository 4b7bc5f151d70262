import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  ParentClosePolicy,
  startChild,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { CONTROL_TASK_QUEUE, WorkflowIdPrefix } from '../domain/constants';
import { failureInfo } from '../domain/failure-info';
import type { FleetInput, FleetMember } from '../domain/fleet';
import type { MigrationOptions, MigrationResult } from '../domain/migration';
import { approveSignal, rejectSignal } from './approval';
import type { FleetRun } from './fleet-run';

/** The fleet a workflow belongs to: on the fleet and on every member, for the Temporal UI's lists. */
export const fleetKey = defineSearchAttributeKey('PgferryFleet', SearchAttributeType.KEYWORD);

/** How a wave ended: every member settled, or the fleet stops here. */
export type WaveEnd = 'done' | 'aborted' | 'rejected';

/** The input of one member's migration: the fleet's options, then the member's own. */
export function memberInput(input: FleetInput, member: FleetMember): MigrationOptions {
  return {
    name: member.name,
    source: member.source,
    target: member.target,
    mode: input.mode,
    jobs: input.jobs,
    validate: input.validate,
    autoApprove: input.approve === 'auto',
    approvers: input.approvers,
    // A failed member leaves no half-made target behind, so that its retry starts clean.
    onRollback: 'drop',
    // The fleet copied the roles: each member aligns them again (nothing changes) with its database's.
    roles: input.roles === 'skip' ? 'skip' : 'copy',
    ...(input.startedBy ? { startedBy: input.startedBy } : {}),
    ...member.options,
  };
}

/**
 * Runs one wave: members start while fewer than `concurrency` copy (a member at its gate does not
 * count), each a child `migration`; a failure is recorded and the others go on. More failures than
 * the budget: nothing more starts, and once the running members have settled the fleet waits for
 * retry, skip or abort. With `--approve waves`, once every member is at its gate the fleet waits
 * for the wave's approval and passes it (or the rejection) to each member as a Signal.
 */
export async function runWave(run: FleetRun): Promise<WaveEnd> {
  const signalled = new Set<string>();
  for (;;) {
    startMembers(run);
    await passWaveDecision(run, signalled);
    const running = run.count('running', 'at_gate');
    if ((run.aborted || run.waveDecision?.outcome === 'rejected') && running === 0)
      return run.aborted ? 'aborted' : 'rejected';
    if (run.count('pending', 'running', 'at_gate') === 0 && !run.overBudget()) return 'done';
    run.wait(awaiting(run));
    const seen = run.version;
    await condition(() => run.version !== seen);
  }
}

/** What the fleet waits for a person about now, if anything. */
function awaiting(run: FleetRun): ReturnType<FleetRun['state']>['awaiting'] {
  if (run.overBudget() && run.count('running') === 0) {
    const failed = run.inPlay().filter((m) => run.record(m).state === 'failed');
    return { kind: 'decision', wave: run.wave, failed: failed.map((m) => m.database) };
  }
  const allAtGate = run.count('pending', 'running') === 0 && run.count('at_gate') > 0 && !run.overBudget();
  if (run.input.approve === 'waves' && allAtGate && run.waveDecision === undefined)
    return { kind: 'approval', wave: run.wave };
  return undefined;
}

/** Starts pending members while there is room, unless the wave is halted or the fleet stops. */
function startMembers(run: FleetRun): void {
  if (run.aborted || run.overBudget() || run.waveDecision?.outcome === 'rejected') return;
  for (const member of run.inPlay()) {
    if (run.count('running') >= run.input.concurrency) return;
    if (run.record(member).state !== 'pending') continue;
    const record = run.record(member);
    run.set(member, { state: 'running', attempts: record.attempts + 1 });
    void runMember(run, member);
  }
}

/** One member's migration as a child workflow, to its end; its outcome goes into its record. */
async function runMember(run: FleetRun, member: FleetMember): Promise<void> {
  const attempts = run.record(member).attempts;
  try {
    const child = await startChild('migration', {
      workflowId: `${WorkflowIdPrefix.migration}${member.name}`,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [memberInput(run.input, member)],
      typedSearchAttributes: [{ key: fleetKey, value: run.input.name }],
      // Cancelling the fleet cancels its members: each rolls back.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      staticSummary: `${run.input.name} wave ${member.wave}: ${member.database}`,
    });
    const result = (await child.result()) as MigrationResult;
    const validated = (result.validation ?? result.validationWhileReplicating)?.ok;
    run.set(member, {
      state: result.outcome === 'completed' ? 'completed' : 'rejected',
      attempts,
      rows: result.rows,
      ...(result.downtimeMs === undefined ? {} : { downtimeMs: result.downtimeMs }),
      ...(validated === undefined ? {} : { validated }),
      ...(result.decision?.by ? { approvedBy: result.decision.by } : {}),
    });
  } catch (err) {
    // The fleet itself cancelled: the loop ends with it, and every member rolls back.
    if (isCancellation(err) && CancellationScope.current().consideredCancelled) return;
    const info = failureInfo(err);
    run.set(member, { state: 'failed', attempts, error: { code: String(info.code), message: info.message } });
  }
}

/** Passes the wave's decision to every member at its gate that has not heard it yet. */
async function passWaveDecision(run: FleetRun, signalled: Set<string>): Promise<void> {
  const decision = run.waveDecision;
  if (decision === undefined) return;
  const reason = decision.reason ?? `wave ${run.wave} of fleet ${run.input.name}`;
  const via = { fleet: run.input.name, wave: String(run.wave) };
  for (const member of run.inPlay()) {
    // A retried member hears the decision again at its new attempt's gate.
    const key = `${member.name}#${run.record(member).attempts}`;
    if (run.record(member).state !== 'at_gate' || signalled.has(key)) continue;
    signalled.add(key);
    const handle = getExternalWorkflowHandle(`${WorkflowIdPrefix.migration}${member.name}`);
    if (decision.outcome === 'approved') await handle.signal(approveSignal, { by: decision.by, reason, via });
    else await handle.signal(rejectSignal, { by: decision.by, reason, via });
    run.set(member, { ...run.record(member), state: 'running', approvedBy: decision.by });
  }
}
