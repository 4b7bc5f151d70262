import { Command, CommanderError } from 'commander';
import { ErrorCode, exitCodeFor, PgferryError } from '../domain/errors';
import { registerApproval } from './commands/approve';
import { registerBackup } from './commands/backup';
import { registerCancel } from './commands/cancel';
import { registerChatops } from './commands/chatops';
import { registerCleanup } from './commands/cleanup';
import { registerCodec } from './commands/codec';
import { registerDdl } from './commands/ddl';
import { registerDemo } from './commands/demo';
import { registerDev } from './commands/dev';
import { registerFallback } from './commands/fallback';
import { registerFleet } from './commands/fleet';
import { registerHistory } from './commands/history';
import { registerList } from './commands/list';
import { registerMigrate } from './commands/migrate';
import { registerPreflight } from './commands/preflight';
import { registerProvision } from './commands/provision';
import { registerReport } from './commands/report';
import { registerRestore } from './commands/restore';
import { registerSchedule } from './commands/schedule';
import { registerSetupTemporal } from './commands/setup-temporal';
import { registerStatus } from './commands/status';
import { registerWorker } from './commands/worker';
import { Output } from './output';
import { packageVersion } from './version';

/**
 * Builds the `pgferry` command line. Every command registers its options here (so `--help` is
 * complete) but loads what its action needs when it runs: the Temporal client, the input schemas
 * and pg are not the start of `--version`, `--help` or a refused flag (test/cli-start.test.ts).
 */
export function buildProgram(): Command {
  const program = new Command('pgferry')
    .description('Durable PostgreSQL migrations, backups and restores on Temporal')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .option(
      '--profile <name>',
      'the profile of temporal.toml to reach Temporal with (TEMPORAL_CONFIG_FILE, ~/.config/temporalio/temporal.toml), as TEMPORAL_PROFILE',
    )
    .exitOverride();
  // Before any command runs: the flag is TEMPORAL_PROFILE for this process and what it starts,
  // so the CLI, its library calls, `pgferry worker` and `chatops serve` read the same profile.
  program.hook('preAction', (root) => {
    const { profile } = root.opts<{ profile?: string }>();
    if (profile === undefined) return;
    if (profile.trim() === '') {
      throw new PgferryError(ErrorCode.InvalidInput, 'profile: empty', {
        field: 'profile',
        fix: 'give --profile the name of a [profile.NAME] table of temporal.toml',
      });
    }
    process.env.TEMPORAL_PROFILE = profile;
  });
  registerDev(program);
  registerDemo(program);
  registerWorker(program);
  registerSetupTemporal(program);
  registerProvision(program);
  registerBackup(program);
  registerRestore(program);
  registerSchedule(program);
  registerPreflight(program);
  registerMigrate(program);
  registerFleet(program);
  registerApproval(program);
  registerDdl(program);
  registerFallback(program);
  registerStatus(program);
  registerHistory(program);
  registerReport(program);
  registerList(program);
  registerCancel(program);
  registerCleanup(program);
  registerCodec(program);
  registerChatops(program);
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  return program;
}

/** Runs the CLI; resolves to the exit code: 0 success, 1 the operation failed, 2 bad input. */
export async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const out = new Output(json);
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return 0;
      // commander has already printed its message on stderr; --json callers get it on stdout too.
      if (json) out.error({ code: ErrorCode.InvalidInput, message: err.message.replace(/^error: /, '') });
      return 2;
    }
    // The Temporal client's errors are told apart with its classes: loaded only when one is thrown.
    const e = err instanceof PgferryError ? err : (await import('./errors.js')).toPgferryError(err);
    out.error({ code: e.code, message: e.message, field: e.field, fix: e.fix });
    return exitCodeFor(e.code);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
