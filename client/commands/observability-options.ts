import type { Command } from 'commander';
import type { LogFormat } from '../../worker/logger';
import { choice, intOption } from './flags';

/** The flags of a command that runs a worker: its metrics endpoint and log format. */
export interface ObservabilityOptionFlags {
  metricsPort?: number;
  logFormat?: LogFormat;
}

/** Adds --metrics-port and --log-format to a command that runs a worker. */
export function withObservabilityOptions(command: Command): Command {
  return command
    .option(
      '--metrics-port <n>',
      "serve Prometheus metrics at http://HOST:N/metrics: the Temporal SDK's worker metrics and pgferry's (default: PGFERRY_METRICS_PORT, else none)",
      intOption('metrics-port', 1, 65535),
    )
    .option(
      '--log-format <format>',
      "the worker's log on stderr: json lines, or pretty text for a terminal (default: PGFERRY_LOG_FORMAT, else json)",
      choice('log-format', ['json', 'pretty'] as const),
    );
}
