import { control } from './activities';
import type { Copied } from './copy';
import type { MigrationRun } from './migration-run';
import { drainToFrozenSource } from './online';
import { settle, type Settled } from './settle';

/** Freezes the source (a rollback unfreezes it); returns when it was frozen. */
export async function freeze(run: MigrationRun): Promise<number> {
  const { source } = run.input;
  run.rollback.push('unfreezeSource', async () => {
    await control.unfreezeSource({ source });
  });
  return (await control.freezeSource({ source })).frozenAt;
}

/** Cutover (online): the source frozen, its changes drained, then the final steps on the frozen source. */
export async function cutover(
  run: MigrationRun,
  copied: Copied,
): Promise<{ frozenAt: number; settled: Settled }> {
  run.progress.enter('cutover');
  const frozenAt = await drainToFrozenSource(run, () => freeze(run));
  return { frozenAt, settled: await settle(run, copied) };
}
