// Records the histories in test/histories/ (npm run record:histories), which the suite replays.
// Before 1.0, a change to a workflow's commands re-records them and leaves no old branch behind
// (docs/VERSIONING.md): run this, commit the new files, and the replay test guards the new shape.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HISTORY_CODEC_KEY, saveHistory } from '../helpers/histories';
import {
  adminUrl,
  createEmptyDatabase,
  dropDatabase,
  query,
  startThrowawayCluster,
  uniqueName,
  type ThrowawayCluster,
} from '../helpers/pg';
import { useTemporalSuite } from '../helpers/suite';
import { plainTemporal, testEnv } from '../helpers/temporal';
import { waitForStatus } from '../helpers/wait';

const TABLE =
  "CREATE TABLE t (id integer PRIMARY KEY, label text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g";

describe('recording the workflow histories that the suite replays', () => {
  const source = uniqueName('hist_src');
  const target = uniqueName('hist_dst');
  const migrated = uniqueName('hist_mig');
  const rejectedTarget = uniqueName('hist_rej');
  let dir: string;
  let temporal: TestWorkflowEnvironment;
  let logicalSource: ThrowawayCluster;
  let logicalTarget: ThrowawayCluster;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-hist-'));
    await createEmptyDatabase(source);
    await query(adminUrl(5432, source), TABLE);
    [logicalSource, logicalTarget] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
    ]);
    await query(logicalSource.url(), 'CREATE DATABASE shop');
    await query(logicalSource.url('shop'), TABLE);
  });

  afterAll(async () => {
    await temporal?.teardown();
    await logicalSource?.stop();
    await logicalTarget?.stop();
    for (const db of [source, target, migrated, rejectedTarget]) await dropDatabase(db);
    await rm(dir, { recursive: true, force: true });
  });

  const suite = useTemporalSuite({
    env: () =>
      testEnv({
        PGFERRY_CODEC_KEY: HISTORY_CODEC_KEY.key.toString('base64'),
        PGFERRY_CODEC_KEY_ID: HISTORY_CODEC_KEY.id,
        PGFERRY_CLUSTERS_DIR: path.join(dir, 'clusters'),
      }),
  });

  // After the suite's worker: it installs the SDK's runtime, which a plain client would otherwise make first.
  beforeAll(async () => {
    temporal = await plainTemporal();
  });

  const save = async (name: string, workflowId: string) => {
    await saveHistory(name, workflowId, await temporal.client.workflow.getHandle(workflowId).fetchHistory());
  };
  const atGate = (id: string) =>
    waitForStatus(suite.client, id, 'the approval gate', (s) => s.state === 'waiting');

  it('records a backup and a restore with its provision child', async () => {
    const backup = await suite.client.backup({
      source: adminUrl(5432, source),
      to: path.join(dir, 'backups'),
    });
    const made = await backup.result();
    await save('backup-completed', backup.workflowId);
    const restore = await suite.client.restore({ from: made.backup, target: adminUrl(5432, target) });
    expect((await restore.result()).report.ok).toBe(true);
    await save('restore-completed', restore.workflowId);
    await save('provision-local-completed', `${restore.workflowId}-provision`);
  });

  it('records an offline migration approved after a refused signal, and one that is rejected', async () => {
    const approved = `hist-approved-${uniqueName('m').slice(-6)}`;
    const run = await suite.client.migrate({
      name: approved,
      source: adminUrl(5432, source),
      target: adminUrl(5432, migrated),
      approvers: ['alice'],
    });
    await atGate(run.workflowId);
    await temporal.client.workflow.getHandle(run.workflowId).signal('approve', { by: 'mallory' });
    await suite.client.approve(approved, { by: 'alice', reason: 'recorded' });
    expect((await run.result()).outcome).toBe('completed');
    await save('migration-approved', run.workflowId);

    const rejected = `hist-rejected-${uniqueName('m').slice(-6)}`;
    const second = await suite.client.migrate({
      name: rejected,
      source: adminUrl(5432, source),
      target: adminUrl(5432, rejectedTarget),
      freezeSource: true,
      onRollback: 'drop',
    });
    await atGate(second.workflowId);
    await suite.client.reject(rejected, { by: 'bob', reason: 'recorded' });
    expect((await second.result()).outcome).toBe('rejected');
    await save('migration-rejected', second.workflowId);
  });

  it('records an online migration that replicates, waits for a person, and cuts over', async () => {
    const name = `hist-online-${uniqueName('m').slice(-6)}`;
    const run = await suite.client.migrate({
      name,
      source: logicalSource.url('shop'),
      target: logicalTarget.url('shop'),
      mode: 'online',
    });
    await atGate(run.workflowId);
    await query(logicalSource.url('shop'), "INSERT INTO t VALUES (101, 'written while waiting')");
    await suite.client.approve(name, { by: 'alice', reason: 'recorded online' });
    const result = await run.result();
    expect(result.outcome).toBe('completed');
    expect(result.validation?.ok).toBe(true);
    await save('migration-online-approved', run.workflowId);
  });

  it('records a preflight, a backup that fails on a missing database and one with a broken input', async () => {
    const report = await suite.client.preflight({
      source: adminUrl(5432, source),
      target: adminUrl(5432, uniqueName('nowhere')),
    });
    expect(report.ok).toBe(true);
    const preflightId = (await suite.client.list()).find((w) => w.type === 'preflight')?.id;
    expect(preflightId).toBeDefined();
    await save('preflight-completed', preflightId!);

    const missing = await suite.client.backup({
      source: adminUrl(5432, uniqueName('none')),
      to: path.join(dir, 'backups'),
    });
    await missing.result().catch(() => undefined);
    await save('backup-failed-missing-database', missing.workflowId);
    const broken = await temporal.client.workflow.start('backup', {
      taskQueue: 'pgferry-control',
      workflowId: `backup-${uniqueName('broken')}`,
      args: [{ source: 'nope', to: '' }],
    });
    await broken.result().catch(() => undefined);
    await save('backup-failed-invalid-input', broken.workflowId);
  });
});
