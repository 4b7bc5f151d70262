import type { Command } from 'commander';
import type { Decision } from '../../domain/migration';
import type { checkDecision, PgferryClient } from '../pgferry-client';
import { outputFor, pgferryClient, withJson, withPgferry, type CommonOptions } from './context';
import { required, strictFlags } from './flags';

interface DecideFlags extends CommonOptions {
  as?: string;
  reason?: string;
}

function describe(name: string, d: Decision): string {
  return `${name}: ${d.outcome} by ${d.by}${d.reason ? ` (${d.reason})` : ''}`;
}

/** One decision command: its name and help, how it reads its flags, and how it decides. */
interface DecisionCommand<I> {
  name: 'approve' | 'reject';
  description: string;
  asHelp: string;
  reasonHelp: string;
  /** Reads the decision from the flags before connecting: a missing flag is bad input (exit 2). */
  read: (flags: DecideFlags, check: typeof checkDecision) => I;
  decide: (client: PgferryClient, name: string, input: I) => Promise<Decision>;
}

function registerDecision<I>(program: Command, command: DecisionCommand<I>): void {
  withJson(
    strictFlags(program.command(command.name))
      .description(command.description)
      .argument('<name>', 'the migration name (or its workflow id)')
      .option('--as <who>', command.asHelp)
      .option('--reason <text>', command.reasonHelp),
  ).action(async (name: string, flags: DecideFlags) => {
    const out = outputFor(flags);
    const input = command.read(flags, (await pgferryClient()).checkDecision);
    await withPgferry(async (client) => {
      const decision = await command.decide(client, name, input);
      out.result({ ok: true, name, decision }, () => describe(name, decision));
    });
  });
}

/** `pgferry approve NAME --as WHO [--reason TEXT]` and `pgferry reject NAME --as WHO --reason TEXT`. */
export function registerApproval(program: Command): void {
  registerDecision(program, {
    name: 'approve',
    description: 'approve a migration waiting at its approval gate (a Temporal Update, kept in its history)',
    asHelp: 'who approves (checked against --approvers)',
    reasonHelp: 'why',
    read: (flags, check) =>
      check('approve', {
        by: required(flags.as, 'as', '--as YOUR-NAME'),
        ...(flags.reason ? { reason: flags.reason } : {}),
      }),
    decide: (client, name, input) => client.approve(name, input),
  });
  registerDecision(program, {
    name: 'reject',
    description: 'reject a migration waiting at its approval gate; it rolls back',
    asHelp: 'who rejects',
    reasonHelp: 'why (required)',
    read: (flags, check) =>
      check('reject', {
        by: required(flags.as, 'as', '--as YOUR-NAME'),
        reason: required(flags.reason, 'reason', '--reason "why"'),
      }),
    decide: (client, name, input) => client.reject(name, input),
  });
}
