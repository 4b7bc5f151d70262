// Records the histories in test/histories/ (npm run record:histories). Run it again when a workflow
// change is meant to break replay and ships as a new workflow type or behind patched().
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgferryClient } from '../../client/pgferry-client';
import type { RunningWorker } from '../../worker/run';
import { HISTORY_CODEC_KEY, saveHistory } from '../helpers/histories';
import { adminUrl, createEmptyDatabase, dropDatabase, query, uniqueName } from '../helpers/pg';
import { connectClient, plainTemporal, startTestWorker, stopWorker, testEnv } from '../helpers/temporal';

describe('recording the workflow histories that the suite replays', () => {
  const source = uniqueName('hist_src');
  const target = uniqueName('hist_dst');
  const migrated = uniqueName('hist_mig');
  const rejectedTarget = uniqueName('hist_rej');
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let worker: RunningWorker;
  let client: PgferryClient;
  let temporal: TestWorkflowEnvironment;

  const save = async (name: string, workflowId: string) => {
    const raw = temporal.client;
    await saveHistory(name, workflowId, await raw.workflow.getHandle(workflowId).fetchHistory());
  };

  beforeAll(async () => {
    await createEmptyDatabase(source);
    await query(
      adminUrl(5432, source),
      "CREATE TABLE t AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 100) g",
    );
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-hist-'));
    env = testEnv({
      PGFERRY_CODEC_KEY: HISTORY_CODEC_KEY.key.toString('base64'),
      PGFERRY_CODEC_KEY_ID: HISTORY_CODEC_KEY.id,
      PGFERRY_CLUSTERS_DIR: path.join(dir, 'clusters'),
    });
    worker = await startTestWorker(env);
    client = await connectClient(env);
    temporal = await plainTemporal();
  });

  afterAll(async () => {
    await client.close();
    await temporal.teardown();
    await stopWorker(worker);
    await dropDatabase(source);
    await dropDatabase(target);
    await dropDatabase(migrated);
    await dropDatabase(rejectedTarget);
    await rm(dir, { recursive: true, force: true });
  });

  it('records a backup and a restore with its provision child', async () => {
    const backup = await client.backup({ source: adminUrl(5432, source), to: path.join(dir, 'backups') });
    const made = await backup.result();
    await save('backup-completed', backup.workflowId);
    const restore = await client.restore({ from: made.backup, target: adminUrl(5432, target) });
    expect((await restore.result()).report.ok).toBe(true);
    await save('restore-completed', restore.workflowId);
    await save('provision-local-completed', `${restore.workflowId}-provision`);
  });

  it('records a migration that waits for a person and one that is rejected, and a preflight', async () => {
    const approved = `hist-approved-${uniqueName('m').slice(-6)}`;
    const run = await client.migrate({
      name: approved,
      source: adminUrl(5432, source),
      target: adminUrl(5432, migrated),
      approvers: ['alice'],
    });
    for (let i = 0; i < 300 && (await client.status(approved)).state !== 'waiting'; i++)
      await new Promise((r) => setTimeout(r, 100));
    await temporal.client.workflow.getHandle(run.workflowId).signal('approve', { by: 'mallory' });
    await client.approve(approved, { by: 'alice', reason: 'recorded' });
    expect((await run.result()).outcome).toBe('completed');
    await save('migration-approved', run.workflowId);

    const rejected = `hist-rejected-${uniqueName('m').slice(-6)}`;
    const second = await client.migrate({
      name: rejected,
      source: adminUrl(5432, source),
      target: adminUrl(5432, rejectedTarget),
      freezeSource: true,
      onRollback: 'drop',
    });
    for (let i = 0; i < 300 && (await client.status(rejected)).state !== 'waiting'; i++)
      await new Promise((r) => setTimeout(r, 100));
    await client.reject(rejected, { by: 'bob', reason: 'recorded' });
    expect((await second.result()).outcome).toBe('rejected');
    await save('migration-rejected', second.workflowId);

    const report = await client.preflight({
      source: adminUrl(5432, source),
      target: adminUrl(5432, uniqueName('nowhere')),
    });
    expect(report.ok).toBe(true);
    const listed = await client.list();
    const preflightId = listed.find((w) => w.type === 'preflight')?.id;
    expect(preflightId).toBeDefined();
    await save('preflight-completed', preflightId!);
  });

  it('records a backup that fails on a missing database and one with a broken input', async () => {
    const missing = await client.backup({
      source: adminUrl(5432, uniqueName('none')),
      to: path.join(dir, 'backups'),
    });
    await missing.result().catch(() => undefined);
    await save('backup-failed-missing-database', missing.workflowId);
    const raw = temporal.client;
    const broken = await raw.workflow.start('backup', {
      taskQueue: 'pgferry-control',
      workflowId: `backup-${uniqueName('broken')}`,
      args: [{ source: 'nope', to: '' }],
    });
    await broken.result().catch(() => undefined);
    await save('backup-failed-invalid-input', broken.workflowId);
  });
});
