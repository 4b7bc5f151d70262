import type { Command } from 'commander';
import type { DemoFlags } from '../demo/run';
import { outputFor, withJson } from './context';
import { withDevServerOptions } from './dev-server-options';
import { intOption } from './flags';

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
    const { runDemo } = await import('../demo/run.js');
    await runDemo(flags, outputFor(flags));
  });
}
