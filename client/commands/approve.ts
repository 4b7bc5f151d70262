import type { Command } from 'commander';
import type { Decision } from '../../domain/migration';
import { outputFor, required, withJson, withPgferry, type CommonOptions } from './context';

interface DecideFlags extends CommonOptions {
  as?: string;
  reason?: string;
}

function describe(name: string, d: Decision): string {
  return `${name}: ${d.outcome} by ${d.by}${d.reason ? ` (${d.reason})` : ''}`;
}

/** `pgferry approve NAME --as WHO [--reason TEXT]` and `pgferry reject NAME --as WHO --reason TEXT`. */
export function registerApproval(program: Command): void {
  withJson(
    program
      .command('approve')
      .description(
        'approve a migration waiting at its approval gate (a Temporal Update, kept in its history)',
      )
      .argument('<name>', 'the migration name (or its workflow id)')
      .option('--as <who>', 'who approves (checked against --approvers)')
      .option('--reason <text>', 'why'),
  ).action(async (name: string, flags: DecideFlags) => {
    const out = outputFor(flags);
    const by = required(flags.as, 'as', '--as YOUR-NAME');
    await withPgferry(async (client) => {
      const decision = await client.approve(name, { by, ...(flags.reason ? { reason: flags.reason } : {}) });
      out.result({ ok: true, name, decision }, () => describe(name, decision));
    });
  });
  withJson(
    program
      .command('reject')
      .description('reject a migration waiting at its approval gate; it rolls back')
      .argument('<name>', 'the migration name (or its workflow id)')
      .option('--as <who>', 'who rejects')
      .option('--reason <text>', 'why (required)'),
  ).action(async (name: string, flags: DecideFlags) => {
    const out = outputFor(flags);
    const by = required(flags.as, 'as', '--as YOUR-NAME');
    const reason = required(flags.reason, 'reason', '--reason "why"');
    await withPgferry(async (client) => {
      const decision = await client.reject(name, { by, reason });
      out.result({ ok: true, name, decision }, () => describe(name, decision));
    });
  });
}
