import { CancellationScope, condition, isCancellation, sleep, uuid4 } from '@temporalio/workflow';
import type { MigrationInput } from '../domain/migration';
import { control, data, holding } from './activities';
import type { Progress } from './progress';

/** Names of the replication objects of one migration: slot, publication and subscription share it. */
export function replicationName(migrationName: string): string {
  return `pgferry_${migrationName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** How many times the copy starts over from a new slot after losing its snapshot. */
const COPY_ATTEMPTS = 3;
/** Lag under which replication counts as caught up. */
export const CAUGHT_UP_BYTES = 1024 * 1024;

/**
 * Holds a replication slot's exported snapshot while `copy` runs under it, so that copy plus
 * replication from the slot are exactly the source. A lost snapshot (the holder's connection or
 * worker died) empties what the copy wrote and starts over from a new slot.
 */
export async function copyUnderSlotSnapshot(
  input: MigrationInput,
  migration: string,
  slot: string,
  copy: (snapshot: string) => Promise<void>,
): Promise<{ slot: string; lsn: string }> {
  let previousToken: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const scope = new CancellationScope();
    let holderFailed = false;
    // A token per holder: the copy waits for this holder's snapshot, never a row a dead one left.
    const token = uuid4();
    const holder = scope
      .run(() =>
        holding.holdSlotSnapshot({ source: input.source, target: input.target, migration, slot, token }),
      )
      .catch((err: unknown) => {
        if (!isCancellation(err)) holderFailed = true;
      });
    // Slot creation waits for every open transaction on the source: this can take long (data queue).
    const snap = await data.awaitSnapshot({
      target: input.target,
      migration,
      token,
      ...(previousToken ? { notBefore: previousToken } : {}),
    });
    try {
      await copy(snap.snapshot);
      scope.cancel();
      await holder;
      if (holderFailed) throw new Error('the snapshot holder died before the copy ended');
      return { slot: snap.slot, lsn: snap.lsn };
    } catch (err) {
      if (isCancellation(err)) throw err;
      // A worker crash shows first as failed chunks; the holder's own timeout follows within seconds.
      await condition(() => holderFailed, '20 seconds');
      scope.cancel();
      await holder;
      if (!holderFailed || attempt >= COPY_ATTEMPTS) throw err;
      await control.resetCopy({ source: input.source, target: input.target, migration });
      previousToken = snap.token;
    }
  }
}

/** Polls the replication lag until it is under CAUGHT_UP_BYTES, keeping it in the progress. */
export async function waitForCatchUp(input: MigrationInput, name: string, progress: Progress): Promise<void> {
  for (;;) {
    const lag = await control.replicationLag({
      source: input.source,
      target: input.target,
      slot: name,
      subscription: name,
    });
    progress.detail('lag', lag);
    if (lag.lagBytes < CAUGHT_UP_BYTES) return;
    // Short: the first look usually finds the backlog of the copy, cleared within a second or two.
    await sleep('500 milliseconds');
  }
}
