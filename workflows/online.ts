import { CancellationScope, condition, isCancellation, sleep, uuid4 } from '@temporalio/workflow';
import { control, data, holding, watching } from './activities';
import type { MigrationRun } from './migration-run';
import { untilCaughtUp } from './watch';

/** How many times the copy starts over from a new slot after losing its snapshot. */
const COPY_ATTEMPTS = 3;

/**
 * Creates the publication, then holds a replication slot's exported snapshot while `copy` runs
 * under it, so that copy plus replication from the slot are exactly the source. A lost snapshot
 * (the holder's connection or worker died) empties what the copy wrote and starts over from a new
 * slot.
 */
export async function copyUnderSlotSnapshot<T>(
  run: MigrationRun,
  copy: (snapshot: string) => Promise<T>,
): Promise<T> {
  const { input, replication } = run;
  // The publication exists before the slot: decoding reads the catalog as of each change.
  // Two steps: the source's slot and publication go even while the target is down (newest first:
  // the subscription is tried first, so that the target stops applying before the slot goes).
  run.rollback.push('dropSourceReplication', async () => {
    await control.dropSourceReplication(replication);
  });
  run.rollback.push('dropSubscription', async () => {
    await control.dropSubscription(replication);
  });
  await control.createPublication({ source: input.source, publication: replication.publication });
  // Schema changes from here on are captured (before the slot: every one after its snapshot is in the stream).
  await control.captureDdl({
    source: input.source,
    target: input.target,
    publication: replication.publication,
    migration: input.name,
    policy: input.ddl,
  });
  let previousToken: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const scope = new CancellationScope();
    let holderFailed = false;
    let holderError: unknown;
    // A token per holder: the copy waits for this holder's snapshot, never a row a dead one left.
    const token = uuid4();
    const holder = scope
      .run(() =>
        holding.holdSlotSnapshot({
          source: input.source,
          target: input.target,
          migration: run.id,
          slot: replication.slot,
          token,
        }),
      )
      .catch((err: unknown) => {
        if (isCancellation(err)) return;
        holderFailed = true;
        holderError = err;
      });
    // Slot creation waits for every open transaction on the source: this can take long (data queue).
    // A holder that dies first ends the wait: nobody would publish the snapshot it waits for.
    const snap = await unlessFailed(
      () => holderFailed,
      () =>
        data.awaitSnapshot({
          target: input.target,
          migration: run.id,
          token,
          ...(previousToken ? { notBefore: previousToken } : {}),
        }),
    );
    if (snap === undefined) {
      // Nothing was copied under its snapshot: a new holder makes a new slot.
      if (attempt >= COPY_ATTEMPTS) throw holderError;
      continue;
    }
    try {
      const copied = await copy(snap.snapshot);
      scope.cancel();
      await holder;
      if (holderFailed) throw new Error('the snapshot holder died before the copy ended');
      return copied;
    } catch (err) {
      if (isCancellation(err)) throw err;
      // A worker crash shows first as failed chunks; the holder's own timeout follows within seconds.
      await condition(() => holderFailed, '20 seconds');
      scope.cancel();
      await holder;
      if (!holderFailed || attempt >= COPY_ATTEMPTS) throw err;
      await control.resetCopy({ source: input.source, target: input.target, migration: run.id });
      previousToken = snap.token;
    }
  }
}

/**
 * Starts the subscription at the slot and waits until the target has caught up with the source,
 * watched from a heartbeating activity (a few events a minute however long the catch-up takes).
 * A slot lost meanwhile ends the wait too: the gate names it, and only a rejection is taken.
 */
export async function replicate(run: MigrationRun): Promise<void> {
  await control.createSubscription(run.replication);
  run.progress.enter('replicate');
  await untilCaughtUp(run);
}

/** How the drain of a frozen source ended: replayed, or out of time (the source is then unfrozen again). */
export type Drained =
  | { readonly replayed: true; readonly frozenAt: number }
  | {
      readonly replayed: false;
      /** The source's final LSN that the target did not confirm in time (unknown when not even read), and how far it got. */
      readonly lsn: string | undefined;
      readonly confirmedLsn: string | undefined;
      readonly waitedMs: number;
      /** Replayed, but a schema change failed on the target (the problem, naming it). */
      readonly ddlFailed?: string;
    };

/**
 * The online cutover's first half: nothing new on the source (frozen), and everything it wrote
 * applied on the target, within --cutover-timeout of the freeze. Past it (or when the target's
 * position cannot be read in that time) the source is unfrozen at once and the drain says so.
 * Returns when the source was frozen (for the downtime).
 */
export async function drainToFrozenSource(
  run: MigrationRun,
  freeze: () => Promise<{ frozenAt: number; lsn: string | undefined }>,
  unfreeze: () => Promise<void>,
): Promise<Drained> {
  const { frozenAt, lsn } = await freeze();
  const timeoutMs = run.input.cutoverTimeoutSeconds * 1000;
  // The freeze marked the source's final LSN (else the replay's step marks it itself).
  const replay = await withinDeadline(timeoutMs + REPLAY_GRACE_MS, () =>
    watching.waitForReplay({ ...run.replication, timeoutMs, ...(lsn ? { lsn } : {}) }),
  );
  if (replay?.reached && replay.ddlFailed === undefined) return { replayed: true, frozenAt };
  await unfreeze();
  return {
    replayed: false,
    lsn: replay?.lsn,
    confirmedLsn: replay?.confirmedLsn,
    waitedMs: replay?.waitedMs ?? timeoutMs + REPLAY_GRACE_MS,
    ...(replay?.ddlFailed === undefined ? {} : { ddlFailed: replay.ddlFailed }),
  };
}

/**
 * The workflow's own bound on the drain, beyond the replay activity's: a worker that dies while it
 * waits is not waited for (the wait is abandoned, it only reads).
 */
const REPLAY_GRACE_MS = 5000;

/** Runs `fn`, or gives up on it once `failed()` holds (cancelled, waited for; undefined). */
async function unlessFailed<T>(failed: () => boolean, fn: () => Promise<T>): Promise<T | undefined> {
  const work = new CancellationScope();
  const done = work.run(fn);
  let settled = false;
  const outcome = done.then(
    (value) => ({ value }),
    (err: unknown) => ({ err }),
  );
  void outcome.then(() => (settled = true));
  await condition(() => settled || failed());
  if (settled) {
    const ended = await outcome;
    if ('err' in ended) throw ended.err;
    return failed() ? undefined : ended.value;
  }
  work.cancel();
  await outcome;
  return undefined;
}

/** Runs `fn`, or gives up on it after `ms` (cancelled; undefined). */
async function withinDeadline<T>(ms: number, fn: () => Promise<T>): Promise<T | undefined> {
  const work = new CancellationScope();
  const timer = new CancellationScope();
  const done = work.run(fn);
  const expired = timer.run(() => sleep(ms));
  try {
    const first = await Promise.race([done.then((value) => ({ value })), expired.then(() => undefined)]);
    if (first !== undefined) return first.value;
    work.cancel();
    await done.catch(ignoreCancellation);
    return undefined;
  } finally {
    timer.cancel();
    await expired.catch(ignoreCancellation);
  }
}

function ignoreCancellation(err: unknown): void {
  if (!isCancellation(err)) throw err;
}
