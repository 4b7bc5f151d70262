import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import { toApplicationFailure } from '../activities/failure';
import { classifyPgError } from '../activities/pg/errors';
import { parseConnectionUrl } from '../domain/connection';
import { ErrorCode, exitCodeFor, isNonRetryable, PgferryError } from '../domain/errors';
import { installRuntime } from '../worker/runtime';
import { silentTemporalLogger, testActivityDeps } from './helpers/activity-env';
import { expectFailure } from './helpers/failure';
import type { OneActivityOptions } from './helpers/one-activity-workflow';
import { query, startThrowawayCluster, uniqueName, type ThrowawayCluster } from './helpers/pg';
import { pgCtl } from './helpers/pg-ctl';
import { plainTemporal } from './helpers/temporal';
import { waitFor } from './helpers/wait';

/** An error shaped as node-postgres raises a server's ErrorResponse. */
function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, severity: 'ERROR' });
}

const named = (err: Error) => err as PgferryError;

describe('classifyPgError, the one classifier of pg errors', () => {
  it('names a missing privilege PermissionDenied, non-retryable, with the side and a fix', () => {
    const err = named(
      classifyPgError(pgError('42501', 'permission denied for sequence s'), {
        field: 'target',
        doing: 'syncing',
      }),
    );
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    expect(isNonRetryable(err.code)).toBe(true);
    expect(err.field).toBe('target');
    expect(err.fix).toMatch(/superuser/);
    expect(err.message).toBe('target: syncing: permission denied for sequence s');
  });

  it('takes the step’s own privilege fix over the side’s', () => {
    const err = named(
      classifyPgError(pgError('42501', 'denied'), { field: 'source', privilegeFix: 'grant REPLICATION' }),
    );
    expect(err.fix).toBe('grant REPLICATION');
  });

  it('names a type without binary I/O, or a feature the server lacks, Unsupported and non-retryable, naming what was done', () => {
    for (const code of ['42883', '0A000']) {
      const err = named(
        classifyPgError(pgError(code, 'no binary output function available for type aclitem'), {
          field: 'source',
          doing: 'copying public.grants',
        }),
      );
      expect(err.code).toBe(ErrorCode.Unsupported);
      expect(isNonRetryable(err.code)).toBe(true);
      expect(err.message).toContain('copying public.grants');
      expect(toApplicationFailure(err)).toMatchObject({ type: ErrorCode.Unsupported, nonRetryable: true });
    }
  });

  it('names a lost connection ConnectionLost, retryable: by SQLSTATE, by errno, or a closed connection’s bare error', () => {
    const lost = [
      classifyPgError(pgError('57P01', 'terminating connection due to administrator command'), {
        field: 'source',
      }),
      classifyPgError(pgError('08006', 'connection failure'), { field: 'source' }),
      classifyPgError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), {
        field: 'target',
      }),
      classifyPgError(new Error('Connection terminated unexpectedly'), {
        field: 'target',
        connectionGone: true,
      }),
    ];
    for (const err of lost) {
      expect(named(err).code).toBe(ErrorCode.ConnectionLost);
      expect(isNonRetryable(named(err).code)).toBe(false);
    }
  });

  it('leaves anything else Internal (retryable), a bare error of an open connection included', () => {
    for (const err of [
      classifyPgError(pgError('40001', 'could not serialize access'), {
        field: 'target',
        doing: 'copying t',
      }),
      classifyPgError(new Error('something odd'), { field: 'target', connectionGone: false }),
      classifyPgError(new TypeError('x is undefined'), { field: 'source' }),
    ]) {
      expect(named(err).code).toBe(ErrorCode.Internal);
      expect(isNonRetryable(named(err).code)).toBe(false);
    }
    expect(
      named(classifyPgError(pgError('40001', 'm'), { field: 'target', doing: 'copying t' })).message,
    ).toBe('target: copying t (SQLSTATE 40001): m');
  });

  it('names connection errors as bad input while connecting', () => {
    const spec = parseConnectionUrl('postgresql://app@db.example:5433/shop', 'source');
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const first = named(classifyPgError(refused, { field: 'source', connecting: spec, firstContact: true }));
    expect(first.code).toBe(ErrorCode.ConnectionFailed);
    expect(isNonRetryable(first.code)).toBe(true);
    expect(exitCodeFor(first.code)).toBe(2);
    expect(first.message).toBe('source: cannot reach db.example:5433 (ECONNREFUSED)');
    expect(first.fix).toMatch(/host and port/);
    const password = named(
      classifyPgError(pgError('28P01', 'password authentication failed'), {
        field: 'source',
        connecting: spec,
      }),
    );
    expect(password.code).toBe(ErrorCode.AuthFailed);
    expect(password.message).toContain('"app"');
    expect(
      named(classifyPgError(pgError('3D000', 'no db'), { field: 'source', connecting: spec })).code,
    ).toBe(ErrorCode.DatabaseMissing);
  });

  it('names a server that does not answer ServerUnreachable, retryable, once the run has reached it: a restart, not bad input', () => {
    const spec = parseConnectionUrl('postgresql://app@db.example:5433/shop', 'target');
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const timedOut = new Error('Connection terminated due to connection timeout');
    for (const [err, what] of [
      [refused, 'cannot reach db.example:5433 (ECONNREFUSED)'],
      [timedOut, 'connecting to db.example:5433 timed out'],
    ] as const) {
      const away = named(classifyPgError(err, { field: 'target', connecting: spec }));
      expect(away.code).toBe(ErrorCode.ServerUnreachable);
      expect(isNonRetryable(away.code)).toBe(false);
      expect(exitCodeFor(away.code)).toBe(1);
      expect(away.field).toBe('target');
      expect(away.message).toContain(`target: ${what}`);
      expect(away.fix).toContain('db.example:5433 back');
      expect(toApplicationFailure(away)).toMatchObject({ type: 'ServerUnreachable', nonRetryable: false });
    }
    // A refused login or certificate is the input's fault whenever it shows.
    const password = classifyPgError(pgError('28P01', 'password authentication failed'), {
      field: 'target',
      connecting: spec,
    });
    expect(named(password).code).toBe(ErrorCode.AuthFailed);
  });

  it('passes errors already named through unchanged', () => {
    const own = new PgferryError(ErrorCode.SnapshotLost, 'gone');
    const cancelled = new CancelledFailure('cancelled');
    const failure = ApplicationFailure.create({ type: 'X', message: 'y' });
    for (const err of [own, cancelled, failure]) expect(classifyPgError(err, { field: 'source' })).toBe(err);
  });
});

describe('a server that goes away, through Temporal', () => {
  const taskQueue = uniqueName('pg-errors');
  let cluster: ThrowawayCluster;
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let storage: string;

  beforeAll(async () => {
    cluster = await startThrowawayCluster();
    storage = await mkdtemp(path.join(tmpdir(), 'pgferry-pg-errors-'));
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
    });
    running = worker.run();
  }, 120_000);

  afterAll(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await env?.teardown();
    await cluster?.stop();
    if (storage) await rm(storage, { recursive: true, force: true });
  });

  /** Starts one activity in a workflow of its own; attempts come quickly (0.1 s, doubling up to 10 s). */
  const start = (activity: string, input: unknown, maximumAttempts: number) =>
    env.client.workflow.start('oneActivity', {
      taskQueue,
      workflowId: uniqueName(`pg-errors-${activity}`),
      args: [
        activity,
        input,
        { heartbeatTimeout: '10 seconds', maximumAttempts } satisfies OneActivityOptions,
      ],
    });

  it('retries a step whose server restarts until it is back, and names the same server bad input at first contact', async () => {
    const target = cluster.url();
    await pgCtl(cluster, 'stop');
    try {
      // First contact (a backup's input check): the URL's fault, named at once, never retried.
      const first = await start('checkBackupInput', { source: target, to: storage }, 5);
      const failed = await first.result().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failed).toBeInstanceOf(WorkflowFailedError);
      const cause = ((failed as WorkflowFailedError).cause as ActivityFailure).cause as ApplicationFailure;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expectFailure(cause, ErrorCode.ConnectionFailed, true, 'source');
      const started = (await first.fetchHistory()).events?.filter(
        (e) => e.activityTaskStartedEventAttributes,
      );
      expect(started?.map((e) => e.activityTaskStartedEventAttributes?.attempt)).toEqual([1]);

      // Mid-run (the ledger of a copy under way): the server restarts, the step is retried.
      const step = await start('ensureLedger', { target }, 100);
      await waitFor('a retry after ServerUnreachable', async () => {
        const { raw } = await step.describe();
        const pending = raw.pendingActivities?.[0];
        if (raw.workflowExecutionInfo?.closeTime) throw new Error('the step ended while the server was down');
        const type = pending?.lastFailure?.applicationFailureInfo?.type;
        return (pending?.attempt ?? 1) >= 2 && type === ErrorCode.ServerUnreachable ? true : undefined;
      });
      await pgCtl(cluster, 'start');
      await step.result();
    } finally {
      await pgCtl(cluster, 'start').catch(() => undefined);
    }
    expect(await query(cluster.url(), "SELECT nspname FROM pg_namespace WHERE nspname = 'pgferry'")).toEqual([
      { nspname: 'pgferry' },
    ]);
  });
});
