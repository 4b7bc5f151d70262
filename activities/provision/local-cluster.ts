import { chown, mkdir, readFile, rm, writeFile, access } from 'node:fs/promises';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { ProvisionClusterInput } from '../../domain/activity-inputs';
import type { ProvisionResult } from '../../domain/contracts';
import { ErrorCode, PgferryError } from '../../domain/errors';
import type { ActivityDeps } from '../deps';
import { withHeartbeat } from '../heartbeat';
import { killOrphan, toolTrace } from '../orphans';
import { findTool, runTool } from '../tools';
import { provisionDatabase } from './local';

/** What pgferry writes beside a cluster it made, once initdb has finished. */
interface ClusterRecord {
  readonly port: number;
  readonly pgVersion: number;
}

const RECORD_FILE = 'pgferry-cluster.json';

/** Asks the kernel for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function osUserIds(user: string): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new PgferryError(
      ErrorCode.ClusterFailed,
      `the OS user "${user}" that should own local clusters does not exist`,
      {
        fix: 'create it (adduser --system postgres) or set PGFERRY_CLUSTER_USER',
      },
    );
  }
}

async function readRecord(dataDir: string): Promise<ClusterRecord | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dataDir, RECORD_FILE), 'utf8')) as ClusterRecord;
  } catch {
    return undefined;
  }
}

async function initCluster(
  deps: ActivityDeps,
  dataDir: string,
  binDir: string,
  port: number,
  pgVersion: number,
) {
  // A folder without the record is what a crashed initdb left: start over, once that initdb (if
  // it still runs) has exited.
  const { pidFile } = await toolTrace(`initdb ${dataDir}`);
  await killOrphan(pidFile);
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const ids = osUserIds(deps.clusterUser);
  if (ids) await chown(dataDir, ids.uid, ids.gid);
  const initdb = findTool('initdb', binDir);
  const init = await runTool(
    initdb,
    ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'],
    { asUser: deps.clusterUser, pidFile },
  );
  if (init.code !== 0) {
    throw new PgferryError(ErrorCode.ClusterFailed, `initdb failed: ${init.stderrTail}`, {
      fix: `every parent of ${dataDir} must be searchable by the OS user "${deps.clusterUser}" (chmod o+x), or set PGFERRY_CLUSTERS_DIR`,
    });
  }
  const conf = [
    '',
    '# pgferry local cluster',
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${dataDir.replace(/'/g, "''")}'`,
    'wal_level = logical',
    'max_wal_senders = 10',
    'max_replication_slots = 10',
    '',
  ].join('\n');
  const confFile = path.join(dataDir, 'postgresql.conf');
  await writeFile(confFile, (await readFile(confFile, 'utf8')) + conf);
  const record: ClusterRecord = { port, pgVersion };
  await writeFile(path.join(dataDir, RECORD_FILE), JSON.stringify(record));
  if (ids) await chown(path.join(dataDir, RECORD_FILE), ids.uid, ids.gid);
}

async function ensureRunning(deps: ActivityDeps, dataDir: string, binDir: string): Promise<void> {
  const pgCtl = findTool('pg_ctl', binDir);
  const status = await runTool(pgCtl, ['-D', dataDir, 'status'], { asUser: deps.clusterUser });
  if (status.code === 0) return;
  const start = await runTool(
    pgCtl,
    ['-D', dataDir, '-l', path.join(dataDir, 'server.log'), '-w', '-t', '60', 'start'],
    {
      asUser: deps.clusterUser,
    },
  );
  if (start.code !== 0) {
    const log = await readFile(path.join(dataDir, 'server.log'), 'utf8').catch(() => '');
    throw new PgferryError(
      ErrorCode.ClusterFailed,
      `the local cluster in ${dataDir} did not start: ${log.slice(-500)}`,
      {
        fix: 'read the server log in the data directory',
      },
    );
  }
}

/** Makes a local cluster exist and run (initdb + pg_ctl on a free port), then the database in it. */
export async function provisionLocalCluster(
  deps: ActivityDeps,
  input: ProvisionClusterInput,
): Promise<ProvisionResult> {
  // initdb and the server's start take seconds, more than the data queue's heartbeat timeout on a slow disk.
  return withHeartbeat('provisioning a local cluster', async (hb) => {
    const dataDir = path.resolve(deps.clustersDir, input.cluster);
    let record = await readRecord(dataDir);
    const pgVersion = record?.pgVersion ?? input.pgVersion ?? deps.defaultClusterVersion;
    const binDir = deps.clusterBinDirs[pgVersion];
    if (binDir === undefined) {
      throw new PgferryError(
        ErrorCode.Unsupported,
        `pgVersion: the worker has no PostgreSQL ${pgVersion} server binaries`,
        {
          field: 'pgVersion',
          fix: `use one of ${Object.keys(deps.clusterBinDirs).join(', ')}, or set PGFERRY_CLUSTER_BINDIRS on the worker`,
        },
      );
    }
    let created = false;
    if (!record) {
      hb.update({ detail: 'initdb' });
      await mkdir(deps.clustersDir, { recursive: true, mode: 0o755 });
      await initCluster(deps, dataDir, binDir, input.port ?? (await freePort()), pgVersion);
      record = await readRecord(dataDir);
      created = true;
    }
    if (!record)
      throw new PgferryError(ErrorCode.ClusterFailed, `the cluster record in ${dataDir} is missing`);
    await access(dataDir);
    hb.update({ detail: 'starting the server' });
    await ensureRunning(deps, dataDir, binDir);
    const target = {
      host: '127.0.0.1',
      port: record.port,
      user: 'postgres',
      database: input.database,
      sslmode: undefined,
      passwordEnv: undefined,
    };
    const db = await provisionDatabase(deps, { target, marker: input.marker });
    return { ...db, provider: 'local-cluster', created: created || db.created, dataDir };
  });
}

/** Stops a local cluster (fast shutdown) and, when asked, removes its data directory. */
export async function stopLocalCluster(
  deps: Pick<ActivityDeps, 'clusterBinDirs' | 'clusterUser'>,
  dataDir: string,
  options: { remove?: boolean } = {},
): Promise<void> {
  const record = await readRecord(dataDir);
  const binDir = record ? deps.clusterBinDirs[record.pgVersion] : undefined;
  if (binDir) {
    await runTool(findTool('pg_ctl', binDir), ['-D', dataDir, '-m', 'fast', '-w', 'stop'], {
      asUser: deps.clusterUser,
    });
  }
  if (options.remove) await rm(dataDir, { recursive: true, force: true });
}
