import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { childPids, processCpuSeconds, reapedChildrenCpuSeconds } from './cpu';
import { runOk } from './proc';

/** A throw-away PostgreSQL cluster with wal_level = logical, the source of the online run. */
export interface Cluster {
  /** postgres://postgres@127.0.0.1:PORT */
  readonly server: string;
  /** CPU seconds its server processes have used so far: the postmaster, its live and its exited backends. */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

/** The OS user that runs the cluster when the benchmark runs as root (the server refuses root). */
const CLUSTER_USER = 'postgres';

async function osIds(user: string): Promise<{ uid: number; gid: number }> {
  const uid = await runOk('id', ['-u', user]);
  const gid = await runOk('id', ['-g', user]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/**
 * Starts a cluster of the shared server's major on `port` with the shared server's durability
 * settings (fsync and synchronous_commit on, shared_buffers and max_wal_size as given), so that
 * the online run pays what a real source pays; only wal_level and the replication limits differ.
 * The shared server runs with wal_level = replica, which logical replication cannot use, and it
 * is not ours to restart.
 */
export async function startLogicalCluster(options: {
  binDir: string;
  port: number;
  settings: Record<string, string>;
}): Promise<Cluster> {
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(path.join(tmpdir(), 'pgferry-bench-cluster-'));
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  const pg = (program: string, args: string[]) => {
    const bin = path.join(options.binDir, program);
    return asRoot ? runOk('runuser', ['-u', CLUSTER_USER, '--', bin, ...args]) : runOk(bin, args);
  };
  let started = false;
  try {
    if (asRoot) {
      const ids = await osIds(CLUSTER_USER);
      await chown(dir, ids.uid, ids.gid);
    }
    await pg('initdb', [
      '-D',
      data,
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--locale=C',
      '--auth=trust',
      '--no-sync',
    ]);
    const conf = [
      '',
      '# pgferry benchmark: the online run’s source',
      "listen_addresses = '127.0.0.1'",
      `port = ${options.port}`,
      `unix_socket_directories = '${dir}'`,
      'wal_level = logical',
      'max_wal_senders = 10',
      'max_replication_slots = 10',
      ...Object.entries(options.settings).map(([k, v]) => `${k} = '${v.replace(/'/g, "''")}'`),
      '',
    ].join('\n');
    await writeFile(
      path.join(data, 'postgresql.conf'),
      `${await readFile(path.join(data, 'postgresql.conf'), 'utf8')}${conf}`,
    );
    await pg('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', 'start']);
    started = true;
  } catch (err) {
    if (started) await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    server: `postgres://postgres@127.0.0.1:${options.port}`,
    cpuSeconds: async () => {
      const pid = Number((await readFile(path.join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
      return (
        processCpuSeconds(pid) +
        reapedChildrenCpuSeconds(pid) +
        childPids(pid).reduce((sum, child) => sum + processCpuSeconds(child), 0)
      );
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await pg('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
