import type { Command } from 'commander';
import { CONTROL_TASK_QUEUE, DATA_TASK_QUEUE } from '../../domain/constants';
import { outputFor, withJson, type CommonOptions } from './context';
import { withObservabilityOptions, type ObservabilityOptionFlags } from './observability-options';

/** Stops `stop` on the first SIGINT or SIGTERM; resolves when it has. */
export function onStopSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const handler = () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      stop().then(resolve, reject);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}

/** `pgferry worker`: a worker alone, against the configured Temporal (TEMPORAL_*, temporal.toml profile). */
export function registerWorker(program: Command): void {
  withJson(
    withObservabilityOptions(
      program
        .command('worker')
        .description(`run a worker on the ${CONTROL_TASK_QUEUE} and ${DATA_TASK_QUEUE} task queues`),
    ),
  ).action(async (flags: CommonOptions & ObservabilityOptionFlags) => {
    const out = outputFor(flags);
    // Loaded here, not at the top: every other command starts faster without the worker's modules.
    const [{ loadConfig }, { loadObservabilityConfig, metricsEndpoint }, { describeTemporalSecurity }] =
      await Promise.all([
        import('../../worker/config.js'),
        import('../../worker/observability-config.js'),
        import('../../worker/temporal-connection.js'),
      ]);
    const config = loadConfig();
    const observability = loadObservabilityConfig(process.env, flags);
    const metrics =
      observability.metricsPort === undefined
        ? undefined
        : metricsEndpoint(observability.metricsHost, observability.metricsPort);
    const [{ startWorker }, { installWorkerRuntime }, { createLogger }] = await Promise.all([
      import('../../worker/run.js'),
      import('../../worker/observability.js'),
      import('../../worker/logger.js'),
    ]);
    const logger = createLogger(config.logLevel, { format: observability.logFormat });
    await installWorkerRuntime(observability, logger);
    const worker = await startWorker(config, {
      observability,
      logger,
      onReady: () =>
        out.result(
          {
            ok: true,
            ready: true,
            address: config.temporal.address,
            namespace: config.temporal.namespace,
            connection: describeTemporalSecurity(config.temporal),
            metrics,
            traces: observability.tracing !== undefined,
          },
          () =>
            `pgferry worker ready: polling ${CONTROL_TASK_QUEUE} and ${DATA_TASK_QUEUE} at ${config.temporal.address} (namespace ${config.temporal.namespace}; ${describeTemporalSecurity(config.temporal)})${metrics ? `, metrics at ${metrics}` : ''}${observability.tracing ? ', exporting traces' : ''}`,
        ),
    });
    const stopped = onStopSignal(async () => {
      out.note('pgferry worker: stopping…');
      worker.shutdown();
      await worker.done;
    });
    await Promise.race([worker.done, stopped]);
    await worker.done;
  });
}
