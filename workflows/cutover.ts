import type { FenceSetup } from '../activities/fence';
import type { WriteFenceReport } from '../domain/migration';
import { fenceSlotName } from '../domain/names';
import { control } from './activities';
import type { Copied } from './copy';
import type { MigrationRun } from './migration-run';
import { drainToFrozenSource } from './online';
import { settleFrozen, startFrozenSide, type FrozenSide, type Settled } from './settle';
import { cutoverTimedOut, lookBeforeFreeze } from './watch';

/** How each run's freeze left its write fence, for verifyFence (a run is frozen once at most). */
const fences = new WeakMap<MigrationRun, FenceSetup>();

/**
 * Freezes the source behind a write fence named after the workflow (a rollback unfreezes it,
 * settings restored and slot dropped); returns when it was frozen.
 */
export async function freeze(
  run: MigrationRun,
  markFinalLsn = false,
): Promise<{ frozenAt: number; sourceClockMs: number; finalLsn?: string }> {
  const { source } = run.input;
  const fence = fenceSlotName(run.id);
  run.rollback.push('unfreezeSource', async () => {
    await control.unfreezeSource({ source, fence });
  });
  const frozen = await control.freezeSource({ source, fence, ...(markFinalLsn ? { markFinalLsn } : {}) });
  // A result recorded before the fence was watched has none: nothing to verify then.
  if (frozen.fence !== undefined) fences.set(run, frozen.fence);
  // A result recorded before the source's clock was read: the worker's clock, as then.
  const sourceClockMs = frozen.sourceClockMs ?? frozen.frozenAt;
  return {
    frozenAt: frozen.frozenAt,
    sourceClockMs,
    ...(frozen.finalLsn ? { finalLsn: frozen.finalLsn } : {}),
  };
}

/**
 * Before the target becomes the primary: no write committed on the frozen source since the freeze
 * but pgferry's own. A foreign write fails the migration (FenceBreached), which then rolls back.
 * Undefined when the source was not frozen.
 */
export async function verifyFence(run: MigrationRun): Promise<WriteFenceReport | undefined> {
  const setup = fences.get(run);
  if (setup === undefined) return undefined;
  const verified = await control.verifyFence({
    source: run.input.source,
    ...(setup.slot === undefined ? {} : { slot: setup.slot }),
    baseline: setup.baseline,
  });
  const report: WriteFenceReport = {
    methods: verified.methods,
    ...(setup.slotSkipped === undefined ? {} : { slotSkipped: setup.slotSkipped }),
    roles: [...setup.roles],
    addedMs: setup.addedMs,
    verifyMs: verified.verifyMs,
    ...(verified.notes.length > 0 ? { notes: verified.notes } : {}),
  };
  run.progress.detail('writeFence', report);
  return report;
}

/** What a cutover came to: the final steps done on the frozen source, or why it did not go through. */
export type CutoverOutcome =
  { readonly cut: { readonly frozenAt: number; readonly settled: Settled } } | { readonly notDone: string };

/**
 * Cutover (online): the replication checked ready first (if not, the source is never frozen), the
 * source frozen and its changes drained within --cutover-timeout, then the final steps on the
 * frozen source. When the drain runs out of time the source is unfrozen at once; either way the
 * readiness says why, and the migration goes back to its gate (see gateUntilCutOver).
 */
export async function cutover(run: MigrationRun, copied: Copied): Promise<CutoverOutcome> {
  run.progress.enter('cutover');
  await lookBeforeFreeze(run);
  if (!run.readiness.ready) {
    return { notDone: `cutover not started, the source was not frozen: ${run.readiness.why}` };
  }
  // Everything the frozen source allows starts with the replay's wait, in one step: both sides'
  // counts (the target's once it has confirmed the final LSN), sequences, large objects, statistics.
  const side: { started?: FrozenSide } = {};
  const drained = await drainToFrozenSource(
    run,
    async () => {
      const frozen = await freeze(run, true);
      side.started = startFrozenSide(run, copied, frozen.finalLsn);
      return { frozenAt: frozen.sourceClockMs, lsn: frozen.finalLsn };
    },
    () => unfreeze(run),
  ).catch(async (err: unknown) => {
    // Nothing runs beside the rollback: the frozen side's steps end first.
    await side.started?.abandon();
    throw err;
  });
  if (drained.replayed) {
    const started = side.started;
    if (started === undefined) throw new Error('cutover: drained a source that the freeze did not report');
    return { cut: { frozenAt: drained.frozenAt, settled: await settleFrozen(run, started) } };
  }
  // Unfrozen already: the target's count would wait for a replay that is not coming.
  await side.started?.abandon();
  if (drained.ddlFailed !== undefined) {
    // The gate's watch says the same at its next look; until then the readiness holds it.
    run.readiness.set('replication', drained.ddlFailed);
    return { notDone: `cutover: the source was unfrozen: ${drained.ddlFailed}` };
  }
  const reason = `cutover: the target did not replay the frozen source's last changes within ${run.input.cutoverTimeoutSeconds} s (it confirmed ${drained.confirmedLsn ?? 'no position'} of ${drained.lsn ?? 'the final LSN'}); the source was unfrozen at once, and an approval is taken again once the target has caught up`;
  cutoverTimedOut(run, drained.lsn, reason);
  return { notDone: reason };
}

/**
 * Freezes the source (see freeze) and returns the source server's clock just before the fence: the
 * downtime is measured on that one clock, to a second reading once the target is ready (an upper
 * bound: it includes the freeze's own work).
 */
export async function freezeOnSourceClock(run: MigrationRun): Promise<number> {
  return (await freeze(run)).sourceClockMs;
}

/**
 * The downtime on one clock, the source server's: `frozenAt` was read there just before the freeze,
 * this reading once the target is ready. Past the point of no return, so a source that cannot tell
 * the time leaves the downtime unknown rather than failing the migration.
 */
export async function downtimeSince(run: MigrationRun, frozenAt?: number): Promise<number | undefined> {
  if (frozenAt === undefined) return undefined;
  try {
    const { ms } = await control.sourceClock({ source: run.input.source });
    return Math.round(ms - frozenAt);
  } catch {
    return undefined;
  }
}

/** Lifts the freeze of a cutover that ran out of time: settings restored, the fence's slot dropped. */
async function unfreeze(run: MigrationRun): Promise<void> {
  fences.delete(run);
  await control.unfreezeSource({ source: run.input.source, fence: fenceSlotName(run.id) });
}
