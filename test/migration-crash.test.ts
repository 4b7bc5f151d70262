import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PgferryClient } from '../client/pgferry-client';
import type { WorkflowStatus } from '../domain/contracts';
import { startDevServer, type DevServer } from '../worker/dev-server';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { adminUrl, dropDatabase, freePort, query, uniqueName } from './helpers/pg';
import { spawnPgferry, type PgferryProcess } from './helpers/processes';
import { waitFor, waitForStatus } from './helpers/wait';

const ROWS_PER_TABLE = 400_000;

describe('a migration through worker crashes and a Temporal server restart', () => {
  const source = uniqueName('mcrash_src');
  const target = uniqueName('mcrash_dst');
  let dir: string;
  let port: number;
  let server: DevServer;
  let env: NodeJS.ProcessEnv;
  const workers: PgferryProcess[] = [];

  const startServer = async () =>
    startDevServer({
      cliPath: inject('temporalCliPath'),
      port,
      uiPort: port + 1,
      dbFilename: path.join(dir, 'temporal.db'),
      headless: true,
    });
  const startWorkerProcess = async () => {
    const worker = spawnPgferry(['worker'], env);
    workers.push(worker);
    await worker.waitFor(/ready/);
    return worker;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-mcrash-'));
    port = await freePort();
    server = await startServer();
    env = {
      ...process.env,
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_NAMESPACE: 'default',
      PGFERRY_CODEC_KEY: inject('codecKey'),
      PGFERRY_CODEC_KEY_ID: 'test',
      PGFERRY_STATE_DIR: dir,
      PGFERRY_LOG_LEVEL: 'warn',
    };
    await query(adminUrl(), `CREATE DATABASE ${source}`);
    // Indexed tables, so that post-data takes a moment; a trigger and a sequence ride along.
    await query(
      adminUrl(5432, source),
      `CREATE TABLE t1 (id bigint PRIMARY KEY, payload text NOT NULL, at timestamptz NOT NULL);
       INSERT INTO t1 SELECT g, md5(g::text) || repeat('y', 40), '2026-01-01'::timestamptz + g * interval '1 minute'
         FROM generate_series(1, ${ROWS_PER_TABLE}) g;
       CREATE TABLE t2 (LIKE t1 INCLUDING ALL); INSERT INTO t2 SELECT * FROM t1;
       CREATE TABLE t3 (LIKE t1 INCLUDING ALL); INSERT INTO t3 SELECT * FROM t1;
       CREATE INDEX t1_payload ON t1 (payload); CREATE INDEX t2_payload ON t2 (payload); CREATE INDEX t3_payload ON t3 (payload);
       CREATE SEQUENCE ticket_seq; SELECT setval('ticket_seq', 777);
       ANALYZE;`,
    );
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await server?.stop();
    await dropDatabase(source);
    await dropDatabase(target);
    await rm(dir, { recursive: true, force: true });
  });

  /** Waits until one of `types` is among the workflow's running activities; returns which. */
  const untilPending = async (workflowId: string, types: readonly string[]): Promise<string> => {
    const connection = await Connection.connect({ address: server.address });
    try {
      const handle = new Client({ connection, namespace: 'default' }).workflow.getHandle(workflowId);
      return await waitFor(
        `${types.join(' or ')} running`,
        async () => {
          const { raw } = await handle.describe();
          return (raw.pendingActivities ?? [])
            .map((a) => a.activityType?.name ?? '')
            .find((name) => types.includes(name));
        },
        60_000,
      );
    } finally {
      await connection.close();
    }
  };

  it('ends with a target identical to the source, every chunk copied once', async () => {
    let worker = await startWorkerProcess();
    let client = await PgferryClient.connect({ env });
    const name = uniqueName('crash').replace(/_/g, '-');
    const run = await client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      autoApprove: true,
      jobs: 2,
      splitLargerThan: 2 * 1024 * 1024,
    });
    const until = (what: string, test: (s: WorkflowStatus) => boolean) =>
      waitForStatus(client, name, what, test, 120_000);

    // 1. kill -9 the worker in the middle of the copy.
    const midCopy = await until(
      'some chunks copied',
      (s) => s.stage === 'copy' && (s.progress.tablesDone ?? 0) >= 3,
    );
    expect(midCopy.progress.tablesDone).toBeLessThan(midCopy.progress.tables ?? 0);
    worker.child.kill('SIGKILL');
    await worker.exited;
    worker = await startWorkerProcess();

    // 2. Restart the Temporal server while the copy goes on (same SQLite file: nothing is lost).
    await until(
      'more chunks copied',
      (s) => s.stage !== 'copy' || (s.progress.tablesDone ?? 0) >= (midCopy.progress.tablesDone ?? 0) + 2,
    );
    await client.close();
    await server.stop();
    server = await startServer();
    client = await PgferryClient.connect({ env });

    // 3. kill -9 the worker again while it builds indexes: a table's own as soon as its chunks are
    // in (buildTableIndexes), or the rest of post-data (copySchemaSection, past the copy's start).
    const building = await untilPending(run.workflowId, ['buildTableIndexes', 'copySchemaSection']);
    worker.child.kill('SIGKILL');
    expect(['buildTableIndexes', 'copySchemaSection']).toContain(building);
    await worker.exited;
    worker = await startWorkerProcess();

    const result = await client.attach<Awaited<ReturnType<typeof run.result>>>(run.workflowId).result();
    expect(result.outcome).toBe('completed');
    expect(result.validation?.ok).toBe(true);
    expect(result.rows).toBe(3 * ROWS_PER_TABLE);
    const diff = diffFingerprints(
      await databaseFingerprint(adminUrl(5432, source)),
      await databaseFingerprint(adminUrl(5432, target)),
    );
    expect(diff).toEqual([]);
    await client.close();
    worker.child.kill('SIGTERM');
    await worker.exited;
  }, 300_000);
});
