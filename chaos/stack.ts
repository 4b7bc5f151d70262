import { randomBytes } from 'node:crypto';
import { copyFile, mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { PgferryClient } from '../client/pgferry-client';
import type { WorkflowStatus } from '../domain/contracts';
import { startDevServer, type DevServer } from '../worker/dev-server';
import { freePort, startThrowawayCluster, type ThrowawayCluster } from '../test/helpers/pg';
import type { Builds } from './builds';
import { WorkerPool } from './workers';

/** What a run's stack needs from the session. */
export interface StackOptions {
  readonly temporalCliPath: string;
  readonly builds: Builds;
  /** The run's own directory: Temporal's SQLite file, the workers' state. */
  readonly dir: string;
  readonly log: (line: string) => void;
}

const TAIL_LINES = 300;

/** Stacks running now: an interrupted session stops them (stopOpenStacks) instead of leaving servers behind. */
const OPEN = new Set<ChaosStack>();

/** Stops every stack still running (on SIGINT or SIGTERM). */
export async function stopOpenStacks(): Promise<void> {
  await Promise.all([...OPEN].map((stack) => stack.stop()));
}

/**
 * Everything one chaos run stands on, throw-away: a source and a target cluster (wal_level =
 * logical), a Temporal dev server on a SQLite file, the worker processes, and a client.
 */
export class ChaosStack {
  private serverLog: string[] = [];
  private connected: PgferryClient | undefined;

  private constructor(
    readonly source: ThrowawayCluster,
    readonly target: ThrowawayCluster,
    private server: DevServer,
    private readonly port: number,
    readonly env: NodeJS.ProcessEnv,
    readonly workers: WorkerPool,
    private readonly options: StackOptions,
  ) {}

  /** Starts the clusters and the Temporal server (no worker yet). */
  static async start(options: StackOptions): Promise<ChaosStack> {
    const [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
    ]);
    try {
      const port = await freePort();
      const lines: string[] = [];
      const server = await startTemporal(options, port, lines);
      const env = runEnv(server.address, path.join(options.dir, 'state'));
      const stack = new ChaosStack(
        source,
        target,
        server,
        port,
        env,
        new WorkerPool(options.builds, env, options.log),
        options,
      );
      stack.serverLog = lines;
      OPEN.add(stack);
      return stack;
    } catch (err) {
      await Promise.all([source.stop(), target.stop()]);
      throw err;
    }
  }

  /** The client on the current Temporal server (connected again after each restart). */
  async client(): Promise<PgferryClient> {
    this.connected ??= await PgferryClient.connect({ env: this.env });
    return this.connected;
  }

  /** A workflow's status, or undefined while Temporal does not answer. */
  async status(name: string): Promise<WorkflowStatus | undefined> {
    try {
      return await (await this.client()).status(name);
    } catch {
      return undefined;
    }
  }

  /** `kill -9` of the Temporal server, restarted on the same file and port. */
  async killTemporal(): Promise<string> {
    const old = this.server;
    if (old.pid === undefined) throw new Error('the Temporal server has no pid to kill');
    const began = Date.now();
    process.kill(old.pid, 'SIGKILL');
    await old.exited;
    await this.connected?.close().catch(() => undefined);
    this.connected = undefined;
    this.server = await startTemporal(this.options, this.port, this.serverLog);
    return `killed Temporal pid ${old.pid}; pid ${this.server.pid} serving again after ${((Date.now() - began) / 1000).toFixed(1)} s`;
  }

  /** Copies what the servers logged into `dir` (a failed run's artifacts). */
  async saveServerLogs(dir: string): Promise<{ name: string; text: string }[]> {
    await mkdir(dir, { recursive: true });
    for (const [name, cluster] of [
      ['source', this.source],
      ['target', this.target],
    ] as const) {
      const log = path.join(path.dirname(cluster.dataDir), 'server.log');
      await copyFile(log, path.join(dir, `${name}-postgres.log`)).catch(() => undefined);
    }
    return [{ name: 'temporal.log', text: this.serverLog.join('\n') }];
  }

  /** Stops everything, workers first. */
  async stop(): Promise<void> {
    OPEN.delete(this);
    await this.workers.stop();
    await this.connected?.close().catch(() => undefined);
    await this.server.stop().catch(() => undefined);
    await Promise.all([this.source.stop(), this.target.stop()]);
  }
}

function startTemporal(options: StackOptions, port: number, lines: string[]): Promise<DevServer> {
  return startDevServer({
    cliPath: options.temporalCliPath,
    port,
    uiPort: port + 1,
    dbFilename: path.join(options.dir, 'temporal.db'),
    headless: true,
    onLog: (line) => {
      lines.push(line);
      if (lines.length > TAIL_LINES) lines.shift();
    },
  });
}

/** The workers' and the client's environment: this run's server and key, nothing inherited that names another. */
function runEnv(address: string, stateDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TEMPORAL_') && !key.startsWith('PGFERRY_')) env[key] = value;
  }
  return {
    ...env,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: 'default',
    PGFERRY_CODEC_KEY: randomBytes(32).toString('base64'),
    PGFERRY_CODEC_KEY_ID: 'chaos',
    PGFERRY_STATE_DIR: stateDir,
    PGFERRY_LOG_LEVEL: 'warn',
  };
}
