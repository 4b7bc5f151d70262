import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgferryClient } from '../client/pgferry-client';
import type { WorkflowStatus } from '../domain/contracts';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { spawnPgferry, type PgferryProcess } from './helpers/processes';
import { testEnv } from './helpers/temporal';
import { waitForStatus } from './helpers/wait';

const ROWS = 600_000;

describe('an online migration through worker crashes during the copy and during replication', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const workers: PgferryProcess[] = [];

  const startWorkerProcess = async () => {
    const worker = spawnPgferry(['worker'], env);
    workers.push(worker);
    await worker.waitFor(/ready/);
    return worker;
  };

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
    ]);
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-ocrash-'));
    env = testEnv({ PGFERRY_STATE_DIR: dir });
    await query(source.url(), 'CREATE DATABASE app');
    await query(
      source.url('app'),
      `CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL);
       INSERT INTO big SELECT g, md5(g::text) || repeat('z', 80) FROM generate_series(1, ${ROWS}) g;
       CREATE TABLE live (id bigserial PRIMARY KEY, v text NOT NULL);
       ANALYZE;`,
    );
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await source?.stop();
    await target?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('restarts the copy from a new slot, keeps replicating, and ends identical', async () => {
    let worker = await startWorkerProcess();
    const client = await PgferryClient.connect({ env });
    try {
      const run = await client.migrate({
        name: 'ocrash',
        source: source.url('app'),
        target: target.url('app'),
        mode: 'online',
        jobs: 2,
        splitLargerThan: 4 * 1024 * 1024,
        validate: 'checksums',
      });
      const until = (what: string, test: (s: WorkflowStatus) => boolean) =>
        waitForStatus(client, 'ocrash', what, test, 180_000);
      const write = (n: number) =>
        query(source.url('app'), `INSERT INTO live (v) SELECT 'w' || g FROM generate_series(1, ${n}) g`);

      // 1. kill -9 during the copy: the snapshot holder dies with the worker.
      await until('copy under way', (s) => s.stage === 'copy' && (s.progress.tablesDone ?? 0) >= 2);
      await write(100);
      worker.child.kill('SIGKILL');
      await worker.exited;
      worker = await startWorkerProcess();

      // 2. kill -9 while replicating (waiting at the gate), with writes flowing meanwhile.
      await until('waiting at the gate', (s) => s.state === 'waiting');
      await write(200);
      worker.child.kill('SIGKILL');
      await worker.exited;
      await write(300);
      worker = await startWorkerProcess();

      await client.approve('ocrash', { by: 'alice', reason: 'after two crashes' });
      const result = await run.result();
      expect(result.outcome).toBe('completed');
      expect(result.validation?.ok).toBe(true);
      const diff = diffFingerprints(
        await databaseFingerprint(source.url('app')),
        await databaseFingerprint(target.url('app')),
      );
      expect(diff).toEqual([]);
      const live = await query<{ n: string }>(target.url('app'), 'SELECT count(*) AS n FROM live');
      expect(Number(live[0]?.n)).toBe(600);
      // The copy started over: the history shows a second snapshot holder.
      const timeline = await client.history('ocrash');
      expect(timeline.steps.filter((s) => s.step === 'holdSlotSnapshot').length).toBeGreaterThanOrEqual(2);
      expect(timeline.steps.some((s) => s.step === 'resetCopy' && s.outcome === 'completed')).toBe(true);
      expect(await query(source.url(), 'SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    } finally {
      await client.close();
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
  }, 300_000);
});
