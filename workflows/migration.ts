import { ApplicationFailure, executeChild } from '@temporalio/workflow';
import type { TableInfo } from '../domain/chunks';
import { CONTROL_TASK_QUEUE } from '../domain/constants';
import { ErrorCode } from '../domain/errors';
import {
  MigrationInput,
  type Decision,
  type MigrationOptions,
  type MigrationResult,
  type PreflightReport,
  type ValidationReport,
} from '../domain/migration';
import { control, data } from './activities';
import { waitForDecision } from './approval';
import { allEnded } from './compensations';
import { copyTables, type Copied } from './copy';
import { fallbackWindow, openFallbackWindow } from './fallback';
import { parseWorkflowInput } from './input';
import { sides, startRun, type MigrationRun } from './migration-run';
import { cutover, downtimeSince, freezeOnSourceClock, verifyFence } from './cutover';
import { gateUntilCutOver } from './gate-loop';
import { copyUnderSlotSnapshot, replicate } from './online';
import { provision } from './provision';
import { copyRolesOf } from './roles';
import { settle, type Settled } from './settle';
import { switchEndpoint } from './switch';
import { validateWhileReplicating } from './validate-live';
import { watchWhile } from './watch';

/**
 * Moves one database from a source server to a target server, one stage after another: preflight,
 * provision, schema (pre-data), copy (rows, indexes, the rest of post-data), replicate (online),
 * validate (offline: on the frozen source; online: while replicating), a person's approval, cutover,
 * finalize, and the fallback window if asked for. On failure, rejection or cancel before the point
 * of no return, the compensations run newest first and the migration ends rolled_back.
 */
export async function migration(raw: MigrationOptions): Promise<MigrationResult> {
  const run = startRun(parseWorkflowInput(MigrationInput, raw, 'migration'));
  const online = run.input.mode === 'online';
  const body = async (): Promise<MigrationResult> => {
    const preflight = await checkBoth(run);
    await provisionTarget(run);
    const roles = await copyRolesOf(run);
    const { listed, frozenAt } = await schema(run);
    const { copied, postData } = await copy(run, listed);
    if (online) await replicate(run);
    const settled = online ? undefined : await validate(run, copied, postData);
    const live = online ? await validateWhileReplicating(run) : undefined;
    const { decision, cut } = await gateUntilCutOver(
      run,
      () => approval(run, copied, settled?.validation ?? live),
      async () => (online ? cutover(run, copied) : { cut: { frozenAt, settled } }),
    );
    const summary = { ...summarize(run, preflight, copied, settled, live), ...roles, decision };
    if (cut === undefined) return reject(run, summary, decision);
    const done = { ...summarize(run, preflight, copied, cut.settled, live), ...roles, decision };
    return finalize(run, done, cut.frozenAt);
  };
  // The notifier hears why the body failed and speaks after the compensations, which run shielded from cancel.
  return run.progress.run(
    run.notifier.watch(body),
    run.notifier.afterRollback(() => run.rollback.run()),
    () => run.rollback.canRollBack,
  );
}

/** Preflight: both servers checked (and the notification targets resolved) before anything changes. */
async function checkBoth(run: MigrationRun): Promise<PreflightReport> {
  const { source, target, mode, roles, freezeSource: freeze } = run.input;
  // Both end before anything else: a failed preflight is still told to the targets.
  const [, report] = await allEnded([
    run.notifier.start(),
    control.runPreflight({ source, target, mode, roles, freeze }),
  ]);
  run.progress.detail('preflight', report);
  if (report.ok) return report;
  const failed = report.checks.filter((c) => !c.ok && c.severity === 'error');
  throw ApplicationFailure.create({
    type: ErrorCode.PreflightFailed,
    message: `preflight: ${failed.map((c) => `${c.id}: ${c.message}`).join('; ')}`,
    nonRetryable: true,
    details: [
      { field: failed[0]?.id.startsWith('connect.source') ? 'source' : 'target', fix: failed[0]?.fix },
    ],
  });
}

/** Provision: the target database exists (a child workflow); with `onRollback: drop`, a rollback drops it. */
async function provisionTarget(run: MigrationRun): Promise<void> {
  const { input } = run;
  run.progress.enter('provision');
  const provisioned = await executeChild(provision, {
    workflowId: run.provisionId,
    taskQueue: CONTROL_TASK_QUEUE,
    args: [{ provider: 'local', target: input.target }],
  });
  if (input.onRollback === 'drop' && provisioned.created) {
    run.rollback.push('dropOwnTarget', async () => {
      await control.dropOwnTarget({ target: input.target, marker: run.marker });
    });
  }
}

/**
 * Schema: pre-data restored on the target. Offline, the source's table list is read meanwhile
 * and the source is frozen after it (unless freezeSource is false: then every table is validated
 * at the end, when the copy is done).
 */
async function schema(run: MigrationRun): Promise<{ listed?: Promise<TableInfo[]>; frozenAt?: number }> {
  const { input } = run;
  const listed = input.mode === 'offline' ? control.listCopyTables({ source: input.source }) : undefined;
  // Handled here so that a failure of pre-data first leaves no unhandled rejection behind.
  listed?.catch(() => undefined);
  run.progress.enter('schema');
  await data.copySchemaSection({ ...sides(run), section: 'pre-data', jobs: input.jobs, marker: run.marker });
  const frozenAt =
    input.mode === 'offline' && input.freezeSource ? await freezeOnSourceClock(run) : undefined;
  return { ...(listed ? { listed } : {}), ...(frozenAt === undefined ? {} : { frozenAt }) };
}

/**
 * Copy: every table's rows (online under the slot's snapshot), its indexes as soon as it is in,
 * then the rest of post-data. Offline, post-data overlaps the validation (both only read the
 * tables' rows), so it is returned running; online it has ended.
 */
async function copy(
  run: MigrationRun,
  listed: Promise<TableInfo[]> | undefined,
): Promise<{ copied: Copied; postData: Promise<unknown> }> {
  const { input } = run;
  run.progress.enter('copy');
  const copied =
    input.mode === 'online'
      ? await copyUnderSlotSnapshot(run, (snapshot) => copyTables(run, undefined, snapshot))
      : await copyTables(run, listed);
  const postData = data.copySchemaSection({
    ...sides(run),
    section: 'post-data',
    jobs: input.jobs,
    marker: run.marker,
    ...(copied.built.length > 0 ? { skip: [...copied.built] } : {}),
  });
  if (input.mode === 'online') await postData;
  return { copied, postData };
}

/** Validate (offline): the final steps and post-data, both ended before a rollback may drop or unfreeze. */
async function validate(run: MigrationRun, copied: Copied, postData: Promise<unknown>): Promise<Settled> {
  run.progress.enter('validate');
  return (await allEnded([settle(run, copied), postData]))[0];
}

/** Approval: a person's decision (or --auto-approve), with the figures and validation they decide on. */
async function approval(
  run: MigrationRun,
  copied: Copied,
  validation: ValidationReport | undefined,
): Promise<Decision> {
  const { input, progress, gate, notifier } = run;
  progress.enter('approval');
  // Online, the replication is watched while the gate waits: an approval is refused while not ready.
  const watched = <T>(wait: () => Promise<T>) => (input.mode === 'online' ? watchWhile(run, wait) : wait());
  if (input.autoApprove) {
    const by = input.startedBy ?? 'auto-approve';
    return run.readiness.ready ? gate.autoApprove(by) : watched(() => gate.autoApproveWhenReady(by));
  }
  progress.waiting(true);
  await notifier.approval({
    size: { bytes: copied.bytes, rows: copied.rows, tables: copied.tables },
    validation,
    lag: input.mode === 'online' ? () => control.replicationLag(run.replication) : undefined,
    notReady: run.readiness.ready ? undefined : run.readiness.why,
  });
  const decision = await watched(() => waitForDecision(run));
  progress.waiting(false);
  await notifier.decided(decision);
  return decision;
}

/** What a migration result says whatever its outcome. */
type Summary = Omit<MigrationResult, 'outcome' | 'downtimeMs'>;

function summarize(
  run: MigrationRun,
  preflight: PreflightReport,
  copied: Copied,
  settled?: Settled,
  live?: ValidationReport,
): Summary {
  const { input } = run;
  return {
    name: input.name,
    mode: input.mode,
    source: input.source,
    target: input.target,
    preflight,
    ...(settled?.validation ? { validation: settled.validation } : {}),
    ...(live ? { validationWhileReplicating: live } : {}),
    tables: copied.tables,
    chunks: copied.chunks,
    rows: copied.rows,
    bytes: copied.bytes,
    sequences: settled?.sequences ?? 0,
    largeObjects: settled?.largeObjects ?? 0,
  };
}

/** A rejection: the compensations run, and the migration ends rolled back with the decision. */
async function reject(run: MigrationRun, summary: Summary, decision: Decision): Promise<MigrationResult> {
  await run.progress.rollback(() => run.rollback.run());
  await run.notifier.rejected(decision);
  return { ...summary, outcome: 'rejected' };
}

/**
 * Finalize: the write fence verified (no write passed it on the frozen source) while replication is
 * dropped (online; a breached fence still rolls back), then the target's ledger dropped — the point
 * of no return once all three have succeeded, after which nothing is undone — then the endpoint switched, retried until it succeeds (downtime: freeze → target ready), then
 * the fallback window, if asked for (workflows/fallback.ts).
 */
async function finalize(run: MigrationRun, summary: Summary, frozenAt?: number): Promise<MigrationResult> {
  const { input, progress } = run;
  progress.enter('finalize');
  const [writeFence] = await allEnded([
    verifyFence(run),
    input.mode === 'online' ? control.dropReplication(run.replication) : Promise.resolve(undefined),
  ]);
  // After the subscription: its apply worker writes into the ledger's schema that this drops.
  await control.finalizeTarget({ target: input.target });
  run.rollback.seal();
  const opened = await openFallbackWindow(run);
  const downtimeMs = await downtimeSince(run, frozenAt);
  await switchEndpoint(run);
  progress.detail('sourceFrozen', frozenAt !== undefined);
  if (downtimeMs !== undefined) progress.detail('downtimeMs', downtimeMs);
  const { bytes, rows, tables } = summary;
  await run.notifier.completed({ bytes, rows, tables }, downtimeMs);
  return {
    ...summary,
    outcome: 'completed',
    ...(downtimeMs === undefined ? {} : { downtimeMs }),
    sourceFrozen: frozenAt !== undefined,
    ...(writeFence ? { writeFence } : {}),
    ...(await fallbackWindow(run, opened)),
  };
}
