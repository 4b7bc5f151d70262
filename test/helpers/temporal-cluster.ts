import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { waitForTemporal } from '../../worker/dev-server';
import type { TemporalServerBinaries } from '../../worker/temporal-server';
import { runCommand, type ThrowawayCluster } from './pg';

const ROOT = path.resolve(__dirname, '../..');

/** The scripts and the dynamic config docker-compose.yml gives its Temporal services: the test runs the same ones. */
export const COMPOSE_TEMPORAL_DIR = path.join(ROOT, 'docker', 'temporal');

/** A Temporal server (not the dev server) on PostgreSQL persistence, started by startTemporalCluster. */
export interface TemporalCluster {
  readonly address: string;
  readonly namespace: string;
  /** The last lines the server wrote, for a failure's message. */
  logTail(): string;
  /** Stops the server (SIGTERM, SIGKILL after 15 s) and waits for it. */
  stop(): Promise<void>;
}

/** What startTemporalCluster needs. */
export interface TemporalClusterOptions {
  readonly binaries: TemporalServerBinaries;
  /** The `temporal` CLI, for the namespace script. */
  readonly cliPath: string;
  /** The PostgreSQL cluster that holds Temporal's `temporal` and `temporal_visibility` databases. */
  readonly persistence: ThrowawayCluster;
  /** A directory for the config and the log. */
  readonly dir: string;
  readonly namespace: string;
}

/**
 * Starts the topology of docker-compose.yml without Docker: the schema created by
 * docker/temporal/setup-schema.sh with the SQL tool, the server binary with a config like
 * config/development-postgres12.yaml of the server module (its own ports, on 127.0.0.1), and the
 * namespace with pgferry's search attributes from docker/temporal/setup-namespace.sh.
 */
export async function startTemporalCluster(options: TemporalClusterOptions): Promise<TemporalCluster> {
  await runCommand('sh', [path.join(COMPOSE_TEMPORAL_DIR, 'setup-schema.sh')], {
    env: {
      ...process.env,
      SQL_TOOL: options.binaries.sqlTool,
      POSTGRES_SEEDS: '127.0.0.1',
      DB_PORT: String(options.persistence.port),
      POSTGRES_USER: 'postgres',
    },
  });
  const ports = await freePorts(9);
  const configDir = path.join(options.dir, 'config');
  await mkdir(configDir, { recursive: true });
  await writeFile(
    path.join(configDir, 'pgferry.yaml'),
    stringify(serverConfig(options.persistence.port, ports)),
  );
  const server = startServer(options.binaries.server, options.dir);
  const address = `127.0.0.1:${ports[0]}`;
  try {
    await waitForTemporal(address, 120_000, server.exitReason);
    await runCommand('sh', [path.join(COMPOSE_TEMPORAL_DIR, 'setup-namespace.sh')], {
      env: {
        ...process.env,
        TEMPORAL_CLI: options.cliPath,
        TEMPORAL_ADDRESS: address,
        NAMESPACE: options.namespace,
        RETENTION: '1d',
      },
    });
  } catch (err) {
    await server.stop();
    throw new Error(`the Temporal server did not come up: ${String(err)}\n${server.logTail()}`);
  }
  return { address, namespace: options.namespace, logTail: server.logTail, stop: server.stop };
}

/**
 * `n` distinct ports free right now, below 32768: the server keeps each service's membership port
 * in a smallint column (cluster_membership.rpc_port), and the kernel's ephemeral ports that
 * freePort() gets are above it.
 */
async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!ports.has(port) && (await isFree(port))) ports.add(port);
  }
  return [...ports];
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The server's static config: persistence in the cluster at `pgPort` (user postgres, trust auth), every service on 127.0.0.1. */
function serverConfig(pgPort: number, ports: number[]): object {
  const [
    frontend,
    frontendHttp,
    frontendMembership,
    history,
    historyMembership,
    matching,
    matchingMembership,
    worker,
    workerMembership,
  ] = ports;
  const sql = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `127.0.0.1:${pgPort}`,
      connectProtocol: 'tcp',
      user: 'postgres',
      password: '',
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const rpc = (grpcPort: number | undefined, membershipPort: number | undefined) => ({
    rpc: { grpcPort, membershipPort, bindOnIP: '127.0.0.1' },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: 4,
      datastores: {
        'postgres-default': sql('temporal', 20),
        'postgres-visibility': sql('temporal_visibility', 10),
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: {
      frontend: { rpc: { ...rpc(frontend, frontendMembership).rpc, httpPort: frontendHttp } },
      history: rpc(history, historyMembership),
      matching: rpc(matching, matchingMembership),
      worker: rpc(worker, workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `127.0.0.1:${frontend}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: {
      filepath: path.join(COMPOSE_TEMPORAL_DIR, 'dynamicconfig.yaml'),
      pollInterval: '10s',
    },
  };
}

function startServer(
  binary: string,
  dir: string,
): { exitReason: () => string | undefined; logTail: () => string; stop: () => Promise<void> } {
  const child = spawn(
    binary,
    ['--root', dir, '--config', 'config', '--env', 'pgferry', '--allow-no-auth', 'start'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const tail: string[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 40) tail.shift();
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exitReason: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitReason = `exit code ${String(code)}${signal ? `, signal ${signal}` : ''}`;
      resolve();
    }),
  );
  child.once('error', (err) => {
    exitReason = err.message;
  });
  return {
    exitReason: () => exitReason,
    logTail: () => tail.join('\n'),
    stop: async () => {
      if (exitReason !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
