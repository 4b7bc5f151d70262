import { CancellationScope, condition, isCancellation, sleep, uuid4 } from '@temporalio/workflow';
import { control, data, holding } from './activities';
import type { MigrationRun } from './migration-run';

/** How many times the copy starts over from a new slot after losing its snapshot. */
const COPY_ATTEMPTS = 3;
/** Lag under which replication counts as caught up. */
export const CAUGHT_UP_BYTES = 1024 * 1024;

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
  run.rollback.push('dropReplication', async () => {
    await control.dropReplication(replication);
  });
  await control.createPublication({ source: input.source, publication: replication.publication });
  let previousToken: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const scope = new CancellationScope();
    let holderFailed = false;
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
        if (!isCancellation(err)) holderFailed = true;
      });
    // Slot creation waits for every open transaction on the source: this can take long (data queue).
    const snap = await data.awaitSnapshot({
      target: input.target,
      migration: run.id,
      token,
      ...(previousToken ? { notBefore: previousToken } : {}),
    });
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

/** Starts the subscription at the slot and waits until the target has caught up with the source. */
export async function replicate(run: MigrationRun): Promise<void> {
  await control.createSubscription(run.replication);
  run.progress.enter('replicate');
  for (;;) {
    const lag = await control.replicationLag(run.replication);
    run.progress.detail('lag', lag);
    if (lag.lagBytes < CAUGHT_UP_BYTES) return;
    // Short: the first look usually finds the backlog of the copy, cleared within a second or two.
    await sleep('500 milliseconds');
  }
}

/**
 * The online cutover's first half: nothing new on the source (frozen), and everything it wrote
 * applied on the target. Returns when the source was frozen (for the downtime).
 */
export async function drainToFrozenSource(run: MigrationRun, freeze: () => Promise<number>): Promise<number> {
  const frozenAt = await freeze();
  const { lsn } = await control.currentLsn({ source: run.input.source });
  await control.waitForReplay({ ...run.replication, lsn });
  return frozenAt;
}
