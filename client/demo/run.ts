import { mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { stopLocalCluster } from '../../activities/provision/local-cluster';
import { loadConfig, type Config } from '../../worker/config';
import { plainTemporalConnection } from '../../worker/temporal-connection';
import type { CommonOptions } from '../commands/context';
import { startDevStackFor, type DevServerFlags } from '../commands/dev-server-options';
import { onStopSignal } from '../commands/worker';
import type { Output } from '../output';
import { PgferryClient } from '../pgferry-client';
import { backupTour } from './backup-tour';
import { onlineTour } from './online-tour';
import type { Tour } from './tour';

/** The flags of `pgferry demo`. */
export interface DemoFlags extends CommonOptions, DevServerFlags {
  exit?: boolean;
  backup?: boolean;
  yes?: boolean;
  countdown: number;
}

/** Stops (and with `remove`, deletes) every cluster an earlier or this demo made. */
async function stopClusters(config: Config, options: { remove?: boolean } = {}): Promise<void> {
  for (const name of await readdir(config.clustersDir).catch(() => [])) {
    await stopLocalCluster(config, path.join(config.clustersDir, name), options);
  }
}

/**
 * Runs `pgferry demo` (loaded when the command runs: the clusters, the tours and the client are
 * more than the CLI's other commands need).
 */
export async function runDemo(flags: DemoFlags, out: Output): Promise<void> {
  const say = (line: string) => out.note(line);
  // Clusters run as the postgres user, who may not reach a home folder: keep them under the temp dir.
  const clustersDir = path.join(tmpdir(), 'pgferry-demo', 'clusters');
  await mkdir(clustersDir, { recursive: true, mode: 0o755 });
  const config: Config = { ...loadConfig(), clustersDir, logLevel: 'warn' };
  // A fresh tour every time: what an earlier demo left is removed.
  await stopClusters(config, { remove: true });

  say(
    `starting Temporal (port ${flags.port}, UI ${flags.uiPort}, history in ${flags.dbFilename}) and a worker…`,
  );
  const stack = await startDevStackFor(flags, { worker: true, config, say });
  const { server } = stack;
  let client: PgferryClient | undefined;
  const stopAll = async () => {
    await client?.close();
    await stack.stop();
    await stopClusters(config);
  };
  try {
    // The demo's own dev server: plaintext, whatever profile the environment names.
    client = await PgferryClient.connect({
      temporal: plainTemporalConnection(server.address, config.temporal.namespace),
    });
    const tour: Tour = {
      client,
      config,
      out,
      address: server.address,
      uiUrl: server.uiUrl ?? `http://127.0.0.1:${flags.uiPort}`,
      port: flags.port,
      exit: Boolean(flags.exit),
    };
    const ok = flags.backup
      ? await backupTour(tour)
      : await onlineTour(tour, { yes: Boolean(flags.yes), countdownSeconds: flags.countdown });
    if (!ok) process.exitCode = 1;
  } catch (err) {
    await stopAll();
    throw err;
  }
  if (flags.exit) await stopAll();
  else await onStopSignal(stopAll);
}
