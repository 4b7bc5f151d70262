import type { Command } from 'commander';
import { DEFAULTS } from '../../domain/constants';
import type { DevStack, startDevStack } from '../../worker/dev-stack';
import { intOption } from './flags';

/** The flags of the embedded Temporal dev server that `pgferry dev` and `pgferry demo` share. */
export interface DevServerFlags {
  port: number;
  uiPort: number;
  dbFilename: string;
}

/** Adds the dev server's --port, --ui-port and --db-filename (described by `dbFilenameHelp`) to a command. */
export function withDevServerOptions(command: Command, dbFilenameHelp: string): Command {
  return command
    .option('--port <n>', 'Temporal frontend port', intOption('port', 1, 65535), DEFAULTS.temporalPort)
    .option('--ui-port <n>', 'Temporal UI port', intOption('ui-port', 1, 65535), DEFAULTS.uiPort)
    .option('--db-filename <file>', dbFilenameHelp, DEFAULTS.dbFilename);
}

type DevStackOptions = Parameters<typeof startDevStack>[0];

/**
 * Starts the dev stack on the flags' ports. The worker's modules are loaded here, on demand, so
 * that the CLI's other commands do not pay for them.
 */
export async function startDevStackFor(
  flags: DevServerFlags,
  options: Omit<DevStackOptions, 'port' | 'uiPort' | 'dbFilename'>,
): Promise<DevStack> {
  const { startDevStack } = await import('../../worker/dev-stack.js');
  return startDevStack({ port: flags.port, uiPort: flags.uiPort, dbFilename: flags.dbFilename, ...options });
}
