import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivities, type Activities } from '../activities';
import { CONTROL_TASK_QUEUE, DATA_TASK_QUEUE } from '../domain/constants';
import { EncryptionCodec } from '../worker/codec';
import { loadCodecKey, loadConfig } from '../worker/config';
import { installRuntime } from '../worker/runtime';
import { ensureSearchAttributes } from '../worker/search-attributes';
import { temporalConnectOptions } from '../worker/temporal-connection';
import { testActivityDeps } from './helpers/activity-env';
import { adminUrl, createEmptyDatabase, dropDatabase, query, uniqueName } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { waitFor } from './helpers/wait';

/** 20 MB of rows: more than one batch holds, so each of these tables has a lane of its own. */
const BIG_TABLE = (name: string) =>
  `CREATE TABLE ${name} AS SELECT g AS id, repeat(md5(g::text), 3) AS v FROM generate_series(1, 150000) g`;

/** When each step of interest started and ended, in this process's clock. */
interface Timeline {
  slowStarted?: number;
  slowEnded?: number;
  slowCancelled?: boolean;
  compensations: { name: string; at: number }[];
}

/**
 * The real activities, but the copy of table `bad` fails for good and the copy of table `slow`
 * runs until it is cancelled, then takes another 1.5 s to wind down (a COPY rolling back); the
 * compensations are recorded as they start.
 */
function scriptedActivities(timeline: Timeline): Activities {
  const real = createActivities(testActivityDeps());
  const started = (name: string) => timeline.compensations.push({ name, at: Date.now() });
  return {
    ...real,
    copyChunks: async (input) => {
      const tables = input.chunks.map((c) => c.table);
      if (tables.includes('bad')) {
        await new Promise((r) => setTimeout(r, 300));
        throw ApplicationFailure.create({
          type: 'Unsupported',
          message: 'bad: cannot be copied',
          nonRetryable: true,
        });
      }
      if (!tables.includes('slow')) return real.copyChunks(input);
      timeline.slowStarted = Date.now();
      const context = Context.current();
      try {
        for (let i = 0; i < 300 && !context.cancellationSignal.aborted; i++) {
          context.heartbeat();
          await new Promise((r) => setTimeout(r, 200));
        }
        timeline.slowCancelled = context.cancellationSignal.aborted;
        await new Promise((r) => setTimeout(r, 1500));
        throw new Error('the slow copy was stopped');
      } finally {
        timeline.slowEnded = Date.now();
      }
    },
    unfreezeSource: async (input) => {
      started('unfreezeSource');
      return real.unfreezeSource(input);
    },
    dropOwnTarget: async (input) => {
      started('dropOwnTarget');
      return real.dropOwnTarget(input);
    },
  };
}

describe('the copy lanes of a migration end together', () => {
  const source = uniqueName('lanes_src');
  const target = uniqueName('lanes_dst');
  const timeline: Timeline = { compensations: [] };
  let worker: { shutdown: () => void; done: Promise<unknown> } | undefined;

  beforeAll(async () => {
    await createEmptyDatabase(source);
    await query(adminUrl(5432, source), `${BIG_TABLE('slow')}; ${BIG_TABLE('bad')}`);
  });

  afterAll(async () => {
    worker?.shutdown();
    await worker?.done;
    await query(adminUrl(5432, source), `ALTER DATABASE ${source} SET default_transaction_read_only = off`);
    await dropDatabase(source);
    await dropDatabase(target);
  });

  const suite = useTemporalSuite({ worker: 'none' });

  beforeAll(async () => {
    installRuntime('ERROR');
    const config = loadConfig(suite.env);
    const connection = await NativeConnection.connect(temporalConnectOptions(config.temporal));
    await ensureSearchAttributes(connection, config.temporal.namespace);
    const common = {
      connection,
      namespace: config.temporal.namespace,
      dataConverter: { payloadCodecs: [new EncryptionCodec(await loadCodecKey(config))] },
      activities: scriptedActivities(timeline),
    };
    const control = await Worker.create({
      ...common,
      taskQueue: CONTROL_TASK_QUEUE,
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    const data = await Worker.create({ ...common, taskQueue: DATA_TASK_QUEUE });
    const done = Promise.all([control.run(), data.run()]).finally(() => connection.close());
    worker = {
      done,
      shutdown: () => [control, data].forEach((w) => w.getState() === 'RUNNING' && w.shutdown()),
    };
  });

  it('starts the rollback only after the other lanes’ activities have ended, when one lane fails', async () => {
    const run = await suite.client.migrate({
      name: `lanes-${source.slice(-8)}`,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      freezeSource: true,
      onRollback: 'drop',
      jobs: 2,
    });
    await expect(run.result()).rejects.toMatchObject({ code: 'Unsupported' });
    const status = await suite.client.status(run.workflowId);
    expect(status.state).toBe('rolled_back');

    const compensations = await waitFor('the compensations', async () =>
      timeline.compensations.length === 2 ? timeline.compensations : undefined,
    );
    // The failing lane stopped the slow one (cancelled, not run to its end)…
    expect(timeline.slowCancelled).toBe(true);
    expect(timeline.slowEnded! - timeline.slowStarted!).toBeLessThan(30_000);
    // …and no compensation started before the slow copy had wound down.
    for (const step of compensations) expect(step.at).toBeGreaterThanOrEqual(timeline.slowEnded!);
    expect(compensations.map((c) => c.name)).toEqual(['unfreezeSource', 'dropOwnTarget']);
  });
});
