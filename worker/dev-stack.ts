import { ErrorCode, PgferryError } from '../domain/errors';
import { EncryptionCodec } from './codec';
import { isLoopback } from './codec-access';
import { startCodecServer, type CodecServer } from './codec-server';
import { loadCodecKey, type Config } from './config';
import { startDevServer, startSdkDevServer, type DevServer, type DevServerOptions } from './dev-server';
import { startWorker, type RunningWorker } from './run';
import { createLogger } from './logger';
import { installWorkerRuntime } from './observability';
import { loadObservabilityConfig, type ObservabilityConfig } from './observability-config';
import { setupTemporalCli } from './temporal-cli';
import { plainTemporalConnection } from './temporal-connection';

/** A dev server and, when asked, a worker on it: what `pgferry dev` and `pgferry demo` run. */
export interface DevStack {
  readonly server: DevServer;
  readonly worker: RunningWorker | undefined;
  /** The codec server the UI decodes payloads with, when one was asked for (loopback, no token). */
  readonly codec: CodecServer | undefined;
  /** Stops the worker (letting its current steps end), then the server. Safe to call twice. */
  stop(): Promise<void>;
  /** True once stop() was called: the server exiting after that is expected. */
  readonly stopping: boolean;
}

/**
 * Where the dev stack's codec server listens: loopback always, since it takes no token. With a
 * non-loopback `--ip`, the UI still decodes in a browser on this machine.
 */
export function devCodecHost(ip: string): string {
  return isLoopback(ip) ? ip : '127.0.0.1';
}

/** The origins a browser on this machine sends for the dev UI on `uiPort`. */
export function devUiOrigins(ip: string, uiPort: number): string[] {
  const hosts = new Set(['localhost', '127.0.0.1', ip === '0.0.0.0' || ip === '::' ? '127.0.0.1' : ip]);
  return [...hosts].map((h) => `http://${h.includes(':') ? `[${h}]` : h}:${uiPort}`);
}

/** Starts the Temporal dev server (the CLI found or built, else the SDK's download), then a worker on it. */
export async function startDevStack(
  options: Omit<DevServerOptions, 'cliPath' | 'codecEndpoint'> & {
    config: Config;
    worker: boolean;
    /** Port of the codec server the UI calls; none when undefined. */
    codecPort?: number | undefined;
    /** The worker's metrics, tracing and log settings; from the environment when absent. */
    observability?: ObservabilityConfig | undefined;
    say: (line: string) => void;
  },
): Promise<DevStack> {
  const cli = await setupTemporalCli(options.say);
  const ip = options.ip ?? '127.0.0.1';
  // The codec server starts first: the UI learns its address when the server starts.
  const codec =
    options.codecPort === undefined
      ? undefined
      : await startCodecServer({
          codec: new EncryptionCodec(await loadCodecKey(options.config)),
          port: options.codecPort,
          host: devCodecHost(ip),
          // The dev UI has no way to send a bearer token over http (its "pass access token"
          // sends an OIDC login's token, to https endpoints only), so the dev stack's codec
          // server takes none: loopback only, browsers only from the UI's own origins.
          auth: { kind: 'none' },
          origins: devUiOrigins(ip, options.uiPort),
        });
  const serverOptions = { ...options, ...(codec ? { codecEndpoint: codec.url } : {}) };
  let server: DevServer;
  try {
    if (cli.kind === 'binary') {
      server = await startDevServer({ ...serverOptions, cliPath: cli.path });
    } else {
      server = await startSdkDevServer(serverOptions).catch((err: unknown) => {
        throw new PgferryError(
          ErrorCode.ToolMissing,
          'no temporal CLI was found, none could be built, and the SDK could not download one',
          {
            fix: 'install Go (then pgferry builds the CLI), or set TEMPORAL_CLI_PATH to a temporal binary',
            cause: err,
          },
        );
      });
    }
  } catch (err) {
    await codec?.close();
    throw err;
  }
  let worker: RunningWorker | undefined;
  let stopping = false;
  const stop = async () => {
    stopping = true;
    if (worker) {
      worker.shutdown();
      await worker.done.catch(() => undefined);
    }
    await server.stop();
    await codec?.close();
  };
  if (options.worker) {
    try {
      const observability = options.observability ?? loadObservabilityConfig();
      const logger = createLogger(options.config.logLevel, { format: observability.logFormat });
      await installWorkerRuntime(observability, logger);
      await new Promise<void>((resolve, reject) => {
        // The dev server is plaintext on loopback: a profile's TLS, key or headers are not for it.
        const temporal = plainTemporalConnection(server.address, options.config.temporal.namespace);
        startWorker({ ...options.config, temporal }, { onReady: resolve, observability, logger }).then(
          (w) => {
            worker = w;
            w.done.catch(reject);
          },
          reject,
        );
      });
    } catch (err) {
      await stop();
      throw err;
    }
  }
  return {
    server,
    get worker() {
      return worker;
    },
    codec,
    stop,
    get stopping() {
      return stopping;
    },
  };
}
