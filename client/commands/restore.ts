import type { Command } from 'commander';
import { DEFAULTS } from '../../domain/constants';
import type { RestoreResult } from '../../domain/contracts';
import { formatCount } from '../format';
import { follow } from './follow';
import { outputFor, pgferryClient, withJson, withPgferry, type CommonOptions } from './context';
import { intOption, required, requiredUrl, strictFlags } from './flags';

interface RestoreFlags extends CommonOptions {
  from?: string;
  target?: string;
  jobs: number;
  wait?: boolean;
}

/** `pgferry restore`. */
export function registerRestore(program: Command): void {
  withJson(
    strictFlags(program.command('restore'))
      .description(
        'restore a backup: verify its checksums, provision the target, pg_restore, check row counts',
      )
      .option(
        '--from <backup>',
        'the backup, as `pgferry backup` printed it: a directory on the worker or azblob://CONTAINER/PREFIX/NAME',
      )
      .option('--target <url>', 'the database to restore into (created when absent; must be empty)')
      .option('--jobs <n>', 'parallel pg_restore jobs', intOption('jobs', 1, 64), DEFAULTS.jobs)
      .option('--wait', 'wait for the end and print the report'),
  ).action(async (flags: RestoreFlags) => {
    const out = outputFor(flags);
    // Not commander's requiredOption: its refusal names no field and no fix.
    const { checkRestoreOptions } = await pgferryClient();
    const options = checkRestoreOptions({
      from: required(flags.from, 'from', '--from BACKUP (as `pgferry backup` printed it)'),
      target: requiredUrl(flags.target, 'target'),
      jobs: flags.jobs,
    });
    await withPgferry(async (client) => {
      const run = await client.restore(options);
      await follow<RestoreResult>(client, out, run, Boolean(flags.wait), (r) =>
        [
          `restore complete: ${r.target}`,
          `  ${r.report.tables.length} tables, ${formatCount(r.report.rowsRestored)} of ${formatCount(r.report.rowsExpected)} rows, ${r.report.largeObjectsRestored} large objects: ${r.report.ok ? 'all match the manifest' : 'MISMATCH'}`,
        ].join('\n'),
      );
    });
  });
}
