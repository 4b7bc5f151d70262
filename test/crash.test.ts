import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { adminUrl, dropDatabase, query, uniqueName } from './helpers/pg';
import { spawnPgferry, type PgferryProcess } from './helpers/processes';
import { useTemporalSuite } from './helpers/suite';
import { plainTemporal } from './helpers/temporal';
import { waitForStatus } from './helpers/wait';

const ROWS_PER_TABLE = 1_000_000;

function pgDumpsWriting(dir: string): number {
  try {
    return execFileSync('pgrep', ['-f', `pg_dump.*${dir}`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean).length;
  } catch {
    return 0;
  }
}

describe('a worker killed with SIGKILL in the middle of a backup', () => {
  const source = uniqueName('crash_src');
  const target = uniqueName('crash_dst');
  let backups: string;
  const workers: PgferryProcess[] = [];

  beforeAll(async () => {
    await query(adminUrl(), `CREATE DATABASE ${source}`);
    // Large enough that pg_dump takes several seconds: four tables of 1.5 M rows, plus a sequence.
    await query(
      adminUrl(5432, source),
      `CREATE SEQUENCE ticket_seq;
       SELECT setval('ticket_seq', 4242);
       CREATE TABLE t1 (id bigint PRIMARY KEY, payload text, at timestamptz);
       INSERT INTO t1 SELECT g, md5(g::text) || repeat('x', 60), '2026-01-01'::timestamptz + g * interval '1 second'
         FROM generate_series(1, ${ROWS_PER_TABLE}) g;
       CREATE TABLE t2 AS SELECT * FROM t1; CREATE TABLE t3 AS SELECT * FROM t1; CREATE TABLE t4 AS SELECT * FROM t1;`,
    );
    backups = await mkdtemp(path.join(tmpdir(), 'pgferry-crash-'));
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await dropDatabase(source);
    await dropDatabase(target);
    await rm(backups, { recursive: true, force: true });
  });

  // The workers are processes of their own (spawned below), so the suite runs none in this one.
  const suite = useTemporalSuite({ worker: 'none' });

  it('completes on a new worker, and the backup restores to a database equal to the source', async () => {
    const first = spawnPgferry(['worker'], suite.env);
    workers.push(first);
    await first.waitFor(/ready/);

    const run = await suite.client.backup({ source: adminUrl(5432, source), to: backups, jobs: 2 });
    // Wait until pg_dump has written data, then kill the worker without a chance to clean up.
    await waitForStatus(
      suite.client,
      run.workflowId,
      'pg_dump to have written 1 MB',
      (s) => s.stage === 'dump' && (s.progress.bytes ?? 0) > 1_000_000,
      60_000,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    expect((await suite.client.status(run.workflowId)).state).toBe('running');

    const second = spawnPgferry(['worker'], suite.env);
    workers.push(second);
    await second.waitFor(/ready/);
    const result = await run.result();
    expect(result.rows).toBe(4 * ROWS_PER_TABLE);

    // The dump ran twice: the history proves the crash happened mid-activity.
    const temporal = await plainTemporal();
    try {
      const raw = temporal.client;
      const { events } = await raw.workflow.getHandle(run.workflowId).fetchHistory();
      const attempts = (events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
      expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);
    } finally {
      await temporal.teardown();
    }
    // Nothing half-written is left, and no orphaned pg_dump still writes.
    expect((await readdir(backups)).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
    expect(pgDumpsWriting(backups)).toBe(0);

    const restored = await (
      await suite.client.restore({ from: result.backup, target: adminUrl(5432, target), jobs: 2 })
    ).result();
    expect(restored.report.ok).toBe(true);
    const diff = diffFingerprints(
      await databaseFingerprint(adminUrl(5432, source)),
      await databaseFingerprint(adminUrl(5432, target)),
    );
    expect(diff).toEqual([]);
    second.child.kill('SIGTERM');
    await second.exited;
  }, 300_000);
});
