import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Worker as Thread } from 'node:worker_threads';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createActivities } from '../activities';
import type { ActivityDeps } from '../activities/deps';
import { storageFor } from '../activities/storage/locate';
import { CONTROL_TASK_QUEUE, DATA_TASK_QUEUE } from '../domain/constants';
import { EncryptionCodec } from './codec';
import { loadCodecKey, type Config } from './config';
import { createLogger } from './logger';
import { loadObservabilityConfig, type ObservabilityConfig } from './observability-config';
import { startObservability, type Observability } from './observability';
import { ensureSearchAttributes } from './search-attributes';
import { temporalConnectOptions, temporalUnavailable } from './temporal-connection';

/** The module the worker bundles: every workflow type pgferry registers. */
export const WORKFLOWS_PATH =
  ['.js', '.ts']
    .map((ext) => path.resolve(__dirname, `../workflows/index${ext}`))
    .find((file) => existsSync(file)) ?? path.resolve(__dirname, '../workflows/index.js');

/** What the bundling thread runs: webpack, then the bundle's code back to the parent. */
const BUNDLE_THREAD = `
  const { parentPort, workerData } = require('node:worker_threads');
  const { bundleWorkflowCode } = require(workerData.sdk);
  const quiet = () => undefined;
  const logger = { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: console.warn, error: console.error };
  const { workflowsPath, workflowInterceptorModules } = workerData;
  bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger }).then((bundle) => parentPort.postMessage(bundle.code));
`;

/**
 * Bundles the workflow code (webpack) in a thread of its own and returns the bundle's code. In the
 * worker's own heap, webpack's modules and caches stay reachable for the life of the process: about
 * 40 MB that every full garbage collection marks again, and the copy relay's buffers bring on a
 * dozen such collections per migration. A thread's heap goes with the thread.
 */
export function bundleWorkflowsOffHeap(
  workflowsPath: string = WORKFLOWS_PATH,
  workflowInterceptorModules: readonly string[] = [],
): Promise<string> {
  return new Promise((resolve, reject) => {
    const thread = new Thread(BUNDLE_THREAD, {
      eval: true,
      workerData: { sdk: require.resolve('@temporalio/worker'), workflowsPath, workflowInterceptorModules },
    });
    thread.once('message', (code: string) => resolve(code));
    thread.once('error', reject);
    thread.once('exit', (code) => {
      if (code !== 0) reject(new Error(`bundling the workflow code failed (thread exit code ${code})`));
    });
  });
}

/** Builds the activities' dependencies from the worker's config. */
export function activityDeps(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
  logger: Logger = createLogger(config.logLevel),
): ActivityDeps {
  return {
    env,
    logger,
    pgBinDir: config.pgBinDir,
    clusterBinDirs: config.clusterBinDirs,
    defaultClusterVersion: config.defaultClusterVersion,
    clustersDir: config.clustersDir,
    clusterUser: config.clusterUser,
    switchHookCommand: config.switchHookCommand,
    notify: {
      slackBotToken: config.slackBotToken,
      slackApiUrl: config.slackApiUrl,
      slackChannel: config.slackChannel,
      webhookSecret: config.webhookSecret,
    },
    // Azure credentials come from the worker's environment, as passwords do.
    storageFor: (location, field) => storageFor(location, env, field),
  };
}

/** Options of one worker process beyond its config. */
export interface RunWorkerOptions {
  /** A prebuilt workflow bundle (tests build it once); bundled from source when absent. */
  readonly workflowBundlePath?: string;
  /** Where password_env references are looked up; the process environment when absent. */
  readonly env?: NodeJS.ProcessEnv;
  /** Called once both workers poll. */
  readonly onReady?: () => void;
  /** Metrics, tracing and log settings; from `env` (else the process environment) when absent. */
  readonly observability?: ObservabilityConfig;
  /** The worker's logger (shared with the Temporal runtime's); made from the config when absent. */
  readonly logger?: Logger;
}

/** A running pair of workers; `shutdown()` lets running activities finish their current step. */
export interface RunningWorker {
  readonly done: Promise<void>;
  shutdown(): void;
}

/** Connects to the configured Temporal (TLS, mTLS, API key as the profile says); TemporalUnavailable when it cannot. */
async function connectWorker(config: Config): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(temporalConnectOptions(config.temporal));
  } catch (err) {
    throw temporalUnavailable(err, config.temporal);
  }
}

/** The workflow code: the prebuilt bundle, else bundled now with the interceptor modules tracing needs. */
async function workflowBundle(
  options: RunWorkerOptions,
  observability: Observability,
  logger: Logger,
): Promise<WorkerOptions['workflowBundle']> {
  if (options.workflowBundlePath === undefined) {
    return { code: await bundleWorkflowsOffHeap(WORKFLOWS_PATH, observability.workflowInterceptorModules) };
  }
  if (observability.workflowInterceptorModules.length > 0) {
    logger.warn('a prebuilt workflow bundle has no tracing interceptors: traces hold activity spans only');
  }
  return { codePath: options.workflowBundlePath };
}

/** Starts the control and data workers against the configured Temporal server. */
export async function startWorker(config: Config, options: RunWorkerOptions = {}): Promise<RunningWorker> {
  const connection = await connectWorker(config);
  await ensureSearchAttributes(connection, config.temporal.namespace).catch(async (err: unknown) => {
    await connection.close().catch(() => undefined);
    throw err;
  });
  const codec = new EncryptionCodec(await loadCodecKey(config));
  const env = options.env ?? process.env;
  const settings = options.observability ?? loadObservabilityConfig(env);
  const logger = options.logger ?? createLogger(config.logLevel, { format: settings.logFormat });
  const observability = await startObservability(settings, connection, config.temporal.namespace, logger);
  const activities = createActivities({
    ...activityDeps(config, env, logger),
    metrics: observability.metrics,
  });
  const common: Pick<
    WorkerOptions,
    | 'connection'
    | 'namespace'
    | 'dataConverter'
    | 'maxHeartbeatThrottleInterval'
    | 'defaultHeartbeatThrottleInterval'
    | 'interceptors'
  > = {
    connection,
    namespace: config.temporal.namespace,
    dataConverter: { payloadCodecs: [codec] },
    // Progress figures ride on heartbeats: send them every second, not every 80% of the timeout.
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    interceptors: { activity: observability.activityInterceptors },
  };
  const control = await Worker.create({
    ...common,
    taskQueue: CONTROL_TASK_QUEUE,
    workflowBundle: await workflowBundle(options, observability, logger),
    sinks: observability.sinks,
    activities,
  });
  const data = await Worker.create({
    ...common,
    taskQueue: DATA_TASK_QUEUE,
    activities,
    maxConcurrentActivityTaskExecutions: config.dataConcurrency,
  });
  const done = Promise.all([control.run(), data.run()])
    .finally(() => observability.close().catch(() => undefined))
    .then(
      () => connection.close(),
      async (err: unknown) => {
        await connection.close().catch(() => undefined);
        throw err;
      },
    );
  // Worker.run() starts polling synchronously; both are polling once their state says so.
  const poll = setInterval(() => {
    if (control.getState() === 'RUNNING' && data.getState() === 'RUNNING') {
      clearInterval(poll);
      options.onReady?.();
    }
  }, 50);
  void done.finally(() => clearInterval(poll)).catch(() => undefined);
  return {
    done,
    shutdown: () => {
      if (control.getState() === 'RUNNING') control.shutdown();
      if (data.getState() === 'RUNNING') data.shutdown();
    },
  };
}
