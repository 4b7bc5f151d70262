import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import { startDevServer } from '../worker/dev-server';
import { WORKFLOWS_PATH } from '../worker/run';
import { setupTemporalCli } from '../worker/temporal-cli';
import { freePort } from './helpers/pg';

/** Namespaces the shared server creates: one per vitest worker, so that test files never share a task queue. */
export const TEST_NAMESPACES = Array.from({ length: 8 }, (_, i) => `pgferry-test-${i + 1}`);

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalCliPath: string;
    workflowBundlePath: string;
    codecKey: string;
  }
}

/** Starts one real Temporal dev server for the whole run and bundles the workflows once. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pgferry-test-'));
  const cli = await setupTemporalCli((line) => process.stderr.write(`[global-setup] ${line}\n`));
  if (cli.kind !== 'binary')
    throw new Error('the tests need the temporal CLI; run `npx pgferry setup-temporal`');
  const port = await freePort();
  const server = await startDevServer({
    cliPath: cli.path,
    port,
    uiPort: await freePort(),
    dbFilename: path.join(dir, 'temporal.db'),
    headless: true,
    namespaces: TEST_NAMESPACES,
  });
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  await writeFile(bundlePath, code);
  project.provide('temporalAddress', server.address);
  project.provide('temporalCliPath', cli.path);
  project.provide('workflowBundlePath', bundlePath);
  project.provide('codecKey', randomBytes(32).toString('base64'));
  return async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`[bundle] ${message}\n`),
  error: (message: string) => process.stderr.write(`[bundle] ${message}\n`),
};
