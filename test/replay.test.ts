import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import {
  bundleWorkflowCode,
  Worker,
  type WorkflowBundle,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { installRuntime } from '../worker/runtime';
import { silentTemporalLogger } from './helpers/activity-env';
import { historyCodec, loadHistories } from './helpers/histories';

const ROOT = path.resolve(__dirname, '..');
/** Inside the repository, so that the copy's imports (zod, the SDK) resolve to its node_modules. */
const REORDERED = path.join(ROOT, 'test-artifacts', 'reordered-workflows');

/** Replays one recorded history against a workflow bundle; rejects on a determinism error. */
function replay(
  bundle: WorkflowBundleOption,
  { workflowId, history }: Awaited<ReturnType<typeof loadHistories>>[number],
) {
  return Worker.runReplayHistory(
    { workflowBundle: bundle, dataConverter: { payloadCodecs: [historyCodec()] } },
    history,
    workflowId,
  );
}

/**
 * A bundle of the workflow code with two stages of the migration swapped: provisioning before the
 * preflight. Built from a copy of workflows/ and domain/, so the real code stays as it is.
 */
async function reorderedBundle(): Promise<WorkflowBundle> {
  await rm(REORDERED, { recursive: true, force: true });
  await mkdir(REORDERED, { recursive: true });
  for (const dir of ['workflows', 'domain'])
    await cp(path.join(ROOT, dir), path.join(REORDERED, dir), { recursive: true });
  const file = path.join(REORDERED, 'workflows', 'migration.ts');
  const code = await readFile(file, 'utf8');
  const inOrder = 'const preflight = await checkBoth(run);\n    await provisionTarget(run);';
  expect(code, 'the migration workflow calls the preflight, then provisions').toContain(inOrder);
  await writeFile(
    file,
    code.replace(inOrder, 'await provisionTarget(run);\n    const preflight = await checkBoth(run);'),
  );
  const { code: bundled } = await bundleWorkflowCode({
    workflowsPath: path.join(REORDERED, 'workflows', 'index.ts'),
    logger: silentTemporalLogger,
  });
  return { code: bundled };
}

describe('recorded workflow histories', () => {
  afterAll(async () => {
    await rm(REORDERED, { recursive: true, force: true });
  });

  it('replay against the current workflow code without a determinism error', async () => {
    installRuntime('ERROR');
    const histories = await loadHistories();
    expect(histories.map((h) => h.name)).toEqual(
      expect.arrayContaining([
        'backup-completed',
        'restore-completed',
        'provision-local-completed',
        'backup-failed-missing-database',
        'migration-approved',
        'migration-rejected',
        'migration-online-approved',
      ]),
    );
    const bundle = { codePath: inject('workflowBundlePath') };
    for (const recorded of histories) {
      await expect(replay(bundle, recorded), recorded.name).resolves.toBeUndefined();
    }
  });

  it('fail to replay when the migration workflow issues its commands in another order', async () => {
    installRuntime('ERROR');
    const bundle = await reorderedBundle();
    const migrations = (await loadHistories()).filter((h) => h.name.startsWith('migration-'));
    expect(migrations.map((h) => h.name)).toContain('migration-online-approved');
    for (const recorded of migrations) {
      await expect(replay(bundle, recorded), recorded.name).rejects.toBeInstanceOf(DeterminismViolationError);
    }
  });
});
