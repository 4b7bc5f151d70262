import { CancellationScope, isCancellation, sleep, upsertSearchAttributes } from '@temporalio/workflow';
import type { ReplicationHealth } from '../activities/watch';
import { formatByteSize } from '../domain/byte-size';
import { failureInfo } from '../domain/failure-info';
import { watching } from './activities';
import { ddlWatchInput, followDdl } from './ddl';
import type { MigrationRun } from './migration-run';
import { SearchKeys } from './progress';

/** Lag under which replication counts as caught up (and the migration may cut over). */
export const CAUGHT_UP_BYTES = 1024 * 1024;
/** The longest one watch at the gate runs before it returns with fresh figures: a few events a minute. */
const GATE_WATCH_SECONDS = 60;
/** Between looks at the gate, and while replication catches up after the copy. */
const GATE_POLL_MS = 2000;
const CATCH_UP_POLL_MS = 500;

/** What the search attribute PgferryReady says. */
type ReadyValue = 'ready' | 'not_ready' | 'slot_lost';

/** What one run's watch knows between watches. */
interface WatchState {
  last?: ReplicationHealth;
  /** A cutover timed out: its 'cutover' problem stands until replication is ready and the target has confirmed awaitLsn. */
  cutoverPending?: boolean;
  /** The source's final LSN of that cutover, when it was read. */
  awaitLsn?: string;
  /** The readiness the people notified last heard of (undefined: nobody is told yet). */
  told?: boolean;
  attribute?: ReadyValue;
  /** The look before a cutover made the apply's commits durable at once; the gate's next watch undoes it. */
  durableApply?: boolean;
}

const states = new WeakMap<MigrationRun, WatchState>();

function stateOf(run: MigrationRun): WatchState {
  let state = states.get(run);
  if (state === undefined) {
    state = {};
    states.set(run, state);
  }
  return state;
}

/**
 * Replicate (online): waits, in watches that each return within a minute, until the target has
 * caught up with the source after the copy — or until the slot is lost, which the gate then names.
 */
export async function untilCaughtUp(run: MigrationRun): Promise<ReplicationHealth> {
  for (;;) {
    const health = await watchOnce(run, GATE_WATCH_SECONDS, CATCH_UP_POLL_MS);
    if (health.ready || health.lost) return health;
  }
}

/**
 * Runs `wait` (the gate's wait for a decision) while the replication is watched beside it: the
 * readiness (so the gate refuses an approval while not ready, saying why), the status details,
 * the UI's note, the PgferryReady search attribute, and notifications when readiness is lost or
 * returns and when the slot holds back too much WAL. A lost slot ends the watch: nothing can make
 * the migration ready again, and the gate takes a rejection only. The watch ends with the wait.
 */
export async function watchWhile<T>(run: MigrationRun, wait: () => Promise<T>): Promise<T> {
  const scope = new CancellationScope();
  const watcher = scope
    .run(() => watchAtGate(run))
    .catch((err: unknown) => {
      if (!isCancellation(err)) throw err;
    });
  try {
    return await wait();
  } finally {
    scope.cancel();
    await watcher;
  }
}

/** The gate's watch loop; never fails but by cancellation (a failed watch is a readiness problem). */
async function watchAtGate(run: MigrationRun): Promise<void> {
  const state = stateOf(run);
  // The approval request said this much; changes from here on are told.
  state.told = run.readiness.ready;
  while (state.last?.lost !== true) {
    try {
      // Back at the gate after a cutover that did not go through: the apply keeps pace again.
      const undo = state.durableApply === true ? { durableApply: false } : {};
      await watchOnce(run, GATE_WATCH_SECONDS, GATE_POLL_MS, undo);
      if (undo.durableApply === false) state.durableApply = false;
    } catch (err) {
      if (isCancellation(err)) throw err;
      run.readiness.set(
        'replication',
        `replication: cannot be watched (${failureInfo(err).message}); tried again in a minute`,
      );
      await tellReadiness(run, state);
      await sleep('1 minute');
    }
  }
}

/**
 * One look before the freeze (the cutover's check): the readiness as the replication is now.
 * Returns it; the run's readiness says why not. It also makes the apply's commits durable at once
 * (setApplyDurability), so the target confirms the final LSN without waiting for its WAL writer.
 */
export async function lookBeforeFreeze(run: MigrationRun): Promise<ReplicationHealth> {
  stateOf(run).durableApply = true;
  return watchOnce(run, 0, GATE_POLL_MS, { durableApply: true });
}

/**
 * A cutover ran out of time and the source was unfrozen: the 'cutover' problem keeps the gate from
 * taking an approval until the target has confirmed `lsn`, the source's last position then.
 */
export function cutoverTimedOut(run: MigrationRun, lsn: string | undefined, problem: string): void {
  const state = stateOf(run);
  state.cutoverPending = true;
  state.awaitLsn = lsn;
  run.readiness.set('cutover', problem);
}

/** One watch activity, and what it found applied to the run. */
async function watchOnce(
  run: MigrationRun,
  maxWaitSeconds: number,
  pollMs: number,
  durability: { durableApply?: boolean } = {},
): Promise<ReplicationHealth> {
  const state = stateOf(run);
  const last = state.last;
  const health = await watching.watchReplication({
    ...run.replication,
    ready: last?.ready ?? false,
    ...(last?.kind ? { problemKind: last.kind } : {}),
    caughtUpBytes: CAUGHT_UP_BYTES,
    ...(run.input.maxRetainedWal === undefined ? {} : { maxRetainedWalBytes: run.input.maxRetainedWal }),
    retainedWarning: last?.retainedWarning ?? false,
    ...(state.awaitLsn ? { awaitLsn: state.awaitLsn } : {}),
    ...(last?.applyErrors === undefined ? {} : { applyErrors: last.applyErrors }),
    ...(last?.applyErrorAgeMs === undefined ? {} : { applyErrorAgeMs: last.applyErrorAgeMs }),
    ...(last?.confirmedLsn ? { confirmedLsn: last.confirmedLsn } : {}),
    ...(last?.stalledMs === undefined ? {} : { stalledMs: last.stalledMs }),
    ...ddlWatchInput(run, last),
    ...durability,
    maxWaitSeconds,
    pollMs,
  });
  state.last = health;
  // The changes listed first: when the readiness names a failed one, status lists it too.
  await followDdl(run, health, last);
  await apply(run, state, health, last);
  return health;
}

/** Readiness, status, UI note, search attribute and notifications from one watch. */
async function apply(
  run: MigrationRun,
  state: WatchState,
  health: ReplicationHealth,
  before: ReplicationHealth | undefined,
): Promise<void> {
  const { progress, readiness } = run;
  readiness.set('replication', health.ready ? undefined : health.problem);
  if (state.cutoverPending && health.ready && (state.awaitLsn === undefined || health.reachedLsn === true)) {
    state.cutoverPending = false;
    state.awaitLsn = undefined;
    readiness.set('cutover', undefined);
  }
  if (health.lagBytes !== null) {
    progress.detail('lag', { lagBytes: health.lagBytes, lagSeconds: health.lagSeconds });
  }
  progress.detail('replication', health);
  const value: ReadyValue = health.lost ? 'slot_lost' : readiness.ready ? 'ready' : 'not_ready';
  if (value !== state.attribute) {
    state.attribute = value;
    upsertSearchAttributes([{ key: SearchKeys.ready, value }]);
  }
  progress.setNote(noteOf(run, health));
  if (health.retainedWarning && !(before?.retainedWarning ?? false) && health.retainedWalBytes != null) {
    await run.notifier.retainedWal({
      retainedBytes: health.retainedWalBytes,
      thresholdBytes: health.maxRetainedWalBytes,
      walStatus: health.walStatus,
      ...(health.safeWalBytes == null ? {} : { safeWalBytes: health.safeWalBytes }),
      ...(health.sourceDisk ? { sourceFreeBytes: health.sourceDisk.freeBytes } : {}),
    });
  }
  await tellReadiness(run, state);
}

/** Tells the notification targets when the readiness they last heard of has changed (at the gate only). */
async function tellReadiness(run: MigrationRun, state: WatchState): Promise<void> {
  const ready = run.readiness.ready;
  if (state.told === undefined || state.told === ready) return;
  state.told = ready;
  const last = state.last;
  await run.notifier.readiness({
    ready,
    ...(ready ? {} : { problem: run.readiness.why }),
    ...(last?.lost ? { lost: true } : {}),
    ...(last?.lagBytes == null ? {} : { lag: { lagBytes: last.lagBytes, lagSeconds: last.lagSeconds } }),
  });
}

/** The replication in one line for the UI: ready or why not, then the figures. */
function noteOf(run: MigrationRun, h: ReplicationHealth): string {
  const head = run.readiness.ready ? '**ready for approval**' : `**not ready**: ${run.readiness.why}`;
  const figures = [
    h.lagBytes === null
      ? undefined
      : `lag ${formatByteSize(h.lagBytes)}${typeof h.lagSeconds === 'number' ? ` / ${h.lagSeconds.toFixed(1)} s` : ''}`,
    h.applying ? 'apply worker running' : 'apply worker not running',
    h.applyErrors === undefined ? undefined : `apply errors ${h.applyErrors}`,
    h.walStatus === undefined ? undefined : `slot ${h.walStatus}`,
    h.retainedWalBytes == null
      ? undefined
      : `retains ${formatByteSize(h.retainedWalBytes)} of WAL (warning at ${formatByteSize(h.maxRetainedWalBytes)})`,
    h.safeWalBytes == null ? undefined : `${formatByteSize(h.safeWalBytes)} before the slot is lost`,
    h.sourceDisk ? `source disk ${formatByteSize(h.sourceDisk.freeBytes)} free` : undefined,
  ].filter((f): f is string => f !== undefined);
  return `${head}\n\n${figures.join(' · ')}`;
}
