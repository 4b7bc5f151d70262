import type { Logger as TemporalLogger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import type { ActivityDeps } from '../../activities/deps';
import { storageFor } from '../../activities/storage/locate';
import { DEFAULT_PG_BIN_DIR } from './pg';

/** A Temporal logger that drops everything, so activity runs keep the test output quiet. */
export const silentTemporalLogger: TemporalLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** A fresh activity environment with the silent logger; its heartbeats arrive as 'heartbeat' events. */
export function activityEnv(): MockActivityEnvironment {
  return new MockActivityEnvironment(undefined, { logger: silentTemporalLogger });
}

/** Runs one activity the way a worker would: inside an activity Context, so heartbeats work. */
export function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return activityEnv().run(fn, ...args);
}

/** What a promise rejected with; fails the test when it resolved. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  const outcome = await promise.then(
    (value: unknown) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  return outcome.error;
}

// The one poll-until helper lives in wait.ts; activity tests import it from here too.
export { sleep, waitFor } from './wait';

/** Activity deps for tests: a silent logger, PostgreSQL 15 clusters, filesystem storage; `overrides` win. */
export function testActivityDeps(overrides: Partial<ActivityDeps> = {}): ActivityDeps {
  return {
    env: {},
    logger: pino({ level: 'silent' }),
    pgBinDir: undefined,
    clusterBinDirs: { 15: DEFAULT_PG_BIN_DIR },
    defaultClusterVersion: 15,
    clustersDir: '/nonexistent',
    clusterUser: 'postgres',
    storageFor: (location, field) => storageFor(location, process.env, field),
    ...overrides,
  };
}
