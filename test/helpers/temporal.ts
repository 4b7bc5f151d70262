import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { inject } from 'vitest';
import { PgferryClient } from '../../client/pgferry-client';
import { loadConfig } from '../../worker/config';
import { startWorker, type RunningWorker } from '../../worker/run';
import { installRuntime } from '../../worker/runtime';

/** This vitest worker's namespace on the shared server (test files in one worker run one after another). */
export function testNamespace(): string {
  return `pgferry-test-${process.env.VITEST_POOL_ID ?? '1'}`;
}

/** The environment a pgferry process of this test file runs with: the shared server, its namespace, the test key. */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: testNamespace(),
    PGFERRY_CODEC_KEY: inject('codecKey'),
    PGFERRY_CODEC_KEY_ID: 'test',
    PGFERRY_STATE_DIR: mkdtempSync(path.join(tmpdir(), 'pgferry-state-')),
    PGFERRY_LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** Starts the control and data workers in this process, on the prebuilt workflow bundle. */
export async function startTestWorker(env: NodeJS.ProcessEnv = testEnv()): Promise<RunningWorker> {
  installRuntime('ERROR');
  let ready: () => void = () => undefined;
  const polling = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const worker = await startWorker(loadConfig(env), {
    workflowBundlePath: inject('workflowBundlePath'),
    env,
    onReady: ready,
  });
  await polling;
  return worker;
}

/** Stops a worker and waits for it. */
export async function stopWorker(worker: RunningWorker | undefined): Promise<void> {
  if (!worker) return;
  worker.shutdown();
  await worker.done;
}

/** A PgferryClient on the shared server, as a program would make one. */
export function connectClient(env: NodeJS.ProcessEnv = testEnv()): Promise<PgferryClient> {
  return PgferryClient.connect({ env });
}

/** The CLI entry point, as `npx pgferry` runs it (the compiled dist/). */
export { CLI } from './cli-path';

/**
 * A plain Temporal client on the shared server, in this file's namespace, without pgferry's codec:
 * what another team's program or the `temporal` CLI sees. Tear it down after use.
 */
export function plainTemporal(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createFromExistingServer({
    address: inject('temporalAddress'),
    namespace: testNamespace(),
  });
}
