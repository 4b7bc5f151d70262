import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { installRuntime } from '../worker/runtime';
import { historyCodec, loadHistories } from './helpers/histories';

describe('recorded workflow histories', () => {
  it('replay against the current workflow code without a determinism error', async () => {
    installRuntime('ERROR');
    const histories = await loadHistories();
    expect(histories.map((h) => h.name)).toEqual(
      expect.arrayContaining([
        'backup-completed',
        'restore-completed',
        'provision-local-completed',
        'backup-failed-missing-database',
      ]),
    );
    for (const { name, workflowId, history } of histories) {
      await expect(
        Worker.runReplayHistory(
          {
            workflowBundle: { codePath: inject('workflowBundlePath') },
            dataConverter: { payloadCodecs: [historyCodec()] },
          },
          history,
          workflowId,
        ),
        name,
      ).resolves.toBeUndefined();
    }
  });
});
