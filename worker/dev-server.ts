import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../domain/constants';
import { ErrorCode, PgferryError } from '../domain/errors';

/** Options of the embedded Temporal dev server. */
export interface DevServerOptions {
  readonly cliPath: string;
  readonly port: number;
  readonly uiPort: number;
  readonly dbFilename: string;
  readonly ip?: string;
  readonly headless?: boolean;
  readonly codecEndpoint?: string;
  /** Namespaces to create at launch besides `default`. */
  readonly namespaces?: readonly string[];
  /** Lines the server writes go here (its log is verbose; the default drops it). */
  readonly onLog?: (line: string) => void;
}

/** A running dev server. */
export interface DevServer {
  readonly address: string;
  readonly uiUrl: string | undefined;
  /** The server's process id (undefined when the SDK runs it), for a supervisor or a fault injector. */
  readonly pid: number | undefined;
  /** Settles when the server process has exited, for whatever reason. */
  readonly exited: Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL after a grace period) and waits for it to exit. */
  stop(): Promise<void>;
}

const EXITED = 'the Temporal dev server exited';

/** Waits until the Temporal frontend at `address` answers, or throws after `timeoutMs`. */
export async function waitForTemporal(
  address: string,
  timeoutMs: number,
  exited?: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const why = exited?.();
    if (why) throw new PgferryError(ErrorCode.TemporalUnavailable, `${EXITED}: ${why}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new PgferryError(
    ErrorCode.TemporalUnavailable,
    `Temporal at ${address} did not answer within ${timeoutMs} ms`,
    {
      fix: 'check that the port is free and the server log',
      cause: last,
    },
  );
}

/** Starts at most this many times when the server exits while starting. */
const START_ATTEMPTS = 3;

/**
 * Starts `temporal server start-dev` with SQLite persistence in `dbFilename` and pgferry's search
 * attributes registered, and waits until it accepts work. History survives a restart with the same
 * file. The dev server picks its internal ports when it starts, probing for free ones; another
 * process can take one before it binds it, and then it exits. That is tried again (the ports are
 * picked afresh); any other failure, or the third exit, is thrown.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServerOnce(options);
    } catch (err) {
      const exitedWhileStarting = err instanceof PgferryError && err.message.includes(EXITED);
      if (!exitedWhileStarting || attempt >= START_ATTEMPTS) throw err;
      options.onLog?.(
        `the Temporal dev server exited while starting (attempt ${attempt}); starting it again`,
      );
    }
  }
}

async function startDevServerOnce(options: DevServerOptions): Promise<DevServer> {
  const ip = options.ip ?? '127.0.0.1';
  await mkdir(path.dirname(path.resolve(options.dbFilename)), { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(options.port),
    '--db-filename',
    path.resolve(options.dbFilename),
    '--log-level',
    'warn',
    ...SEARCH_ATTRIBUTES.flatMap((name) => ['--search-attribute', `${name}=Keyword`]),
  ];
  if (options.headless) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort), '--ui-ip', ip);
  for (const ns of options.namespaces ?? []) args.push('--namespace', ns);
  if (options.codecEndpoint) args.push('--ui-codec-endpoint', options.codecEndpoint);
  const child = spawn(options.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let exitReason: string | undefined;
  let spawnError: string | undefined;
  child.once('error', (err) => {
    spawnError = err.message;
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitReason = `exit code ${String(code)}${signal ? `, signal ${signal}` : ''}`;
      resolve();
    }),
  );
  const tail: string[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 20) tail.shift();
      options.onLog?.(line);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const address = `${ip}:${options.port}`;
  const stop = async () => {
    if (exitReason === undefined && spawnError === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    await waitForTemporal(
      address,
      60_000,
      () => spawnError ?? (exitReason ? `${exitReason}: ${tail.slice(-5).join(' | ')}` : undefined),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, uiUrl: uiUrl(ip, options), pid: child.pid, exited, stop };
}

function uiUrl(ip: string, options: Pick<DevServerOptions, 'headless' | 'uiPort'>): string | undefined {
  return options.headless ? undefined : `http://${ip === '0.0.0.0' ? 'localhost' : ip}:${options.uiPort}`;
}

/**
 * The last resort when no temporal CLI can be found or built: the Temporal SDK downloads a dev
 * server itself (this needs internet access to Temporal's download site).
 */
export async function startSdkDevServer(options: Omit<DevServerOptions, 'cliPath'>): Promise<DevServer> {
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const { defineSearchAttributeKey, SearchAttributeType } = await import('@temporalio/common');
  const ip = options.ip ?? '127.0.0.1';
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'cached-download' },
      ip,
      port: options.port,
      ui: !options.headless,
      uiPort: options.uiPort,
      dbFilename: path.resolve(options.dbFilename),
      searchAttributes: SEARCH_ATTRIBUTES.map((name) =>
        defineSearchAttributeKey(name, SearchAttributeType.KEYWORD),
      ),
    },
  });
  let stopped: () => void = () => undefined;
  const exited = new Promise<void>((resolve) => {
    stopped = resolve;
  });
  return {
    address: `${ip}:${options.port}`,
    uiUrl: uiUrl(ip, options),
    pid: undefined,
    exited,
    stop: async () => {
      await env.teardown();
      stopped();
    },
  };
}
