import { Context } from '@temporalio/activity';
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

/** How the worker writes its log: JSON lines (for a log pipeline) or coloured text (for a terminal). */
export type LogFormat = 'json' | 'pretty';

/**
 * Keys whose values never reach the log, wherever a logged object holds them: passwords, tokens
 * and secrets (connection specs carry only the name of a password's variable, never its value;
 * this holds if a future log line gets that wrong).
 */
const REDACT = ['password', 'PGPASSWORD', 'token', 'secret', 'authorization', 'apiKey'].flatMap((key) => [
  key,
  `*.${key}`,
  `*.*.${key}`,
]);

/** Which activity a log line comes from: workflow id, run id, activity type and attempt; {} outside one. */
function activityFields(): Record<string, unknown> {
  let info: Context['info'];
  try {
    info = Context.current().info;
  } catch {
    return {};
  }
  return {
    workflowId: info.workflowExecution?.workflowId,
    runId: info.workflowExecution?.runId,
    activityType: info.activityType,
    activityId: info.activityId,
    attempt: info.attempt,
  };
}

/** Options of the worker's logger. */
export interface LoggerOptions {
  readonly format?: LogFormat;
  /** Where lines go; stderr when absent. */
  readonly destination?: DestinationStream;
}

/**
 * The worker's structured logger: JSON lines on stderr (or pretty text with `format: 'pretty'`).
 * A line logged inside an activity carries its workflow id, run id, type and attempt. Query
 * parameters are never logged; keys named like secrets are redacted.
 */
export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  const settings = {
    level,
    base: { app: 'pgferry' },
    mixin: activityFields,
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  if (options.format === 'pretty') {
    const stream = pretty({
      destination: options.destination ?? 2,
      sync: true,
      colorize: options.destination === undefined && process.stderr.isTTY,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,app',
    });
    return pino(settings, stream);
  }
  return pino(settings, options.destination ?? pino.destination(2));
}
