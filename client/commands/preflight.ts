import type { Command } from 'commander';
import type { PreflightReport } from '../../domain/migration';
import { outputFor, pgferryClient, withJson, withPgferry, type CommonOptions } from './context';
import { choice, requiredUrl, strictFlags } from './flags';

function render(report: PreflightReport): string {
  const lines = report.checks.map((c) => {
    const mark = c.ok ? 'ok  ' : c.severity === 'error' ? 'FAIL' : 'warn';
    const items = c.items?.length ? `: ${c.items.join(', ')}` : '';
    const fix = !c.ok && c.fix ? `\n        fix: ${c.fix}` : '';
    return `  ${mark}  ${c.id.padEnd(28)} ${c.message}${items}${fix}`;
  });
  return [`preflight (${report.mode}): ${report.ok ? 'ready to migrate' : 'blocked'}`, ...lines].join('\n');
}

/** `pgferry preflight --source URL --target URL [--mode] [--roles] [--no-freeze]`. */
export function registerPreflight(program: Command): void {
  withJson(
    strictFlags(program.command('preflight'))
      .description('run the migration checks on both servers and report; nothing is changed')
      .option('--source <url>', 'the database to move')
      .option('--target <url>', 'where it would go')
      .option('--mode <mode>', 'offline or online', choice('mode', ['offline', 'online'] as const), 'offline')
      .option(
        '--roles <policy>',
        'as the migration would run: skip (a role the target lacks is an error) or copy (the migration copies the roles first)',
        choice('roles', ['copy', 'skip'] as const),
        'skip',
      )
      .option(
        '--no-freeze',
        'offline, as the migration would run with --no-freeze: the source is not frozen',
      ),
  ).action(async (flags: PreflightFlags) => {
    const out = outputFor(flags);
    // Checked before connecting: bad input is named even when Temporal is not there.
    const { checkPreflightOptions } = await pgferryClient();
    const input = checkPreflightOptions({
      source: requiredUrl(flags.source, 'source'),
      target: requiredUrl(flags.target, 'target'),
      mode: flags.mode,
      roles: flags.roles,
      freezeSource: flags.freeze,
    });
    await withPgferry(async (client) => {
      const report = await client.preflight(input);
      out.result(report, () => render(report));
      // A report with errors is the answer, but the operation it guards would fail: exit 1.
      if (!report.ok) process.exitCode = 1;
    });
  });
}

interface PreflightFlags extends CommonOptions {
  source?: string;
  target?: string;
  mode: 'offline' | 'online';
  roles: 'copy' | 'skip';
  /** false with --no-freeze. */
  freeze: boolean;
}
