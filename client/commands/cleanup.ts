import type { Command } from 'commander';
import type { CleanupResult } from '../../domain/contracts';
import { describeError } from '../../domain/errors';
import { outputFor, withJson, withPgferry, type CommonOptions } from './context';

/** The cleanup's table: object, where, name, found, removed, and a note. */
export function renderCleanup(name: string, r: CleanupResult): string {
  const rows = r.objects.map((o) => [
    o.object,
    o.where,
    o.name,
    o.found ? 'yes' : 'no',
    r.dryRun ? '-' : o.removed ? 'yes' : 'no',
    o.note ?? '',
  ]);
  const header = ['object', 'where', 'name', 'found', 'removed', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const found = r.objects.filter((o) => o.found).length;
  const head = r.dryRun
    ? `${name}: ${found} object(s) left (dry run: nothing changed)`
    : `${name}: ${r.objects.filter((o) => o.removed).length} of ${found} object(s) found removed`;
  return [
    head,
    ...(r.retired ? ['  past the point of no return: the source stays retired (frozen)'] : []),
    '',
    line(header),
    ...rows.map(line),
    ...r.errors.map((e) => `error [${e.code}] ${e.where}: ${describeError(e)}`),
  ].join('\n');
}

/** `pgferry cleanup NAME [--dry-run] [--terminate]`. */
export function registerCleanup(program: Command): void {
  withJson(
    program
      .command('cleanup')
      .description(
        'find and remove what a migration that has ended left: slot, publication, subscription, freeze, column storage, ledger',
      )
      .argument('<name>', 'the migration name (or its id, migration-NAME)')
      .option('--dry-run', 'list what is left, change nothing')
      .option(
        '--terminate',
        'terminate the migration first when its rollback keeps failing (stage rollback)',
      ),
  ).action(async (name: string, flags: CommonOptions & { dryRun?: boolean; terminate?: boolean }) => {
    const out = outputFor(flags);
    await withPgferry(async (client) => {
      const options = { dryRun: Boolean(flags.dryRun), terminate: Boolean(flags.terminate) };
      const result = await client.cleanup(name, options);
      out.result(result, () => renderCleanup(name.replace(/^migration-/, ''), result));
      // A side that could not be looked at: the operation did not finish (run it again once mended).
      if (!result.ok) process.exitCode = 1;
    });
  });
}
