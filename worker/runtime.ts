import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { DATA_TASK_QUEUE } from '../domain/constants';

/** The data queue's worker has no workflows by design: its notice about that is noise. */
function expected(entry: LogEntry): boolean {
  return (
    entry.meta?.taskQueue === DATA_TASK_QUEUE &&
    entry.level === 'WARN' &&
    entry.meta?.sdkComponent === 'worker'
  );
}

let installed = false;

/**
 * Installs the Temporal runtime once per process, without its own signal handlers: pgferry's
 * commands decide how to stop (the worker first, then the dev server).
 */
export function installRuntime(level: 'WARN' | 'INFO' | 'ERROR' = 'WARN'): void {
  if (installed) return;
  const print = new DefaultLogger(level);
  const logger = new DefaultLogger(level, (entry) => {
    if (!expected(entry)) print.log(entry.level, entry.message, entry.meta);
  });
  Runtime.install({ logger, shutdownSignals: [] });
  installed = true;
}
