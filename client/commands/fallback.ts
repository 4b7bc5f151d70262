import type { Command } from 'commander';
import type { FallbackReport, FallbackWindowReport } from '../../domain/migration';
import { formatDuration } from '../format';
import { outputFor, pgferryClient, withJson, withPgferry, type CommonOptions } from './context';
import { required, strictFlags } from './flags';

interface WindowFlags extends CommonOptions {
  as?: string;
  reason?: string;
}

function describeFallback(name: string, f: FallbackReport): string {
  const downtime = f.downtimeMs === undefined ? '' : `, downtime ${formatDuration(f.downtimeMs)}`;
  return `${name}: fell back to the source by ${f.by} (${f.reason}) at ${f.at}${downtime}; the source is the primary again with every write up to ${f.lsn} and ${f.sequences} sequences set; the target stays frozen`;
}

function describeRelease(name: string, w: FallbackWindowReport): string {
  return `${name}: fallback window ${w.state.replace('_', ' ')}${w.endedAt ? ` at ${w.endedAt}` : ''}; the reverse replication is dropped and the target stays the primary`;
}

/**
 * `pgferry fallback NAME --as WHO --reason TEXT` and `pgferry release NAME`: the two ends of an
 * online migration's fallback window (--fallback-window), each a Temporal Update kept in its history.
 */
export function registerFallback(program: Command): void {
  withJson(
    strictFlags(program.command('fallback'))
      .description(
        "move an online migration's application back to its source in the fallback window, losing no write (a Temporal Update with the approver rules, kept in its history)",
      )
      .argument('<name>', 'the migration name (or its workflow id)')
      .option('--as <who>', 'who decides (checked against --approvers)')
      .option('--reason <text>', 'why (required; kept in the history)'),
  ).action(async (name: string, flags: WindowFlags) => {
    const out = outputFor(flags);
    const input = (await pgferryClient()).checkFallback({
      by: required(flags.as, 'as', '--as YOUR-NAME'),
      reason: required(flags.reason, 'reason', '--reason "why"'),
    });
    await withPgferry(async (client) => {
      const fallback = await client.fallback(name, input);
      out.result({ ok: true, name, fallback }, () => describeFallback(name, fallback));
    });
  });
  withJson(
    strictFlags(program.command('release'))
      .description(
        "end an online migration's fallback window now: the reverse replication is dropped and the migration ends",
      )
      .argument('<name>', 'the migration name (or its workflow id)')
      .option('--as <who>', 'who ends it (kept in the history)')
      .option('--reason <text>', 'why'),
  ).action(async (name: string, flags: WindowFlags) => {
    const out = outputFor(flags);
    await withPgferry(async (client) => {
      const window = await client.release(name, {
        ...(flags.as ? { by: flags.as } : {}),
        ...(flags.reason ? { reason: flags.reason } : {}),
      });
      out.result({ ok: true, name, window }, () => describeRelease(name, window));
    });
  });
}
