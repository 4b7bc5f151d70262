import { condition, isCancellation } from '@temporalio/workflow';
import { failureInfo } from '../domain/failure-info';
import type { FallbackReport, FallbackWindowReport } from '../domain/migration';
import { fallbackFenceName, fenceSlotName, reverseObjectName } from '../domain/names';
import { control, watching } from './activities';
import { untilDone } from './attention';
import { allEnded } from './compensations';
import type { FallbackAsked } from './fallback-window';
import type { MigrationRun } from './migration-run';
import { switchEndpoint } from './switch';

/** What a person does when closing the window keeps failing: the objects are named by the migration. */
const CLOSE_FIX =
  'mend the cause (a server down, a missing right) and pgferry tries again; or `pgferry cancel` the migration and remove what it left with `pgferry cleanup`';
/** What a person does when the old source cannot be unfrozen in a fallback: both sides are frozen, none writable. */
const UNFREEZE_FIX =
  'the target is frozen and has been replayed onto the source, which stays frozen until this succeeds (no side takes writes, so none is lost): mend the cause (the source down, a missing right) and pgferry tries again';
/** What a person does when the target's freeze cannot be lifted after a fallback that did not go through. */
const UNFREEZE_TARGET_FIX =
  'the fallback did not go through and the source stays frozen; the target is the primary and must take writes again: mend the cause and pgferry tries again';

/** The reverse replication's objects: publication and slot on the target, the subscription on the source. */
function reverse(run: MigrationRun) {
  const name = reverseObjectName(run.id);
  return {
    source: run.input.source,
    target: run.input.target,
    slot: name,
    publication: name,
    subscription: name,
  };
}

/**
 * At the cutover, with a fallback window: the target's publication and slot, made while the source
 * is frozen, the forward subscription dropped and the endpoint not yet switched, so nothing writes
 * to the target and the slot misses nothing. A failure leaves the cutover standing without a way
 * back (the window says why); it never stops the cutover. False without a window.
 */
export async function openFallbackWindow(run: MigrationRun): Promise<boolean> {
  if (run.input.fallbackWindowSeconds === undefined) return false;
  try {
    await control.openReverse(reverse(run));
    return true;
  } catch (err) {
    if (isCancellation(err)) throw err;
    run.window.notOpened(`the target's publication and slot could not be made: ${failureInfo(err).message}`);
    return false;
  }
}

/**
 * The fallback window, after the endpoint switch (the migration's result carries its report): the
 * source subscribes to the target, then the window waits for a fallback, a release or its deadline.
 * A fallback that does not go through leaves the target the primary (unfrozen again) and the window
 * open. Whatever ends it, the reverse replication is dropped. Nothing without a window.
 */
export async function fallbackWindow(
  run: MigrationRun,
  opened: boolean,
): Promise<{ fallbackWindow?: FallbackWindowReport }> {
  if (run.input.fallbackWindowSeconds === undefined) return {};
  const report = await windowStage(run, opened);
  if (report === undefined) return {};
  // How it ended (or why it never opened) goes to the notification targets.
  await run.notifier.window(report);
  return { fallbackWindow: report };
}

/** The window's stage: see fallbackWindow. */
async function windowStage(run: MigrationRun, opened: boolean): Promise<FallbackWindowReport | undefined> {
  const { input, window } = run;
  if (input.fallbackWindowSeconds === undefined) return undefined;
  if (!opened) return window.report;
  run.progress.enter('window');
  try {
    await control.subscribeReverse(reverse(run));
  } catch (err) {
    if (isCancellation(err)) throw err;
    window.notOpened(`the source could not subscribe to the target: ${failureInfo(err).message}`);
    await closeReverse(run);
    return window.report;
  }
  // Workflow time: in a workflow, new Date() is the history's clock, not the host's.
  const deadline = new Date().getTime() + input.fallbackWindowSeconds * 1000;
  window.open(new Date(deadline).toISOString());
  if (window.report) await run.notifier.window(window.report);
  for (;;) {
    const left = deadline - new Date().getTime();
    if (left <= 0) break;
    await condition(() => window.asked !== undefined || window.released !== undefined, left);
    const asked = window.asked;
    if (asked === undefined) break;
    if (await fallBack(run, asked)) break;
  }
  await closeReverse(run);
  return window.closed(new Date().toISOString());
}

/** Drops the reverse replication, retried until it succeeds (past the point of no return). */
async function closeReverse(run: MigrationRun): Promise<void> {
  await untilDone(run, 'closeReverse', CLOSE_FIX, () => control.closeReverse(reverse(run)));
}

/**
 * Moves the primary back to the source without losing a write: the target frozen and replayed
 * (frozenReplayed), then the source unfrozen — the fallback's point of no return — and the switch
 * hook told. After that point, steps are retried until done and the target stays frozen: the two
 * are never writable at once. True when it went through.
 */
async function fallBack(run: MigrationRun, asked: FallbackAsked): Promise<boolean> {
  run.window.fallingBack();
  const ready = await frozenReplayed(run, asked);
  if (ready === undefined) return false;
  await untilDone(run, 'unfreezeSource', UNFREEZE_FIX, () =>
    control.unfreezeSource({ source: run.input.source, fence: fenceSlotName(run.id) }),
  );
  run.window.fellBack(await reported(run, asked, ready));
  await switchEndpoint(run, 'fallback');
  return true;
}

/** What the source has from the frozen target: its last LSN, replayed; the sequences, set. */
interface Replayed {
  readonly frozenAt: number;
  readonly lsn: string;
  readonly sequences: number;
}

/**
 * The target frozen behind its own fence, then at once, side by side: the source's replay of
 * everything up to the target's final LSN (within --cutover-timeout), the sequences set back on the
 * source, and the target's fence verified (no write passed it). A failure or a replay out of time
 * unfreezes the target again (the source stays frozen) and returns undefined.
 */
async function frozenReplayed(run: MigrationRun, asked: FallbackAsked): Promise<Replayed | undefined> {
  const { source, target, cutoverTimeoutSeconds } = run.input;
  const names = reverse(run);
  try {
    const frozen = await control.freezeSource({ source: target, fence: fallbackFenceName(run.id) });
    const [replay, sequences] = await allEnded([
      watching.waitForReplay({
        source: target,
        target: source,
        slot: names.slot,
        subscription: names.subscription,
        timeoutMs: cutoverTimeoutSeconds * 1000,
      }),
      control.syncSequences({ source: target, target: source }),
      control.verifyFence({
        source: target,
        ...(frozen.fence.slot === undefined ? {} : { slot: frozen.fence.slot }),
        baseline: frozen.fence.baseline,
      }),
    ]);
    if (replay.reached) {
      const frozenAt = frozen.sourceClockMs ?? frozen.frozenAt;
      return { frozenAt, lsn: replay.lsn, sequences: sequences.sequences };
    }
    const why = `the source did not replay the target's last changes within ${cutoverTimeoutSeconds} s (it confirmed ${replay.confirmedLsn} of ${replay.lsn})`;
    await notThrough(run, asked, why);
  } catch (err) {
    if (isCancellation(err)) throw err;
    await notThrough(run, asked, failureInfo(err).message);
  }
  return undefined;
}

/** A fallback that did not go through: the target's freeze lifted (retried until done), the window open. */
async function notThrough(run: MigrationRun, asked: FallbackAsked, why: string): Promise<void> {
  await untilDone(run, 'unfreezeTarget', UNFREEZE_TARGET_FIX, () =>
    control.unfreezeSource({ source: run.input.target, fence: fallbackFenceName(run.id) }),
  );
  run.window.failed(asked, why, new Date().toISOString());
}

/**
 * The fallback as the history keeps it. The downtime runs on one clock, the target's: from just
 * before its freeze to a reading after the source took writes again (an upper bound).
 */
async function reported(
  run: MigrationRun,
  asked: FallbackAsked,
  { frozenAt, lsn, sequences }: Replayed,
): Promise<FallbackReport> {
  const at = new Date().toISOString();
  const clock = await control.sourceClock({ source: run.input.target }).catch(() => undefined);
  return {
    by: asked.by,
    reason: asked.reason,
    ...(asked.via ? { via: asked.via } : {}),
    askedAt: asked.askedAt,
    at,
    ...(clock === undefined ? {} : { downtimeMs: Math.round(clock.ms - frozenAt) }),
    lsn,
    sequences,
  };
}
