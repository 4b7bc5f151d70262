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

/** `pgferry preflight --source URL --target URL [--mode]`. */
export function registerPreflight(program: Command): void {
  withJson(
    strictFlags(program.command('preflight'))
      .description('run the migration checks on both servers and report; nothing is changed')
      .option('--source <url>', 'the database to move')
      .option('--target <url>', 'where it would go')
      .option(
        '--mode <mode>',
        'offline or online',
        choice('mode', ['offline', 'online'] as const),
        'offline',
      ),
  ).action(
    async (flags: CommonOptions & { source?: string; target?: string; mode: 'offline' | 'online' }) => {
      const out = outputFor(flags);
      // Checked before connecting: bad input is named even when Temporal is not there.
      const { checkPreflightOptions } = await pgferryClient();
      const input = checkPreflightOptions({
        source: requiredUrl(flags.source, 'source'),
        target: requiredUrl(flags.target, 'target'),
        mode: flags.mode,
      });
      await withPgferry(async (client) => {
        const report = await client.preflight(input);
        out.result(report, () => render(report));
        // A report with errors is the answer, but the operation it guards would fail: exit 1.
        if (!report.ok) process.exitCode = 1;
      });
    },
  );
}
