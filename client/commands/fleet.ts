import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { DEFAULTS } from '../../domain/constants';
import { ErrorCode, PgferryError } from '../../domain/errors';
import type { FleetOptions, FleetResult } from '../../domain/fleet';
import { describeRoles } from '../../domain/roles-text';
import type { FleetStatus } from '../fleet';
import { formatCount } from '../format';
import { outputFor, withJson, withPgferry, type CommonOptions } from './context';
import { choice, intOption, required, strictFlags } from './flags';

interface FleetFlags extends CommonOptions {
  name?: string;
  sourceServer?: string;
  targetServer?: string;
  databases?: string;
  all?: boolean;
  plan?: string;
  mode: 'offline' | 'online';
  waveSize: number;
  concurrency: number;
  failureBudget: number;
  approve: 'waves' | 'each' | 'auto';
  approvers?: string;
  jobs: number;
  validate: 'none' | 'counts' | 'checksums';
  roles: 'copy' | 'skip' | 'only';
  rolePasswords?: boolean;
  wait?: boolean;
}

/** A comma-separated list flag; given, it must name something. */
function names(value: string | undefined, field: string, example: string): string[] | undefined {
  if (value === undefined) return undefined;
  const list = value
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  if (list.length === 0)
    throw new PgferryError(ErrorCode.InvalidInput, `${field}: "${value}" names nothing`, {
      field,
      fix: `give --${field} comma-separated names (--${field} ${example})`,
    });
  return list;
}

/** The fleet's options from the flags (the plan file read), before anything connects. */
async function optionsOf(flags: FleetFlags): Promise<FleetOptions> {
  const plan =
    flags.plan === undefined ? undefined : await (await import('../fleet-plan.js')).readFleetPlan(flags.plan);
  const databases = names(flags.databases, 'databases', 'shop,crm');
  const approvers = names(flags.approvers, 'approvers', 'alice,bob');
  return {
    name: required(flags.name, 'name', '--name NAME'),
    ...(flags.sourceServer ? { sourceServer: flags.sourceServer } : {}),
    ...(flags.targetServer ? { targetServer: flags.targetServer } : {}),
    ...(databases ? { databases } : {}),
    all: Boolean(flags.all),
    ...(plan ? { plan } : {}),
    mode: flags.mode,
    waveSize: flags.waveSize,
    concurrency: flags.concurrency,
    failureBudget: flags.failureBudget,
    approve: flags.approve,
    ...(approvers ? { approvers } : {}),
    jobs: flags.jobs,
    validate: flags.validate,
    roles: flags.roles,
    rolePasswords: Boolean(flags.rolePasswords),
    startedBy: userInfo().username,
  };
}

function renderResult(r: FleetResult): string {
  const lines = [
    `fleet ${r.name} ${r.outcome.replace(/_/g, ' ')}: ${r.members.length} databases in ${r.waves} waves`,
  ];
  for (const m of r.members)
    lines.push(
      `  wave ${m.wave}  ${m.database.padEnd(24)} ${m.record.state.padEnd(11)} ${m.record.rows === undefined ? '' : `${formatCount(m.record.rows)} rows`}${m.record.error ? `  [${m.record.error.code}] ${m.record.error.message}` : ''}`,
    );
  for (const roles of r.roles ?? []) lines.push(...describeRoles(roles).map((line) => `  ${line}`));
  return lines.join('\n');
}

/** `pgferry fleet status NAME` as a table: member, wave, stage, state, rows, lag, downtime. */
export function renderFleetStatus(s: FleetStatus): string {
  const head = [
    `${s.id}  ${s.state}${s.outcome ? ` (${s.outcome.replace(/_/g, ' ')})` : ''}  stage ${s.stage}${s.wave ? `, wave ${s.wave} of ${s.waves ?? '?'}` : ''}${s.mode ? `, ${s.mode}` : ''}${s.approve ? `, approve ${s.approve}` : ''}`,
  ];
  if (s.awaiting?.kind === 'approval')
    head.push(`  waiting: pgferry fleet approve ${s.name} --wave ${s.awaiting.wave} --as NAME`);
  if (s.awaiting?.kind === 'decision')
    head.push(
      `  HALTED: wave ${s.awaiting.wave} has ${s.awaiting.failed?.length ?? 0} failed (${(s.awaiting.failed ?? []).join(', ')}): pgferry fleet retry ${s.name} --member DB, skip or abort`,
    );
  if (s.error) head.push(`  error [${s.error.code}] ${s.error.message}`);
  for (const roles of s.roles ?? []) head.push(...describeRoles(roles).map((line) => `  ${line}`));
  const rows = s.members.map((m) => [
    m.database,
    String(m.wave),
    m.stage,
    m.member === 'at_gate' ? 'at gate' : m.member,
    m.rows === undefined ? '' : formatCount(m.rows),
    m.lagBytes === undefined
      ? ''
      : `${m.lagBytes} B${typeof m.lagSeconds === 'number' ? ` / ${m.lagSeconds.toFixed(1)}s` : ''}`,
    m.downtimeMs === undefined ? '' : `${m.downtimeMs} ms`,
  ]);
  return [...head, table(['member', 'wave', 'stage', 'state', 'rows', 'lag', 'downtime'], rows)].join('\n');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `pgferry fleet …`: start a fleet, and its status, wave decisions, retry, skip and abort. */
export function registerFleet(program: Command): void {
  const fleet = withJson(
    strictFlags(program.command('fleet'))
      .description(
        'migrate many databases as child migrations, in waves (see `pgferry fleet status|approve|reject|retry|skip|abort`)',
      )
      .option(
        '--name <name>',
        'the fleet name; its workflow id is fleet-NAME, each member migration is NAME-DATABASE',
      )
      .option('--source-server <url>', 'the server the databases are on: postgres://USER@HOST:PORT[/DB]')
      .option('--target-server <url>', 'the server they go to (each into the database of the same name)')
      .option('--databases <names>', 'comma-separated databases to move')
      .option('--all', "every database of the source server but templates and 'postgres'")
      .option(
        '--plan <file>',
        'YAML or JSON: one entry per database with its own source and target URL and options',
      )
      .option('--mode <mode>', 'offline or online', choice('mode', ['offline', 'online'] as const), 'offline')
      .option('--wave-size <n>', 'databases per wave', intOption('wave-size', 1, 1000), 10)
      .option(
        '--concurrency <n>',
        'at most this many members copying at once',
        intOption('concurrency', 1, 64),
        4,
      )
      .option(
        '--failure-budget <n>',
        'a wave with more failed members than this halts the fleet',
        intOption('failure-budget', 0, 1000),
        0,
      )
      .option(
        '--approve <how>',
        'waves (one approval per wave), each (one per database) or auto',
        choice('approve', ['waves', 'each', 'auto'] as const),
        'waves',
      )
      .option('--approvers <names>', 'comma-separated names allowed to approve (default: anyone)')
      .option(
        '--jobs <n>',
        'parallel chunks and schema jobs of each member',
        intOption('jobs', 1, 64),
        DEFAULTS.jobs,
      )
      .option(
        '--validate <level>',
        'none, counts or checksums',
        choice('validate', ['none', 'counts', 'checksums'] as const),
        'checksums',
      )
      .option(
        '--roles <policy>',
        "the source server's roles: copy (created or aligned on the target server once per server pair before the first member, without passwords), skip, or only (copy them and end)",
        choice('roles', ['copy', 'skip', 'only'] as const),
        'copy',
      )
      .option('--role-passwords', "also the roles' passwords (the source user must be a superuser)")
      .option('--wait', 'wait for the end (including the approvals) and print the result'),
  ).action(async (flags: FleetFlags) => {
    const out = outputFor(flags);
    const options = await optionsOf(flags);
    const { checkFleetOptions } = await import('../fleet.js');
    checkFleetOptions(options);
    await withPgferry(async (client) => {
      const run = await client.fleet(options);
      if (!flags.wait) {
        out.result(
          { ok: true, workflowId: run.workflowId },
          () => `fleet started: ${run.workflowId} (pgferry fleet status ${options.name})`,
        );
        return;
      }
      const result = await run.result();
      out.result({ ok: true, workflowId: run.workflowId, result }, () => renderResult(result));
      if (result.outcome !== 'completed') process.exitCode = 1;
    });
  });
  registerFleetCommands(fleet);
}

/** The JSON flag of a subcommand: the parent `fleet` reads --json before it dispatches. */
function jsonOf(command: Command): CommonOptions {
  return { json: Boolean(command.optsWithGlobals<CommonOptions>().json) };
}

function registerFleetCommands(fleet: Command): void {
  withJson(
    fleet
      .command('status')
      .description('where a fleet and each member stand')
      .argument('<name>', 'the fleet name'),
  ).action(async (name: string, _flags: CommonOptions, command: Command) => {
    const out = outputFor(jsonOf(command));
    await withPgferry(async (client) => {
      const status = await client.fleetStatus(name);
      out.result(status, () => renderFleetStatus(status));
    });
  });
  for (const outcome of ['approve', 'reject'] as const) {
    withJson(
      fleet
        .command(outcome)
        .description(
          outcome === 'approve'
            ? "approve a wave: every member's cutover"
            : 'reject a wave: its members roll back, the fleet ends',
        )
        .argument('<name>', 'the fleet name')
        .option('--wave <k>', 'the wave', intOption('wave', 1, 100_000))
        .option('--as <who>', 'who decides')
        .option('--reason <text>', outcome === 'approve' ? 'why' : 'why (required)'),
    ).action(
      async (name: string, flags: { wave?: number; as?: string; reason?: string }, command: Command) => {
        const out = outputFor(jsonOf(command));
        if (flags.wave === undefined) required(undefined, 'wave', '--wave K');
        const decision = {
          wave: flags.wave ?? 0,
          by: required(flags.as, 'as', '--as YOUR-NAME'),
          ...(flags.reason ? { reason: flags.reason } : {}),
        };
        await withPgferry(async (client) => {
          const d =
            outcome === 'approve'
              ? await client.fleetApprove(name, decision)
              : await client.fleetReject(name, decision);
          out.result(
            { ok: true, name, wave: decision.wave, decision: d },
            () => `${name} wave ${decision.wave}: ${d.outcome} by ${d.by}`,
          );
        });
      },
    );
  }
  registerHaltCommands(fleet);
}

function registerHaltCommands(fleet: Command): void {
  const commands = [
    ['retry', 'run a failed member again (a halted wave goes on once it is within its budget)'],
    ['skip', 'leave the failed members of a halted wave behind and go on'],
    ['abort', 'end a halted fleet: nothing more starts'],
  ] as const;
  for (const [action, description] of commands) {
    const command = fleet.command(action).description(description).argument('<name>', 'the fleet name');
    if (action === 'retry') command.option('--member <db>', 'the database to retry');
    withJson(
      command.option('--as <who>', 'who decides (default: your OS user)').option('--reason <text>', 'why'),
    ).action(async (name: string, flags: { member?: string; as?: string; reason?: string }, cmd: Command) => {
      const out = outputFor(jsonOf(cmd));
      const by = flags.as ?? userInfo().username;
      const member = action === 'retry' ? required(flags.member, 'member', '--member DATABASE') : undefined;
      await withPgferry(async (client) => {
        const state =
          member !== undefined
            ? await client.fleetRetry(name, member, by)
            : await client.fleetDecide(name, action === 'skip' ? 'skip' : 'abort', by, flags.reason);
        out.result(
          { ok: true, name, action, ...(member ? { member } : {}), wave: state.wave },
          () => `${name}: ${action}${member ? ` ${member}` : ''} (wave ${state.wave})`,
        );
      });
    });
  }
}
