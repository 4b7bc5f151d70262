import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PgferryClient } from '../client/pgferry-client';
import { CONTROL_TASK_QUEUE } from '../domain/constants';
import { ErrorCode, type PgferryError } from '../domain/errors';
import { EncryptionCodec } from '../worker/codec';
import type { RunningWorker } from '../worker/run';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { decodedHistoryText, rawHistoryText } from './helpers/history';
import {
  adminUrl,
  cloneDatabase,
  createTemplateDatabase,
  dropDatabase,
  runCommand,
  startThrowawayCluster,
  uniqueName,
  type ThrowawayCluster,
} from './helpers/pg';
import { connectClient, plainTemporal, startTestWorker, stopWorker, testEnv } from './helpers/temporal';

const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');
const SECRET = `Sekr3t-${uniqueName('pw')}`;
const SECRET_ENV = 'PGFERRY_PASSWORD_TEST_SOURCE';

describe('provision, backup and restore workflows on a real Temporal server', () => {
  const template = uniqueName('wf_tpl');
  const databases: string[] = [];
  const dirs: string[] = [];
  let cluster: ThrowawayCluster;
  let clustersDir: string;
  let env: NodeJS.ProcessEnv;
  let worker: RunningWorker;
  let client: PgferryClient;
  let backups: string;

  beforeAll(async () => {
    await createTemplateDatabase(template, FIXTURE);
    cluster = await startThrowawayCluster({ auth: 'scram', password: SECRET });
    backups = await mkdtemp(path.join(tmpdir(), 'pgferry-backups-'));
    clustersDir = await mkdtemp(path.join(tmpdir(), 'pgferry-clusters-'));
    // The cluster runs as the postgres user, who must be able to reach its data directory.
    await chmod(clustersDir, 0o755);
    dirs.push(backups, clustersDir);
    env = testEnv({ [SECRET_ENV]: SECRET, PGFERRY_CLUSTERS_DIR: clustersDir });
    worker = await startTestWorker(env);
    client = await connectClient(env);
  });

  afterAll(async () => {
    await client?.close();
    await stopWorker(worker);
    await cluster?.stop();
    for (const name of databases) await dropDatabase(name);
    await dropDatabase(template);
    for (const dir of dirs) {
      await runCommand('bash', [
        '-c',
        `for d in ${dir}/*/; do [ -f "$d/PG_VERSION" ] && runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$d" stop -m immediate >/dev/null 2>&1; done; true`,
      ]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('backs up the fixture database and restores it into a new database that is identical to the source', async () => {
    const source = uniqueName('wf_src');
    const target = uniqueName('wf_dst');
    databases.push(source, target);
    await cloneDatabase(template, source);

    const backup = await client.backup({ source: adminUrl(5432, source), to: backups, jobs: 2 });
    const made = await backup.result();
    expect(made.backup.startsWith(backups)).toBe(true);
    expect(made.tables).toBeGreaterThan(10);
    expect(made.largeObjects).toBe(3);

    const restore = await client.restore({ from: made.backup, target: adminUrl(5432, target), jobs: 2 });
    const restored = await restore.result();
    expect(restored.report.ok).toBe(true);
    expect(restored.report.rowsRestored).toBe(made.rows);
    expect(restored.provision.created).toBe(true);

    const diff = diffFingerprints(
      await databaseFingerprint(adminUrl(5432, source)),
      await databaseFingerprint(adminUrl(5432, target)),
    );
    expect(diff).toEqual([]);

    const status = await client.status(restore.workflowId);
    expect(status).toMatchObject({ state: 'completed', stage: 'done', type: 'restore' });
    const listed = await client.list();
    expect(listed.map((w) => w.id)).toEqual(expect.arrayContaining([backup.workflowId, restore.workflowId]));
  });

  it('keeps the password out of every workflow history while the worker uses it', async () => {
    const db = uniqueName('wf_secret');
    await runCommand(
      'psql',
      ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', `CREATE DATABASE ${db}`, cluster.url('postgres')],
      {
        env: { ...process.env, PGPASSWORD: SECRET },
      },
    );
    await runCommand(
      'psql',
      [
        '-X',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '-c',
        'CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 500) g',
        cluster.url(db),
      ],
      {
        env: { ...process.env, PGPASSWORD: SECRET },
      },
    );
    const source = `postgres://postgres@127.0.0.1:${cluster.port}/${db}?password_env=${SECRET_ENV}`;
    const run = await client.backup({ source, to: backups });
    const result = await run.result();
    expect(result.rows).toBe(500);

    const temporal = await plainTemporal();
    try {
      const raw = temporal.client;
      const history = await raw.workflow.getHandle(run.workflowId).fetchHistory();
      const codec = new EncryptionCodec({ id: 'test', key: Buffer.from(inject('codecKey'), 'base64') });
      const decoded = await decodedHistoryText(history, codec);
      // The decoded history does carry the input: proof that the search below looked at the real payloads.
      expect(decoded).toContain(`password_env=${SECRET_ENV}`);
      expect(decoded).not.toContain(SECRET);
      expect(rawHistoryText(history)).not.toContain(SECRET);
      // Encrypted at rest: the raw history does not even show the database name in clear.
      expect(rawHistoryText(history)).not.toContain(`/${db}?password_env`);
    } finally {
      await temporal.teardown();
    }
  });

  it('provisions a fresh local cluster and reuses it when asked again', async () => {
    const first = await (
      await client.provision({ provider: 'local-cluster', cluster: 'wfcluster', database: 'app' })
    ).result();
    expect(first.created).toBe(true);
    expect(first.dataDir?.startsWith(clustersDir)).toBe(true);
    const { stdout } = await runCommand('psql', [
      '-X',
      '-At',
      '-c',
      'select current_database()',
      first.target,
    ]);
    expect(stdout.trim()).toBe('app');
    const again = await (
      await client.provision({ provider: 'local-cluster', cluster: 'wfcluster', database: 'app' })
    ).result();
    expect(again.target).toBe(first.target);
    expect(again.created).toBe(false);
  });

  it('fails a workflow started with a broken input at once, naming the field, without retrying', async () => {
    const temporal = await plainTemporal();
    try {
      // A plain client without pgferry's codec: its JSON payloads must be read as they are.
      const raw = temporal.client;
      const started = Date.now();
      const handle = await raw.workflow.start('backup', {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: `backup-${uniqueName('broken')}`,
        args: [{ source: 'postgres://postgres:pw@127.0.0.1/x', to: backups, jobs: 0 }],
      });
      // The failure is encrypted by the worker's codec: read it as a pgferry client does.
      const error = (await client
        .attach(handle.workflowId)
        .result()
        .catch((e: unknown) => e)) as PgferryError;
      expect(error.code).toBe(ErrorCode.InvalidInput);
      expect(error.field).toBe('source');
      expect(error.message).toContain('jobs');
      expect(Date.now() - started).toBeLessThan(10_000);
      const { events } = await raw.workflow.getHandle(handle.workflowId).fetchHistory();
      // Nothing ran: no activity was ever scheduled.
      expect(events?.some((e) => e.activityTaskScheduledEventAttributes)).toBe(false);
    } finally {
      await temporal.teardown();
    }
  });

  it('reports a bad source as a named, non-retried failure within seconds', async () => {
    const started = Date.now();
    const run = await client.backup({ source: adminUrl(5432, uniqueName('missing')), to: backups });
    const error = (await run.result().catch((e: unknown) => e)) as PgferryError;
    expect(error.code).toBe(ErrorCode.DatabaseMissing);
    expect(error.field).toBe('source');
    expect(Date.now() - started).toBeLessThan(15_000);
    const status = await client.status(run.workflowId);
    expect(status.state).toBe('failed');
    expect(status.error?.code).toBe(ErrorCode.DatabaseMissing);
  });

  it('names an unknown workflow id as WorkflowNotFound', async () => {
    const error = (await client.status('backup-does-not-exist').catch((e: unknown) => e)) as PgferryError;
    expect(error.code).toBe(ErrorCode.WorkflowNotFound);
    expect(error.field).toBe('id');
  });

  it('cancels a running restore, which then ends cancelled', async () => {
    const source = uniqueName('wf_csrc');
    databases.push(source);
    await cloneDatabase(template, source);
    const made = await (await client.backup({ source: adminUrl(5432, source), to: backups })).result();
    const target = uniqueName('wf_cdst');
    databases.push(target);
    // No worker is needed to cancel: stop ours so that the restore cannot finish first.
    await stopWorker(worker);
    const run = await client.restore({ from: made.backup, target: adminUrl(5432, target) });
    await client.cancel(run.workflowId);
    worker = await startTestWorker(env);
    const error = (await run.result().catch((e: unknown) => e)) as PgferryError;
    expect(error.code).toBe(ErrorCode.Cancelled);
    expect((await client.status(run.workflowId)).state).toBe('cancelled');
  });
});
