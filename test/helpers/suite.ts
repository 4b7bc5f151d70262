import { afterAll, beforeAll } from 'vitest';
import type { PgferryClient } from '../../client/pgferry-client';
import type { RunningWorker } from '../../worker/run';
import { connectClient, startTestWorker, stopWorker, testEnv } from './temporal';

/** What a suite on the shared Temporal server works with, once its beforeAll has run. */
export interface TemporalSuite {
  /** The environment of this suite's pgferry processes (the shared server, its namespace, the test key). */
  readonly env: NodeJS.ProcessEnv;
  /** A PgferryClient on the shared server. */
  readonly client: PgferryClient;
  /** Starts the in-process worker now (with `worker: 'later'`); it is stopped after the suite. */
  startWorker(): Promise<void>;
}

/** How a suite wants its Temporal set-up. */
export interface TemporalSuiteOptions {
  /** The suite's environment, made in beforeAll (so it may use what earlier hooks started); testEnv() by default. */
  env?: () => NodeJS.ProcessEnv;
  /** `now` (default): the worker runs before the first test; `later`: the suite calls startWorker(); `none`: no worker in this process. */
  worker?: 'now' | 'later' | 'none';
  /** false: no client is connected (the suite drives the CLI only). */
  client?: boolean;
}

/**
 * Registers the beforeAll/afterAll of a suite on the shared Temporal server: its environment, the
 * control and data workers in this process, and a client; all torn down after the suite. Call it
 * inside the describe, after the hooks whose results `env` needs: afterAll hooks run in reverse,
 * so those are torn down after the worker.
 */
export function useTemporalSuite(options: TemporalSuiteOptions = {}): TemporalSuite {
  let env: NodeJS.ProcessEnv | undefined;
  let client: PgferryClient | undefined;
  let worker: RunningWorker | undefined;

  beforeAll(async () => {
    env = (options.env ?? (() => testEnv()))();
    if ((options.worker ?? 'now') === 'now') worker = await startTestWorker(env);
    if (options.client !== false) client = await connectClient(env);
  });

  afterAll(async () => {
    await client?.close();
    await stopWorker(worker);
  });

  return {
    get env() {
      if (!env) throw new Error('the suite environment exists once beforeAll has run');
      return env;
    },
    get client() {
      if (!client) throw new Error('the suite client exists once beforeAll has run (and with client: true)');
      return client;
    },
    async startWorker() {
      if (worker) throw new Error('the suite worker is already running');
      worker = await startTestWorker(this.env);
    },
  };
}
