import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PgferryClient } from '../client/pgferry-client';
import {
  findTemporalServer,
  setupTemporalServer,
  type TemporalServerBinaries,
} from '../worker/temporal-server';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { runPgferry, spawnPgferry, type PgferryProcess } from './helpers/processes';
import { startTemporalCluster, type TemporalCluster } from './helpers/temporal-cluster';
import { waitFor } from './helpers/wait';

// The self-hosted topology of docker-compose.yml, without Docker: the Temporal server built from
// go.temporal.io/server (not the dev server) on PostgreSQL persistence, its schema made by the SQL
// tool, and two `pgferry worker` processes. CI builds the binaries in the background while it
// installs the rest; setupTemporalServer waits for that build (or builds them here).
const BUILD_MS = 20 * 60_000;

const DATABASES = ['cl_one', 'cl_two', 'cl_three', 'cl_four', 'cl_five', 'cl_six'];

/** A small database: two tables with a foreign key and a sequence; enough rows that a copy takes a moment. */
function schema(rows: number): string {
  return `CREATE TABLE public.customers (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE public.orders (id bigserial PRIMARY KEY, customer integer REFERENCES public.customers, total numeric(10,2), note text);
    CREATE SEQUENCE public.invoice_no START 1000;
    INSERT INTO public.customers (name) SELECT 'c' || g FROM generate_series(1, ${rows}) g;
    INSERT INTO public.orders (customer, total, note)
      SELECT 1 + g % ${rows}, g * 1.5, md5(g::text) FROM generate_series(1, ${rows * 3}) g;
    SELECT nextval('public.invoice_no') FROM generate_series(1, 7);`;
}

describe('pgferry setup-temporal --server: where the server and its SQL tool are found', () => {
  it('finds server and sql in $(go env GOPATH)/bin, where go install (and CI) puts them, and prefers the variables', async () => {
    const gopath = await mkdtemp(path.join(tmpdir(), 'pgferry-gopath-'));
    try {
      await mkdir(path.join(gopath, 'bin'));
      for (const name of ['server', 'sql', 'my-server', 'my-sql']) {
        await writeFile(path.join(gopath, 'bin', name), '#!/bin/sh\n');
        await chmod(path.join(gopath, 'bin', name), 0o755);
      }
      const env = { PATH: process.env.PATH, HOME: process.env.HOME, GOPATH: gopath };
      expect(findTemporalServer(env)).toEqual({
        server: path.join(gopath, 'bin', 'server'),
        sqlTool: path.join(gopath, 'bin', 'sql'),
        how: '$(go env GOPATH)/bin',
      });
      const chosen = {
        ...env,
        TEMPORAL_SERVER_PATH: path.join(gopath, 'bin', 'my-server'),
        TEMPORAL_SQL_TOOL_PATH: path.join(gopath, 'bin', 'my-sql'),
      };
      expect(findTemporalServer(chosen)).toMatchObject({
        server: chosen.TEMPORAL_SERVER_PATH,
        sqlTool: chosen.TEMPORAL_SQL_TOOL_PATH,
      });
    } finally {
      await rm(gopath, { recursive: true, force: true });
    }
  });
});

describe('a fleet on the Temporal server with PostgreSQL persistence and two workers, one killed mid-wave', () => {
  let dir: string;
  let binaries: TemporalServerBinaries;
  let persistence: ThrowawayCluster | undefined;
  let source: ThrowawayCluster | undefined;
  let target: ThrowawayCluster | undefined;
  let cluster: TemporalCluster | undefined;
  let env: NodeJS.ProcessEnv;
  let client: PgferryClient | undefined;
  let connection: Connection | undefined;
  const workers: PgferryProcess[] = [];

  beforeAll(async () => {
    binaries = await setupTemporalServer((line) => process.stderr.write(`[temporal-cluster] ${line}\n`));
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-cluster-'));
    [persistence, source, target] = await Promise.all([
      startThrowawayCluster(),
      startThrowawayCluster(),
      startThrowawayCluster(),
    ]);
    cluster = await startTemporalCluster({
      binaries,
      cliPath: inject('temporalCliPath'),
      persistence,
      dir,
      namespace: 'pgferry-cluster',
    });
    env = {
      ...process.env,
      TEMPORAL_ADDRESS: cluster.address,
      TEMPORAL_NAMESPACE: cluster.namespace,
      PGFERRY_CODEC_KEY: inject('codecKey'),
      PGFERRY_CODEC_KEY_ID: 'test',
      PGFERRY_STATE_DIR: dir,
      PGFERRY_LOG_LEVEL: 'warn',
    };
    for (const [i, name] of DATABASES.entries()) {
      await query(source.url(), `CREATE DATABASE ${name}`);
      await query(source.url(name), schema(20_000 + 1000 * i));
    }
    workers.push(spawnPgferry(['worker'], env), spawnPgferry(['worker'], env));
    await Promise.all(workers.map((w) => w.waitFor(/ready/, 120_000)));
    client = await PgferryClient.connect({ env });
    connection = await Connection.connect({ address: cluster.address });
  }, BUILD_MS + 300_000);

  afterAll(async () => {
    await client?.close();
    await connection?.close();
    for (const w of workers)
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await cluster?.stop();
    await Promise.all([persistence?.stop(), source?.stop(), target?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 120_000);

  it("completes every member identical to its source, the killed worker's activity retried on the other one", async () => {
    const temporal = new Client({ connection: connection!, namespace: cluster!.namespace });
    const started = await runPgferry(
      [
        'fleet',
        '--name',
        'cl',
        '--source-server',
        source!.url(),
        '--target-server',
        target!.url(),
        '--all',
        '--wave-size',
        '2',
        '--concurrency',
        '2',
        '--approve',
        'auto',
        '--validate',
        'checksums',
        '--json',
      ],
      env,
    );
    expect(started.code, started.stderr).toBe(0);

    // Mid-wave: a member's data step (it heartbeats, so it has been running a moment and has a
    // moment to go) on one of the two workers; that worker is killed under it.
    const pids = workers.map((w) => w.child.pid);
    const running = async (workflowId: string, activityId: string, pid: number | undefined) => {
      const { raw } = await temporal.workflow.getHandle(workflowId).describe();
      return (raw.pendingActivities ?? []).some(
        (a) => a.activityId === activityId && (a.lastWorkerIdentity ?? '').startsWith(`${pid}@`),
      );
    };
    // A step can end between being seen and the kill: its worker is stopped (SIGSTOP) first, the
    // step checked still running under it, and only then killed; otherwise it goes on and another is picked.
    let victim: { workflowId: string; activityId: string; type: string | null | undefined; index: number };
    for (;;) {
      victim = await waitFor(
        'a heartbeating activity of a fleet member on one of the two workers',
        async () => {
          for (const database of DATABASES) {
            const workflowId = `migration-cl-${database}`;
            const described = await temporal.workflow
              .getHandle(workflowId)
              .describe()
              .catch(() => undefined);
            for (const activity of described?.raw.pendingActivities ?? []) {
              const index = pids.indexOf(Number((activity.lastWorkerIdentity ?? '').split('@')[0]));
              if (index >= 0 && activity.lastHeartbeatTime && activity.activityId) {
                return {
                  workflowId,
                  activityId: activity.activityId,
                  type: activity.activityType?.name,
                  index,
                };
              }
            }
          }
          return undefined;
        },
        300_000,
        100,
      );
      const worker = workers[victim.index]!;
      worker.child.kill('SIGSTOP');
      if (await running(victim.workflowId, victim.activityId, worker.child.pid)) break;
      worker.child.kill('SIGCONT');
    }
    const killed = workers[victim.index]!;
    const survivor = workers[1 - victim.index]!;
    killed.child.kill('SIGKILL');
    expect((await killed.exited).signal).toBe('SIGKILL');
    process.stderr.write(
      `[temporal-cluster] killed worker pid ${killed.child.pid} under ${victim.type} of ${victim.workflowId}\n`,
    );
    expect(
      await running(victim.workflowId, victim.activityId, killed.child.pid),
      `${victim.type} was still running when its worker was killed`,
    ).toBe(true);

    const result = await client!
      .attach<{ outcome: string; waves: number; members: { database: string; record: { state: string } }[] }>(
        'fleet-cl',
      )
      .result();
    expect(result.outcome).toBe('completed');
    expect(result.waves).toBe(3);
    expect(result.members.map((m) => [m.database, m.record.state]).sort()).toEqual(
      [...DATABASES].sort().map((d) => [d, 'completed']),
    );
    for (const database of DATABASES) {
      const [a, b] = await Promise.all([
        databaseFingerprint(source!.url(database)),
        databaseFingerprint(target!.url(database)),
      ]);
      expect(diffFingerprints(a, b), database).toEqual([]);
    }
    expect(survivor.child.exitCode, survivor.stderr.slice(-2000)).toBeNull();

    // The activity the killed worker held ran again, to its end, on the surviving worker.
    const ours = new Set<string>();
    const finishers: { attempt: number; identity: string }[] = [];
    for (const event of (await temporal.workflow.getHandle(victim.workflowId).fetchHistory()).events ?? []) {
      if (event.activityTaskScheduledEventAttributes?.activityId === victim.activityId) {
        ours.add(String(event.eventId));
      }
      const start = event.activityTaskStartedEventAttributes;
      if (start && ours.has(String(start.scheduledEventId))) {
        finishers.push({ attempt: start.attempt ?? 1, identity: start.identity ?? '' });
      }
    }
    expect(finishers, `${victim.workflowId}: ${victim.type}`).toEqual([
      { attempt: expect.any(Number) as number, identity: `${survivor.child.pid}@${hostname()}` },
    ]);
    expect(finishers[0]!.attempt, `${victim.type} retried`).toBeGreaterThan(1);
  }, 900_000);
});
