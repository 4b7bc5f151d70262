import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { WorkflowStatus } from '../domain/contracts';
import { isLive } from '../domain/live-states';
import { MIGRATION_STAGES } from '../domain/migration';
import { sleep } from '../test/helpers/wait';
import type { Builds } from './builds';
import { injectFault } from './faults';
import type { FaultKind, FaultStage, RunPlan } from './plan';
import { DATABASE, loadSource, startLoad, type LoadTally } from './source';
import { ChaosStack } from './stack';
import { verifyRun } from './verify';

/** How runs are made, the same for every run of a session. */
export interface RunSettings {
  readonly temporalCliPath: string;
  readonly builds: Builds;
  /** pgbench scale of the source (100 000 accounts per unit). */
  readonly scale: number;
  /** pgbench transactions a second during the migration. */
  readonly rate: number;
  /** Where a failed run leaves its logs, status and history. */
  readonly artifactsDir: string;
  /** A run that has not ended by then fails. */
  readonly timeoutMs: number;
  readonly log: (line: string) => void;
}

/** One injected fault: as planned, where it landed, and what it did. */
export interface FaultOutcome {
  readonly kind: FaultKind;
  readonly stage: FaultStage;
  readonly delayMs: number;
  /** The migration's stage just before the fault (as its status said). */
  readonly at: string;
  readonly detail: string;
}

/** How one run ended. */
export interface RunResult {
  readonly seed: number;
  readonly survived: boolean;
  readonly faults: readonly FaultOutcome[];
  /** Why it did not survive; empty when it did. */
  readonly problems: readonly string[];
  /** Worker processes that exited without being told (restarted as a supervisor would). */
  readonly workerCrashes: readonly string[];
  /** Why a cutover went back to the gate (approved again each time). */
  readonly gateReturns: readonly string[];
  readonly seconds: number;
  readonly load?: LoadTally;
  readonly downtimeMs?: number;
  /** Where the artifacts of a failed run are. */
  readonly artifacts?: string;
  readonly events: readonly string[];
}

/** The state one run carries between its steps. */
interface Run {
  readonly plan: RunPlan;
  readonly name: string;
  readonly stack: ChaosStack;
  readonly deadline: number;
  readonly log: (line: string) => void;
  readonly faults: FaultOutcome[];
  /** Why a cutover went back to the gate, each time it did. */
  readonly gateReturns: string[];
}

/** One chaos run: a fresh stack, an online migration under load with the plan's faults, approval, verification. */
export async function runOne(plan: RunPlan, settings: RunSettings): Promise<RunResult> {
  const began = Date.now();
  const events: string[] = [];
  const log = (line: string) => {
    const at = `+${((Date.now() - began) / 1000).toFixed(1)} s`;
    events.push(`${at} ${line}`);
    settings.log(`[run ${plan.seed} ${at}] ${line}`);
  };
  const dir = await mkdtemp(path.join(tmpdir(), 'pgferry-chaos-'));
  const problems: string[] = [];
  const faults: FaultOutcome[] = [];
  const gateReturns: string[] = [];
  let stack: ChaosStack | undefined;
  let load: LoadTally | undefined;
  let status: WorkflowStatus | undefined;
  let artifacts: string | undefined;
  try {
    stack = await ChaosStack.start({ ...settings, dir, log });
    const run: Run = {
      plan,
      name: `chaos-${plan.seed}`,
      stack,
      deadline: began + settings.timeoutMs,
      log,
      faults,
      gateReturns,
    };
    ({ status, load } = await migrateUnderFaults(run, settings));
    problems.push(...(await verifyRun(stack, status, load)));
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
  } finally {
    if (stack && problems.length > 0)
      artifacts = await saveArtifacts(stack, plan, settings, status, events, problems);
    await stack?.stop().catch((err: unknown) => log(`stopping the stack: ${String(err)}`));
    await rm(dir, { recursive: true, force: true });
  }
  const seconds = Math.round((Date.now() - began) / 100) / 10;
  log(problems.length === 0 ? `survived in ${seconds} s` : `FAILED: ${problems.join(' / ')}`);
  const downtimeMs = (status?.result as { downtimeMs?: number } | undefined)?.downtimeMs;
  return {
    seed: plan.seed,
    survived: problems.length === 0,
    faults,
    problems,
    workerCrashes: stack?.workers.unexpectedExits ?? [],
    gateReturns,
    seconds,
    ...(load ? { load } : {}),
    ...(downtimeMs !== undefined ? { downtimeMs } : {}),
    ...(artifacts ? { artifacts } : {}),
    events,
  };
}

/** Loads the source, starts the worker and the load, migrates with the faults, approves; the final status and the load's tally. */
async function migrateUnderFaults(
  run: Run,
  settings: RunSettings,
): Promise<{ status: WorkflowStatus; load: LoadTally }> {
  await loadSource(run.stack.source, settings.scale);
  run.log(`source loaded (fixture + pgbench scale ${settings.scale}); ${await run.stack.workers.start(0)}`);
  const load = startLoad(run.stack.source, settings.rate);
  let stopped: LoadTally | undefined;
  try {
    await (
      await run.stack.client()
    ).migrate({
      name: run.name,
      source: run.stack.source.url(DATABASE),
      target: run.stack.target.url(DATABASE),
      mode: 'online',
      jobs: 2,
      splitLargerThan: 4 * 1024 * 1024,
    });
    for (const fault of run.plan.faults.filter((f) => f.stage !== 'cutover')) {
      await reach(run, fault.stage);
      await inject(run, fault);
    }
    await reach(run, 'approval');
    await approve(run);
    for (const fault of run.plan.faults.filter((f) => f.stage === 'cutover')) await inject(run, fault);
    const status = await finished(run);
    stopped = await load.stop();
    return { status, load: stopped };
  } finally {
    if (!stopped) await load.stop().catch(() => undefined);
  }
}

async function inject(run: Run, fault: RunPlan['faults'][number]): Promise<void> {
  await sleep(fault.delayMs);
  const at = (await run.stack.status(run.name))?.stage ?? 'unknown (no status)';
  run.log(`fault ${fault.kind} (aimed at ${fault.stage}, +${fault.delayMs} ms) at ${at}`);
  const detail = await injectFault(run.stack, fault.kind);
  run.log(`  ${detail}`);
  run.faults.push({ ...fault, at, detail });
}

const order = (stage: string) => MIGRATION_STAGES.indexOf(stage as (typeof MIGRATION_STAGES)[number]);

/** Waits until the migration has reached `stage` (for `approval`: waits at the gate, or is past it). */
async function reach(run: Run, stage: FaultStage): Promise<void> {
  let seen = '';
  for (;;) {
    const status = await run.stack.status(run.name);
    if (status) {
      if (status.stage !== seen) run.log(`stage ${(seen = status.stage)} (${status.state})`);
      if (!isLive(status.state))
        throw new Error(
          `the migration ended ${status.state} at ${status.stage} before ${stage}: ${JSON.stringify(status.error ?? null)}`,
        );
      const index = order(status.stage);
      if (index < 0)
        throw new Error(
          `the migration went to ${status.stage} before ${stage}: ${JSON.stringify(status.error ?? null)}`,
        );
      const wanted = order(stage);
      if (stage === 'approval' ? status.state === 'waiting' || index > wanted : index >= wanted) return;
    }
    if (Date.now() > run.deadline)
      throw new Error(`timed out waiting for ${stage}; last at ${seen || 'no status'}`);
    await sleep(150);
  }
}

/** Approves at the gate, again while the approval is refused (not ready yet after a fault). */
async function approve(run: Run): Promise<void> {
  let last = '';
  for (;;) {
    const status = await run.stack.status(run.name);
    if (status && order(status.stage) > order('approval')) return;
    if (status && !isLive(status.state)) throw new Error(`the migration ended ${status.state} at the gate`);
    try {
      const decision = await (
        await run.stack.client()
      ).approve(run.name, { by: 'chaos', reason: `chaos run ${run.plan.seed}` });
      run.log(`approved by ${decision.by}`);
      return;
    } catch (err) {
      const why = `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`;
      if (why !== last) run.log(`approval refused: ${(last = why)}`);
    }
    if (Date.now() > run.deadline) throw new Error(`not approved before the deadline; last refusal ${last}`);
    await sleep(1000);
  }
}

/**
 * Waits until the migration has ended and returns its final status. A cutover that found the
 * migration not ready (replication behind, an apply error) goes back to the gate with the source
 * unfrozen; it is approved again, as its operator would, and each return is recorded.
 */
async function finished(run: Run): Promise<WorkflowStatus> {
  let seen = '';
  let returns = 0;
  for (;;) {
    const status = await run.stack.status(run.name);
    if (status) {
      if (status.stage !== seen) run.log(`stage ${(seen = status.stage)} (${status.state})`);
      if (!isLive(status.state)) return status;
      const attempts = (status.details?.cutoverAttempts ?? []) as { reason?: string }[];
      for (const attempt of attempts.slice(returns)) {
        run.log(`back at the gate: ${attempt.reason ?? '?'}`);
        run.gateReturns.push(attempt.reason ?? '?');
      }
      returns = Math.max(returns, attempts.length);
      if (status.state === 'waiting' && status.stage === 'approval') await approve(run);
    }
    if (Date.now() > run.deadline)
      throw new Error(`timed out waiting for the end; last at ${seen || 'no status'}`);
    await sleep(250);
  }
}

/** Keeps what explains a failed run: the events, every process's log, the status and the history. */
async function saveArtifacts(
  stack: ChaosStack,
  plan: RunPlan,
  settings: RunSettings,
  status: WorkflowStatus | undefined,
  events: readonly string[],
  problems: readonly string[],
): Promise<string> {
  const dir = path.join(settings.artifactsDir, `run-${plan.seed}`);
  await mkdir(dir, { recursive: true });
  const files = [
    { name: 'events.log', text: [...events, '', ...problems].join('\n') },
    { name: 'plan.json', text: JSON.stringify(plan, null, 2) },
    { name: 'status.json', text: JSON.stringify(status ?? null, null, 2) },
    ...stack.workers.logs(),
    ...(await stack.saveServerLogs(dir)),
  ];
  const history = await stack
    .client()
    .then((c) => c.history(`chaos-${plan.seed}`))
    .catch((err: unknown) => ({ error: String(err) }));
  files.push({ name: 'history.json', text: JSON.stringify(history, null, 2) });
  for (const file of files) await writeFile(path.join(dir, file.name), file.text);
  return dir;
}
