import { execFileSync } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { stopLocalCluster } from '../../activities/provision/local-cluster';
import { loadConfig, type Config } from '../../worker/config';
import { plainTemporalConnection } from '../../worker/temporal-connection';
import { formatBytes, formatCount } from '../format';
import { PgferryClient } from '../pgferry-client';
import { outputFor, withJson, type CommonOptions } from './context';
import { startDevStackFor, withDevServerOptions, type DevServerFlags } from './dev-server-options';
import { onStopSignal } from './worker';
import { watch } from '../watch';

interface DemoFlags extends CommonOptions, DevServerFlags {
  exit?: boolean;
}

/** The sample database: many schemas, quoted and non-ASCII names, partitions, large objects, RLS… */
const SAMPLE = path.resolve(
  __dirname,
  '..',
  '..',
  ...(__dirname.includes(`${path.sep}dist${path.sep}`) ? ['..'] : []),
  'test',
  'fixtures',
  'complex.sql',
);

function psql(url: string, args: string[]): void {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...args, url], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

/** `pgferry demo`: the whole tour on the embedded default, from a throw-away source to a verified restore. */
export function registerDemo(program: Command): void {
  withJson(
    withDevServerOptions(
      program
        .command('demo')
        .description(
          'run the tour: a dev server and worker, a sample source cluster, backup, restore into a fresh cluster, the report',
        ),
      'SQLite file of the dev server',
    ).option('--exit', 'stop everything at the end instead of leaving the UI up'),
  ).action(async (flags: DemoFlags) => {
    const out = outputFor(flags);
    const say = (line: string) => out.note(line);
    // Clusters run as the postgres user, who may not reach a home folder: keep them under the temp dir.
    const clustersDir = path.join(tmpdir(), 'pgferry-demo', 'clusters');
    await mkdir(clustersDir, { recursive: true, mode: 0o755 });
    const config: Config = { ...loadConfig(), clustersDir, logLevel: 'warn' };

    // A fresh tour every time: what an earlier demo left is removed.
    for (const name of await readdir(clustersDir).catch(() => [])) {
      await stopLocalCluster(config, path.join(clustersDir, name), { remove: true });
    }

    say(
      `starting Temporal (port ${flags.port}, UI ${flags.uiPort}, history in ${flags.dbFilename}) and a worker…`,
    );
    const stack = await startDevStackFor(flags, {
      worker: true,
      config,
      say,
    });
    const { server } = stack;
    let client: PgferryClient | undefined;
    const stopAll = async () => {
      await client?.close();
      await stack.stop();
      for (const name of await readdir(clustersDir).catch(() => [])) {
        await stopLocalCluster(config, path.join(clustersDir, name));
      }
    };
    try {
      // The demo's own dev server: plaintext, whatever profile the environment names.
      client = await PgferryClient.connect({
        temporal: plainTemporalConnection(server.address, config.temporal.namespace),
      });

      say('1/4 provisioning a throw-away source cluster with the sample database…');
      const source = await (
        await client.provision({ provider: 'local-cluster', cluster: 'demo-source', database: 'shop' })
      ).result();
      psql(source.target, ['-f', SAMPLE]);

      say('2/4 backing it up (pg_dump directory format, 2 jobs, manifest with sha256 and row counts)…');
      const backupRun = await client.backup({
        source: source.target,
        to: path.resolve(config.stateDir, 'backups'),
        jobs: 2,
      });
      await watch(client, backupRun.workflowId, out);
      const backup = await backupRun.result();

      say('3/4 provisioning a fresh target cluster with an empty database…');
      const target = await (
        await client.provision({ provider: 'local-cluster', cluster: 'demo-target', database: 'shop' })
      ).result();
      const targetUrl = target.target;

      say('4/4 restoring into it: checksums, provision, pg_restore, row counts…');
      const restoreRun = await client.restore({ from: backup.backup, target: targetUrl, jobs: 2 });
      await watch(client, restoreRun.workflowId, out);
      const restored = await restoreRun.result();

      const ui = `${server.uiUrl ?? ''}/namespaces/default/workflows`;
      const report = {
        ok: restored.report.ok,
        source: source.target,
        backup,
        target: targetUrl,
        report: restored.report,
        ui,
      };
      out.result(report, () =>
        [
          '',
          `source   ${source.target}`,
          `backup   ${backup.backup}  (${formatBytes(backup.bytes)}, ${backup.files} files)`,
          `target   ${targetUrl}`,
          '',
          ...restored.report.tables.map(
            (t) =>
              `  ${t.ok ? '✓' : '✗'} ${`${t.schema}.${t.table}`.padEnd(40)} ${formatCount(t.actual)} / ${formatCount(t.expected)} rows`,
          ),
          `  ${restored.report.largeObjectsRestored} / ${restored.report.largeObjectsExpected} large objects`,
          '',
          restored.report.ok
            ? 'restore verified: every table matches the backup manifest.'
            : 'MISMATCH: see the table above.',
          `Temporal UI: ${ui}/${restoreRun.workflowId}`,
          flags.exit ? '' : 'Ctrl-C stops the server, the worker and the demo clusters.',
        ].join('\n'),
      );
      if (!restored.report.ok) process.exitCode = 1;
    } catch (err) {
      await stopAll();
      throw err;
    }
    if (flags.exit) await stopAll();
    else await onStopSignal(stopAll);
  });
}
