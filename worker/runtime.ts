import { createServer } from 'node:net';
import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';
import type { Logger } from 'pino';
import { DATA_TASK_QUEUE } from '../domain/constants';

/** The data queue's worker has no workflows by design: its notice about that is noise. */
function expected(entry: LogEntry): boolean {
  return (
    entry.meta?.taskQueue === DATA_TASK_QUEUE &&
    entry.level === 'WARN' &&
    entry.meta?.sdkComponent === 'worker'
  );
}

/** What the runtime reports beyond its own log. */
export interface RuntimeTelemetry {
  /** The SDK's log lines go to this logger (the worker's JSON or pretty log), with their metadata. */
  readonly logger?: Logger;
  /** A loopback port on which the runtime's Prometheus exporter serves the SDK's worker metrics. */
  readonly sdkMetricsPort?: number;
}

let installed = false;
let sdkMetrics: string | undefined;

/** Where the SDK's worker metrics are served (loopback), when the runtime was installed to serve them. */
export function sdkMetricsUrl(): string | undefined {
  return sdkMetrics;
}

/** The SDK's logger: its lines through pino when given one, else its default text on stderr. */
function sdkLogger(level: LogLevel, logger: Logger | undefined): DefaultLogger {
  if (logger) {
    return new DefaultLogger(level, (entry) => {
      if (expected(entry)) return;
      const method = entry.level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error';
      logger[method]({ ...entry.meta, sdk: true }, entry.message);
    });
  }
  const print = new DefaultLogger(level);
  return new DefaultLogger(level, (entry) => {
    if (!expected(entry)) print.log(entry.level, entry.message, entry.meta);
  });
}

/**
 * Installs the Temporal runtime once per process, without its own signal handlers: pgferry's
 * commands decide how to stop (the worker first, then the dev server). With `sdkMetricsPort`, the
 * runtime serves the SDK's metrics there with Prometheus names (`_total` counters, units, seconds).
 */
export function installRuntime(
  level: 'WARN' | 'INFO' | 'ERROR' = 'WARN',
  telemetry: RuntimeTelemetry = {},
): void {
  if (installed) return;
  const port = telemetry.sdkMetricsPort;
  Runtime.install({
    logger: sdkLogger(level, telemetry.logger),
    shutdownSignals: [],
    ...(port === undefined
      ? {}
      : {
          telemetryOptions: {
            metrics: {
              prometheus: {
                bindAddress: `127.0.0.1:${port}`,
                countersTotalSuffix: true,
                unitSuffix: true,
                useSecondsForDurations: true,
              },
            },
          },
        }),
  });
  if (port !== undefined) sdkMetrics = `http://127.0.0.1:${port}/metrics`;
  installed = true;
}

/** A port free on loopback now (the runtime's exporter takes an address, not port 0). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
