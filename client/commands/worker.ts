import type { Command } from 'commander';
import { CONTROL_TASK_QUEUE, DATA_TASK_QUEUE } from '../../domain/constants';
import { loadConfig } from '../../worker/config';
import { describeTemporalSecurity } from '../../worker/temporal-connection';
import { outputFor, withJson, type CommonOptions } from './context';

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
    program
      .command('worker')
      .description(`run a worker on the ${CONTROL_TASK_QUEUE} and ${DATA_TASK_QUEUE} task queues`),
  ).action(async (flags: CommonOptions) => {
    const out = outputFor(flags);
    const config = loadConfig();
    // Loaded here, not at the top: every other command starts faster without the worker's modules.
    const [{ startWorker }, { installRuntime }] = await Promise.all([
      import('../../worker/run.js'),
      import('../../worker/runtime.js'),
    ]);
    installRuntime();
    const worker = await startWorker(config, {
      onReady: () =>
        out.result(
          {
            ok: true,
            ready: true,
            address: config.temporal.address,
            namespace: config.temporal.namespace,
            connection: describeTemporalSecurity(config.temporal),
          },
          () =>
            `pgferry worker ready: polling ${CONTROL_TASK_QUEUE} and ${DATA_TASK_QUEUE} at ${config.temporal.address} (namespace ${config.temporal.namespace}; ${describeTemporalSecurity(config.temporal)})`,
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
