import type { Command } from 'commander';
import { DEFAULTS } from '../../domain/constants';
import { ErrorCode, PgferryError } from '../../domain/errors';
import { loadConfig } from '../../worker/config';
import { startDevServer, startSdkDevServer, type DevServer } from '../../worker/dev-server';
import { startWorker, type RunningWorker } from '../../worker/run';
import { installRuntime } from '../../worker/runtime';
import { setupTemporalCli } from '../../worker/temporal-cli';
import { intOption, outputFor, withJson, type CommonOptions } from './context';
import { onStopSignal } from './worker';

interface DevFlags extends CommonOptions {
  port: number;
  uiPort: number;
  dbFilename: string;
  worker: boolean;
  ip: string;
}

async function startServer(flags: DevFlags, say: (line: string) => void): Promise<DevServer> {
  const cli = await setupTemporalCli(say);
  if (cli.kind === 'binary') {
    return startDevServer({
      cliPath: cli.path,
      port: flags.port,
      uiPort: flags.uiPort,
      dbFilename: flags.dbFilename,
      ip: flags.ip,
    });
  }
  try {
    return await startSdkDevServer({
      port: flags.port,
      uiPort: flags.uiPort,
      dbFilename: flags.dbFilename,
      ip: flags.ip,
    });
  } catch (err) {
    throw new PgferryError(
      ErrorCode.ToolMissing,
      'no temporal CLI was found, none could be built, and the SDK could not download one',
      {
        fix: 'install Go (then pgferry builds the CLI), or set TEMPORAL_CLI_PATH to a temporal binary',
        cause: err,
      },
    );
  }
}

/** `pgferry dev`: the embedded default — a Temporal dev server with SQLite history, its UI, and a worker. */
export function registerDev(program: Command): void {
  withJson(
    program
      .command('dev')
      .description(
        'start a Temporal dev server (SQLite history, UI, search attributes) and a worker, in one command',
      )
      .option('--port <n>', 'Temporal frontend port', intOption('port', 1, 65535), DEFAULTS.temporalPort)
      .option('--ui-port <n>', 'Temporal UI port', intOption('ui-port', 1, 65535), DEFAULTS.uiPort)
      .option(
        '--db-filename <file>',
        'SQLite file that keeps the history across restarts',
        DEFAULTS.dbFilename,
      )
      .option('--ip <ip>', 'address to listen on', '127.0.0.1')
      .option('--no-worker', 'start the server only'),
  ).action(async (flags: DevFlags) => {
    const out = outputFor(flags);
    const server = await startServer(flags, (line) => out.note(line));
    let worker: RunningWorker | undefined;
    let stopping = false;
    const stop = async () => {
      stopping = true;
      out.note('pgferry dev: stopping…');
      if (worker) {
        worker.shutdown();
        await worker.done.catch(() => undefined);
      }
      await server.stop();
    };
    try {
      if (flags.worker) {
        installRuntime();
        const config = { ...loadConfig(), temporalAddress: server.address };
        await new Promise<void>((resolve, reject) => {
          startWorker(config, { onReady: resolve }).then((w) => {
            worker = w;
            w.done.catch(reject);
          }, reject);
        });
      }
    } catch (err) {
      await stop();
      throw err;
    }
    const ready = {
      ok: true,
      ready: true,
      address: server.address,
      ui: server.uiUrl,
      worker: flags.worker,
      dbFilename: flags.dbFilename,
    };
    out.result(
      ready,
      () =>
        `pgferry dev ready: Temporal at ${server.address}, UI at ${server.uiUrl ?? '(none)'}${flags.worker ? ', worker polling' : ''}. Ctrl-C stops.`,
    );
    await Promise.race([
      onStopSignal(stop),
      server.exited.then(async () => {
        if (stopping) return;
        out.note('pgferry dev: the Temporal server exited');
        await stop();
        process.exitCode = 1;
      }),
    ]);
  });
}
