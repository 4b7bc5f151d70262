import type { Command } from 'commander';
import { DEFAULTS } from '../../domain/constants';
import type { BackupResult } from '../../domain/contracts';
import { formatBytes, formatCount } from '../format';
import { follow } from './follow';
import { outputFor, pgferryClient, withJson, withPgferry, type CommonOptions } from './context';
import { intOption, required, requiredUrl, strictFlags } from './flags';

interface BackupFlags extends CommonOptions {
  source?: string;
  to?: string;
  jobs: number;
  name?: string;
  wait?: boolean;
}

/** `pgferry backup` and `pgferry backup list`. */
export function registerBackup(program: Command): void {
  const backup = withJson(
    strictFlags(program.command('backup'))
      .description(
        'back a database up (pg_dump directory format, parallel) with a manifest of sizes, sha256 and row counts',
      )
      .option('--source <url>', 'the database: postgres://USER@HOST:PORT/DB (no password in the URL)')
      .option(
        '--to <location>',
        "where backups go: a directory on the worker, or azblob://CONTAINER/PREFIX (Azure Blob Storage; credentials from the worker's AZURE_STORAGE_* variables)",
      )
      .option('--jobs <n>', 'parallel pg_dump jobs', intOption('jobs', 1, 64), DEFAULTS.jobs)
      .option('--name <name>', 'the backup name (default: DB-TIMESTAMP)')
      .option('--wait', 'wait for the end and print the result'),
  ).action(async (flags: BackupFlags) => {
    const out = outputFor(flags);
    // Not commander's requiredOption: that would also demand them of `backup list`.
    const { checkBackupOptions } = await pgferryClient();
    const options = checkBackupOptions({
      source: requiredUrl(flags.source, 'source'),
      to: required(flags.to, 'to', '--to DIR or --to azblob://CONTAINER/PREFIX'),
      jobs: flags.jobs,
      ...(flags.name ? { name: flags.name } : {}),
    });
    await withPgferry(async (client) => {
      const run = await client.backup(options);
      await follow<BackupResult>(client, out, run, Boolean(flags.wait), (r) =>
        [
          `backup complete: ${r.backup}`,
          `  ${r.tables} tables, ${formatCount(r.rows)} rows, ${r.largeObjects} large objects, ${formatBytes(r.bytes)} in ${r.files} files`,
          `  restore it with: pgferry restore --from ${r.backup} --target postgres://USER@HOST:PORT/DB`,
        ].join('\n'),
      );
    });
  });

  withJson(
    backup
      .command('list')
      .description('list the backups in a storage location (the catalog)')
      .requiredOption(
        '--dir <location>',
        "the storage location: a directory, or azblob://CONTAINER/PREFIX (read with this process's AZURE_STORAGE_* variables)",
      ),
  ).action(async (flags: CommonOptions & { dir: string }) => {
    // `--json` after `list` may land on `backup`, which has the option too.
    const out = outputFor({ json: flags.json ?? backup.opts<CommonOptions>().json === true });
    const backups = await (await pgferryClient()).listBackups(flags.dir);
    out.result({ ok: true, backups }, () =>
      backups.length === 0
        ? `no backups in ${flags.dir}`
        : backups
            .map(
              (b) =>
                `${b.finishedAt}  ${b.name}  ${formatBytes(b.bytes)}  ${formatCount(b.rows)} rows  ${b.backup}`,
            )
            .join('\n'),
    );
  });
}
