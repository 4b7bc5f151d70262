import type { Command } from 'commander';
import { ErrorCode, PgferryError } from '../../domain/errors';
import type { DdlApproval } from '../../domain/migration';
import { oneLineStatement } from '../format';
import { outputFor, pgferryClient, withJson, withPgferry, type CommonOptions } from './context';
import { intOption, required, strictFlags } from './flags';

interface ApproveFlags extends CommonOptions {
  change?: number;
  as?: string;
  reason?: string;
}

function describe(name: string, a: DdlApproval): string {
  return `${name}: schema change #${a.change} (${a.tag}) approved by ${a.by} (${a.reason}); the target runs it when the replication reaches it\n  ${oneLineStatement(a.statement)}`;
}

/**
 * `pgferry ddl approve NAME --change N --as WHO --reason TEXT`: a person's approval of one schema
 * change that an online migration started with --ddl hold holds (a Temporal Update, kept in its
 * history); `pgferry status NAME` lists the held changes with their numbers.
 */
export function registerDdl(program: Command): void {
  const ddl = program
    .command('ddl')
    .description('schema changes an online migration carries (--ddl hold: approve each one)');
  withJson(
    strictFlags(ddl.command('approve'))
      .description(
        'approve one held schema change of a migration started with --ddl hold (a Temporal Update, kept in its history)',
      )
      .argument('<name>', 'the migration name (or its workflow id)')
      .option(
        '--change <n>',
        'the number of the held change, as pgferry status lists it',
        intOption('change', 1, Number.MAX_SAFE_INTEGER),
      )
      .option('--as <who>', 'who approves (checked against --approvers)')
      .option('--reason <text>', 'why the change may go to the target (required)'),
  ).action(async (name: string, flags: ApproveFlags) => {
    const out = outputFor(flags);
    if (flags.change === undefined) {
      throw new PgferryError(ErrorCode.InvalidInput, 'change: required', {
        field: 'change',
        fix: `add --change N, the number of a held change as pgferry status ${name} lists it`,
      });
    }
    const input = (await pgferryClient()).checkDdlApproval({
      change: flags.change,
      by: required(flags.as, 'as', '--as YOUR-NAME'),
      reason: required(flags.reason, 'reason', '--reason "why"'),
    });
    await withPgferry(async (client) => {
      const approval = await client.approveDdl(name, input);
      out.result({ ok: true, name, approval }, () => describe(name, approval));
    });
  });
}
