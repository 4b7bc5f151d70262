import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../activities';
import { installRuntime } from '../worker/runtime';
import { silentTemporalLogger, testActivityDeps } from './helpers/activity-env';
import { holdLocks, holdTableLock, type HeldLock } from './helpers/lock';
import type { OneActivityOptions } from './helpers/one-activity-workflow';
import { query, startThrowawayCluster, uniqueName, type ThrowawayCluster } from './helpers/pg';
import { plainTemporal } from './helpers/temporal';
import { waitFor } from './helpers/wait';

// Far below the control queue's 30 s: an activity that does not heartbeat while it waits is timed
// out after 3 s and attempted again at once.
const HEARTBEAT_TIMEOUT_MS = 3_000;
const OPTIONS: OneActivityOptions = { heartbeatTimeout: HEARTBEAT_TIMEOUT_MS, maximumAttempts: 3 };
// The lock is held until the server has seen the first attempt heartbeat this long after it started.
const HELD_MS = 2 * HEARTBEAT_TIMEOUT_MS;
// The worker passes heartbeats on at most every 0.8 × the timeout by default, which leaves a slow
// test machine (a disk busy with another suite's initdb) 0.6 s: too little. Every beat goes out
// instead, the second the activity sends it, so the margin is the timeout less a second.
const HEARTBEAT_THROTTLE = '500 ms';

const SCHEMA = 'CREATE TABLE public.t (id serial PRIMARY KEY, v text NOT NULL)';

/** One activity made slow for real: a session holds a lock that its statement waits for. */
interface SlowStep {
  readonly activity: keyof Activities;
  /** The database whose lock it waits on. */
  readonly waitsIn: 'source' | 'target';
  readonly input: () => unknown;
  readonly hold: () => Promise<HeldLock>;
  /** What the step did, once it could. */
  readonly check: (result: unknown) => Promise<void>;
}

/** Milliseconds of a protobuf timestamp; undefined when there is none. */
function ms(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined {
  if (!ts?.seconds) return undefined;
  return Number(ts.seconds) * 1000 + (ts.nanos ?? 0) / 1e6;
}

describe('activities that wait on a lock heartbeat, so Temporal never starts a second attempt beside the first', () => {
  const taskQueue = uniqueName('heartbeats');
  const source = uniqueName('hb_src');
  const target = uniqueName('hb_dst');
  let cluster: ThrowawayCluster;
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const url = (side: 'source' | 'target') => cluster.url(side === 'source' ? source : target);

  beforeAll(async () => {
    cluster = await startThrowawayCluster();
    for (const db of [source, target]) {
      await query(cluster.url(), `CREATE DATABASE ${db}`);
      await query(cluster.url(db), SCHEMA);
    }
    await query(url('source'), `INSERT INTO t (v) SELECT 'row ' || g FROM generate_series(1, 100) g`);
    await query(url('source'), `SELECT setval('public.t_id_seq', 4242)`);
    installRuntime('ERROR');
    env = await plainTemporal();
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.join(__dirname, 'helpers', 'one-activity-workflow.ts'),
      logger: silentTemporalLogger,
    });
    worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace,
      taskQueue,
      workflowBundle: { code },
      activities: createActivities(testActivityDeps()),
      maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
    });
    running = worker.run();
  });

  afterAll(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await env?.teardown();
    await cluster?.stop();
  });

  /** Whether a pgferry session in `db` waits on a lock now. */
  async function waitingOnLock(db: string): Promise<boolean> {
    const [row] = await query<{ n: number }>(
      cluster.url(),
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = $1 AND application_name = 'pgferry' AND wait_event_type = 'Lock'`,
      [db],
    );
    return (row?.n ?? 0) > 0;
  }

  /**
   * Waits until the server has recorded a heartbeat of the step's first attempt HELD_MS after the
   * attempt started, far past its heartbeat timeout; fails at once when a second attempt starts.
   */
  async function heartbeatsPastTimeout(workflowId: string): Promise<void> {
    await waitFor(
      `a heartbeat ${HELD_MS} ms into the first attempt`,
      async () => {
        const { raw } = await env.client.workflow.getHandle(workflowId).describe();
        const pending = raw.pendingActivities?.[0];
        if (!pending) throw new Error('the activity is not pending: it did not wait on the lock');
        if ((pending.attempt ?? 1) > 1) {
          throw new Error(`attempt ${pending.attempt} started: ${pending.lastFailure?.message ?? ''}`);
        }
        const started = ms(pending.lastStartedTime);
        const beat = ms(pending.lastHeartbeatTime);
        return started !== undefined && beat !== undefined && beat - started >= HELD_MS ? true : undefined;
      },
      HELD_MS + 20_000,
      200,
    );
  }

  const steps: SlowStep[] = [
    {
      // At cutover, while the source is frozen.
      activity: 'syncSequences',
      waitsIn: 'target',
      input: () => ({ source: url('source'), target: url('target') }),
      hold: () => holdLocks(url('target'), ['ALTER SEQUENCE public.t_id_seq INCREMENT BY 1']),
      check: async (result) => {
        expect(result).toMatchObject({ sequences: 1 });
        const [row] = await query<{ last_value: string }>(url('target'), 'SELECT last_value FROM t_id_seq');
        expect(row?.last_value).toBe('4242');
      },
    },
    {
      activity: 'listCopyTables',
      waitsIn: 'source',
      input: () => ({ source: url('source') }),
      hold: () => holdTableLock(url('source'), 'public.t'),
      check: async (result) => {
        expect((result as { table: string }[]).map((t) => t.table)).toEqual(['t']);
      },
    },
    {
      activity: 'restoreStorage',
      waitsIn: 'target',
      input: () => ({ target: url('target'), tables: [{ schema: 'public', table: 't', columns: ['v'] }] }),
      hold: async () => {
        await query(url('target'), 'ALTER TABLE t ALTER COLUMN v SET STORAGE EXTERNAL');
        return holdTableLock(url('target'), 'public.t');
      },
      check: async () => {
        const [row] = await query<{ storage: string }>(
          url('target'),
          `SELECT attstorage AS storage FROM pg_attribute WHERE attrelid = 'public.t'::regclass AND attname = 'v'`,
        );
        expect(row?.storage).toBe('x');
      },
    },
    {
      activity: 'resetCopy',
      waitsIn: 'target',
      input: () => ({ source: url('source'), target: url('target'), migration: 'heartbeats' }),
      hold: async () => {
        await query(url('target'), `INSERT INTO t (v) VALUES ('copied before the snapshot was lost')`);
        return holdTableLock(url('target'), 'public.t');
      },
      check: async (result) => {
        expect(result).toEqual({ tables: 1, chunks: 0 });
        const [row] = await query<{ n: number }>(url('target'), 'SELECT count(*)::int AS n FROM t');
        expect(row?.n).toBe(0);
      },
    },
  ];

  for (const step of steps) {
    it(`${step.activity} runs once, in its first attempt, while a lock holds it up past its heartbeat timeout`, async () => {
      const lock = await step.hold();
      const workflowId = uniqueName(`hb-${step.activity}`);
      try {
        const handle = await env.client.workflow.start('oneActivity', {
          taskQueue,
          workflowId,
          args: [step.activity, step.input(), OPTIONS],
        });
        await waitFor(`${step.activity} waiting on the lock`, async () =>
          (await waitingOnLock(step.waitsIn === 'source' ? source : target)) ? true : undefined,
        );
        await heartbeatsPastTimeout(workflowId);
        await lock.release();
        await step.check(await handle.result());
        const { events } = await handle.fetchHistory();
        const started = (events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
        expect(started.map((e) => e.activityTaskStartedEventAttributes?.attempt)).toEqual([1]);
        expect((events ?? []).some((e) => e.activityTaskTimedOutEventAttributes)).toBe(false);
      } finally {
        await lock.release();
      }
    });
  }
});
