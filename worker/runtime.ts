import { DefaultLogger, Runtime } from '@temporalio/worker';

let installed = false;

/**
 * Installs the Temporal runtime once per process, without its own signal handlers: pgferry's
 * commands decide how to stop (the worker first, then the dev server).
 */
export function installRuntime(level: 'WARN' | 'INFO' | 'ERROR' = 'WARN'): void {
  if (installed) return;
  Runtime.install({ logger: new DefaultLogger(level), shutdownSignals: [] });
  installed = true;
}
