import { prng } from './prng';

/** The faults the harness injects, by name (`--faults` takes a comma-separated list of them). */
export const FAULT_KINDS = [
  'worker-kill',
  'temporal-kill',
  'source-sessions',
  'target-sessions',
  'target-restart',
  'worker-upgrade',
] as const;
/** One kind of fault. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What a fault does, and what in pgferry it puts to the test (docs/RELIABILITY.md prints both). */
export const FAULT_INFO: Record<FaultKind, { readonly does: string; readonly exercises: string }> = {
  'worker-kill': {
    does: '`kill -9` of the worker process (both task queues); a new one is started at once.',
    exercises:
      'activities retried after a lost worker (heartbeat timeouts), the ledger (no chunk copied twice), the copy restarting from a new slot when its snapshot holder dies, orphaned pg_dump/pg_restore found by their pid files, workflows replayed on a new process.',
  },
  'temporal-kill': {
    does: '`kill -9` of the Temporal dev server; restarted on the same `--db-filename` and port.',
    exercises:
      'the history kept in the server’s persistence, workers and clients reconnecting, activity results and heartbeats across the outage, timers and the approval Update after a restart.',
  },
  'source-sessions': {
    does: '`pg_terminate_backend` of pgferry’s sessions on the source (application_name `pgferry…`: snapshot holder, COPY readers, pg_dump, the subscription’s walsender, watchers).',
    exercises:
      'connection losses classified as retryable, the copy restarting from a new slot when the snapshot holder is cut, replication reconnecting to its slot.',
  },
  'target-sessions': {
    does: '`pg_terminate_backend` of pgferry’s sessions on the target (COPY writers, pg_restore, index builds, ledger, watchers) and of the subscription’s apply worker.',
    exercises:
      'a chunk’s rows and its ledger row rolled back together, post-data steps and index builds retried, the apply worker restarting from its replication origin.',
  },
  'target-restart': {
    does: 'a fast restart of the target server (`pg_ctl stop -m fast`, then start).',
    exercises:
      'every target connection lost at once and refused while it is down, retries across the outage, the subscription resuming without losing or repeating a change.',
  },
  'worker-upgrade': {
    does: 'a worker of a new build (a copy of dist/ whose workflow bundle differs, so another build id) started beside the running one, then the old one stopped with SIGTERM.',
    exercises:
      'a rolling deploy: workflow tasks replayed by another build, activities cancelled by a graceful shutdown and retried on the new worker.',
  },
};

/** Where in a migration a fault is aimed; `cutover` means after the approval (cutover and finalize). */
export const FAULT_STAGES = ['schema', 'copy', 'replicate', 'approval', 'cutover'] as const;
/** One stage a fault is aimed at. */
export type FaultStage = (typeof FAULT_STAGES)[number];

/** One fault of a run's plan: what, at which stage, and how long after the stage is reached. */
export interface PlannedFault {
  readonly kind: FaultKind;
  readonly stage: FaultStage;
  readonly delayMs: number;
}

/** What a run will do, drawn from its seed alone (so `--seed S --runs 1` draws it again). */
export interface RunPlan {
  readonly seed: number;
  readonly faults: readonly PlannedFault[];
}

/** Faults per run unless the kinds are fewer. */
export const FAULTS_PER_RUN = 3;
const MAX_DELAY_MS = 2500;

/**
 * Draws a run's faults: FAULTS_PER_RUN kinds, distinct while `kinds` has enough of them, each at a
 * random stage and delay, ordered by stage as a migration meets them.
 */
export function planRun(seed: number, kinds: readonly FaultKind[], perRun = FAULTS_PER_RUN): RunPlan {
  const random = prng(seed);
  const drawn: FaultKind[] = [];
  while (drawn.length < perRun) drawn.push(...random.shuffle(kinds));
  const faults = drawn.slice(0, perRun).map((kind) => ({
    kind,
    stage: random.pick(FAULT_STAGES),
    delayMs: random.int(0, MAX_DELAY_MS),
  }));
  faults.sort((a, b) => FAULT_STAGES.indexOf(a.stage) - FAULT_STAGES.indexOf(b.stage));
  return { seed, faults };
}

/** The seed of run `index` (0-based) of a session started with `seed`. */
export function runSeed(seed: number, index: number): number {
  return (seed + index) >>> 0;
}
