import type { Command } from 'commander';
import { DEFAULTS } from '../../domain/constants';
import { outputFor, withJson, type CommonOptions } from './context';
import { intOption } from './flags';
import { startDevStackFor, withDevServerOptions, type DevServerFlags } from './dev-server-options';
import { onStopSignal } from './worker';
import { withObservabilityOptions, type ObservabilityOptionFlags } from './observability-options';

interface DevFlags extends CommonOptions, DevServerFlags, ObservabilityOptionFlags {
  worker: boolean;
  ip: string;
  codecPort: number | false;
}

/** `pgferry dev`: the embedded default — a Temporal dev server with SQLite history, its UI, and a worker. */
export function registerDev(program: Command): void {
  withJson(
    withObservabilityOptions(
      withDevServerOptions(
        program
          .command('dev')
          .description(
            'start a Temporal dev server (SQLite history, UI, search attributes) and a worker, in one command',
          ),
        'SQLite file that keeps the history across restarts',
      )
        .option('--ip <ip>', 'address to listen on', '127.0.0.1')
        .option(
          '--codec-port <n>',
          "port of the codec server the UI decodes payloads with (on loopback, without a token: the dev UI cannot send one; browsers only from the UI's origin)",
          intOption('codec-port', 1, 65535),
          DEFAULTS.codecPort,
        )
        .option('--no-codec-port', 'start no codec server (the UI then shows payloads encrypted)')
        .option('--no-worker', 'start the server only'),
    ),
  ).action(async (flags: DevFlags) => {
    const out = outputFor(flags);
    // Loaded when the stack starts: the configuration's schemas are not the CLI's start.
    const [{ loadConfig }, { loadObservabilityConfig, metricsEndpoint }] = await Promise.all([
      import('../../worker/config.js'),
      import('../../worker/observability-config.js'),
    ]);
    const observability = loadObservabilityConfig(process.env, flags);
    const metrics =
      flags.worker && observability.metricsPort !== undefined
        ? metricsEndpoint(observability.metricsHost, observability.metricsPort)
        : undefined;
    const stack = await startDevStackFor(flags, {
      ip: flags.ip,
      worker: flags.worker,
      codecPort: flags.codecPort === false ? undefined : flags.codecPort,
      config: loadConfig(),
      observability,
      say: (line) => out.note(line),
    });
    const { server } = stack;
    if (stack.codec) {
      out.note(
        `pgferry dev: the codec server at ${stack.codec.url} takes no token, because the dev UI cannot send one over http; any program on this machine can decrypt payloads through it. \`pgferry codec serve\` requires a token.`,
      );
    }
    const ready = {
      ok: true,
      ready: true,
      address: server.address,
      ui: server.uiUrl,
      worker: flags.worker,
      codec: stack.codec?.url,
      codecAuth: stack.codec ? 'none' : undefined,
      dbFilename: flags.dbFilename,
      metrics,
    };
    out.result(
      ready,
      () =>
        `pgferry dev ready: Temporal at ${server.address}, UI at ${server.uiUrl ?? '(none)'}${stack.codec ? `, codec server at ${stack.codec.url} (no token: loopback only, browsers only from the UI's origin)` : ''}${flags.worker ? ', worker polling' : ''}${metrics ? `, metrics at ${metrics}` : ''}. Ctrl-C stops.`,
    );
    const stop = async () => {
      out.note('pgferry dev: stopping…');
      await stack.stop();
    };
    await Promise.race([
      onStopSignal(stop),
      server.exited.then(async () => {
        if (stack.stopping) return;
        out.note('pgferry dev: the Temporal server exited');
        await stack.stop();
        process.exitCode = 1;
      }),
    ]);
  });
}
