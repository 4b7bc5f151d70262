import { mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { stopLocalCluster } from '../../activities/provision/local-cluster';
import { loadConfig, type Config } from '../../worker/config';
import { plainTemporalConnection } from '../../worker/temporal-connection';
import { backupTour } from '../demo/backup-tour';
import { onlineTour } from '../demo/online-tour';
import type { Tour } from '../demo/tour';
import { PgferryClient } from '../pgferry-client';
import { outputFor, withJson, type CommonOptions } from './context';
import { startDevStackFor, withDevServerOptions, type DevServerFlags } from './dev-server-options';
import { intOption } from './flags';
import { onStopSignal } from './worker';

interface DemoFlags extends CommonOptions, DevServerFlags {
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
 * `pgferry demo`: the headline on the embedded default — an online migration under a write load
 * that stops at a person's approval and cuts over — or, with --backup, backup and restore.
 */
export function registerDemo(program: Command): void {
  withJson(
    withDevServerOptions(
      program
        .command('demo')
        .description(
          'run the tour: a dev server and worker, two throw-away clusters, an online migration under a write load that waits for your approval, the cutover, the report (--backup: backup and restore instead)',
        ),
      'SQLite file of the dev server',
    )
      .option('--yes', 'approve by itself after a countdown instead of waiting for a person')
      .option('--countdown <seconds>', 'the countdown of --yes', intOption('countdown', 0, 600), 5)
      .option('--backup', 'the backup tour instead: backup, restore into a fresh cluster, the check')
      .option('--exit', 'stop everything at the end instead of leaving the UI up'),
  ).action(async (flags: DemoFlags) => {
    const out = outputFor(flags);
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
  });
}
