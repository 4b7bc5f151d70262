import { userInfo } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { BYTE_SIZE_EXAMPLES, parseByteSize } from '../../domain/byte-size';
import { DEFAULTS } from '../../domain/constants';
import { ErrorCode, PgferryError } from '../../domain/errors';
import type { MigrationResult } from '../../domain/migration';
import { describeChatIdentity } from '../../domain/chat';
import { describeRoles } from '../../domain/roles-text';
import { formatBytes, formatCount } from '../format';
import { follow } from './follow';
import { outputFor, pgferryClient, withJson, withPgferry, type CommonOptions } from './context';
import { choice, flag, intOption, required, requiredUrl, strictFlags } from './flags';

interface MigrateFlags extends CommonOptions {
  name?: string;
  source?: string;
  target?: string;
  mode: 'offline' | 'online';
  jobs: number;
  splitLargerThan: number;
  validate: 'none' | 'counts' | 'checksums';
  approvers?: string;
  autoApprove?: boolean;
  freezeSource?: boolean;
  /** false with --no-freeze. */
  freeze: boolean;
  onRollback: 'keep' | 'drop';
  approvalTimeout?: number;
  switchHook?: string;
  switchHookTimeout?: number;
  onApprovalTimeout: 'abort' | 'wait';
  notify: string[];
  requireSecondPerson?: boolean;
  cutoverTimeout?: number;
  maxRetainedWal?: number;
  ddl: 'apply' | 'hold' | 'refuse';
  roles: 'copy' | 'skip';
  rolePasswords?: boolean;
  fallbackWindow?: number;
  wait?: boolean;
}

const SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** A parser of the duration flag `name`: `90`, `90s`, `30m`, `2h`, `1d` → seconds. */
export function duration(name: string): (value: string) => number {
  return (value) => {
    const match = /^(\d+)\s*([smhd]?)$/i.exec(value.trim());
    if (!match || Number(match[1]) < 1) {
      throw new InvalidArgumentError(`${name}: expected a duration such as 90s, 30m or 2h, got "${value}"`);
    }
    return Number(match[1]) * (SECONDS[(match[2] || 's').toLowerCase()] ?? 1);
  };
}

/** A parser of the size flag `name`: `268435456`, `256MB`, `1GB` (binary units) → bytes. */
export function size(name: string): (value: string) => number {
  return (value) => {
    const bytes = parseByteSize(value);
    if (bytes === undefined || bytes < 1) {
      throw new InvalidArgumentError(`${name}: expected ${BYTE_SIZE_EXAMPLES}, got "${value}"`);
    }
    return bytes;
  };
}

/** The duration flag `name` for the CLI: a refused value is InvalidInput naming the flag. */
function durationFlag(name: string): (value: string) => number {
  return flag(name, `give --${name} a duration such as 90s, 30m or 2h`, duration(name));
}

/** The size flag `name` for the CLI: a refused value is InvalidInput naming the flag. */
function sizeFlag(name: string): (value: string) => number {
  return flag(name, `give --${name} ${BYTE_SIZE_EXAMPLES}`, size(name));
}

/**
 * The names `--approvers` lists. Given, it must name someone: a list of only commas or spaces would
 * otherwise mean no list at all, and anyone could approve.
 */
function approverNames(value: string | undefined): string[] {
  if (value === undefined) return [];
  const names = value
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (names.length === 0) {
    throw new PgferryError(ErrorCode.InvalidInput, `approvers: "${value}" names nobody`, {
      field: 'approvers',
      fix: 'give --approvers comma-separated names (--approvers alice,bob), or leave it out to let anyone approve',
    });
  }
  return names;
}

/** Collects a repeatable option's values in order. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function render(r: MigrationResult): string {
  if (r.outcome === 'rejected') {
    return `migration ${r.name} was rejected by ${r.decision?.by ?? '?'}${r.decision?.reason ? ` (${r.decision.reason})` : ''}; rolled back`;
  }
  const lines = [
    `migration ${r.name} completed: ${r.tables} tables in ${r.chunks} chunks, ${formatCount(r.rows)} rows, ${formatBytes(r.bytes)}, ${r.sequences} sequences, ${r.largeObjects} large objects`,
  ];
  if (r.validation)
    lines.push(
      `  validation (${r.validation.level}): ${r.validation.ok ? 'source and target are equal' : 'DIFFERENCES'}`,
    );
  if (r.decision)
    lines.push(
      `  approved by ${r.decision.by} (${r.decision.via ? `${describeChatIdentity(r.decision.via)}, ` : ''}${r.decision.channel})${r.decision.reason ? `: ${r.decision.reason}` : ''}`,
    );
  if (r.downtimeMs !== undefined) lines.push(`  downtime ${r.downtimeMs} ms`);
  if (r.roles) lines.push(...describeRoles(r.roles).map((line) => `  ${line}`));
  if (r.sourceFrozen === false)
    lines.push(
      '  the source was NOT frozen (--no-freeze): writes made after the validation are not on the target',
    );
  return lines.join('\n');
}

/** `pgferry migrate`. */
export function registerMigrate(program: Command): void {
  withJson(
    strictFlags(program.command('migrate'))
      .description(
        'move a database to another server: preflight, schema, parallel copy, validation, approval, completion',
      )
      .option('--name <name>', 'the migration name; its workflow id is migration-NAME')
      .option('--source <url>', 'the database to move: postgres://USER@HOST:PORT/DB')
      .option('--target <url>', 'where it goes (created when absent; must be empty)')
      .option('--mode <mode>', 'offline or online', choice('mode', ['offline', 'online'] as const), 'offline')
      .option('--jobs <n>', 'parallel chunks and schema jobs', intOption('jobs', 1, 64), DEFAULTS.jobs)
      .option(
        '--split-larger-than <size>',
        'split tables larger than this into ctid ranges',
        sizeFlag('split-larger-than'),
        256 * 1024 ** 2,
      )
      .option(
        '--validate <level>',
        'none, counts or checksums',
        choice('validate', ['none', 'counts', 'checksums'] as const),
        'checksums',
      )
      .option('--approvers <names>', 'comma-separated names allowed to approve (default: anyone)')
      .option('--auto-approve', 'approve as soon as validation passes')
      .option(
        '--no-freeze',
        'offline: leave the source writable during the copy (the default freezes it from the start of the copy; it stays read-only after); every table is then validated at the end',
      )
      .option('--freeze-source', 'the default, kept for scripts that name it: freeze the source for the copy')
      .option(
        '--approval-timeout <duration>',
        'how long to wait for a decision (90s, 30m, 2h); reminders at 1/2 and 9/10 of it',
        durationFlag('approval-timeout'),
      )
      .option(
        '--on-approval-timeout <policy>',
        'abort (roll back) or wait (keep waiting) when nobody decided in time',
        choice('on-approval-timeout', ['abort', 'wait'] as const),
        'abort',
      )
      .option(
        '--on-rollback <policy>',
        'keep or drop the target on rollback',
        choice('on-rollback', ['keep', 'drop'] as const),
        'keep',
      )
      .option(
        '--switch-hook <url>',
        'POST the cutover event (JSON) to this http(s) URL when the target is the primary',
      )
      .option(
        '--switch-hook-timeout <duration>',
        'how long one call of the switch hook may take (default 5m); it is retried until it succeeds',
        durationFlag('switch-hook-timeout'),
      )
      .option(
        '--notify <target>',
        'tell slack:CHANNEL_ID or webhook:https://… of the approval request, reminders and the outcome (repeatable)',
        collect,
        [],
      )
      .option(
        '--require-second-person',
        'whoever started the migration may not approve it (may still reject)',
      )
      .option(
        '--cutover-timeout <duration>',
        'online: how long the frozen source waits for the target to replay its last changes (default 60s); past it the source is unfrozen and the migration waits at its gate again',
        durationFlag('cutover-timeout'),
      )
      .option(
        '--max-retained-wal <size>',
        "online: warn when the slot holds back more WAL than this on the source (default: half of the source's max_slot_wal_keep_size, else 10GB)",
        sizeFlag('max-retained-wal'),
      )
      .option(
        '--ddl <policy>',
        'online: schema changes on the source while replicating are applied on the target in order with the data (apply), applied once a person approves each with pgferry ddl approve (hold), or refused by the source (refuse)',
        choice('ddl', ['apply', 'hold', 'refuse'] as const),
        'apply',
      )
      .option(
        '--roles <policy>',
        "the source server's roles: skip (they are the target's; preflight names any missing) or copy (created or aligned on the target before the schema, without passwords, with the database's owner, privileges and role settings)",
        choice('roles', ['copy', 'skip'] as const),
        'skip',
      )
      .option(
        '--role-passwords',
        "with --roles copy: also the roles' passwords (the source user must be a superuser)",
      )
      .option(
        '--fallback-window <duration>',
        'online: after the cutover, replicate the target back to the source for this long (at least 1m), so that pgferry fallback moves back without losing a write; pgferry release ends it sooner',
        durationFlag('fallback-window'),
      )
      .option('--wait', 'wait for the end (including the approval) and print the result'),
  ).action(async (flags: MigrateFlags) => {
    const out = outputFor(flags);
    const { checkMigrationOptions } = await pgferryClient();
    const options = checkMigrationOptions({
      name: required(flags.name, 'name', '--name NAME'),
      source: requiredUrl(flags.source, 'source'),
      target: requiredUrl(flags.target, 'target'),
      mode: flags.mode,
      jobs: flags.jobs,
      splitLargerThan: flags.splitLargerThan,
      validate: flags.validate,
      approvers: approverNames(flags.approvers),
      autoApprove: Boolean(flags.autoApprove),
      freezeSource: flags.freeze,
      onRollback: flags.onRollback,
      ...(flags.approvalTimeout ? { approvalTimeoutSeconds: flags.approvalTimeout } : {}),
      onApprovalTimeout: flags.onApprovalTimeout,
      ...(flags.switchHook ? { switchHook: flags.switchHook } : {}),
      ...(flags.switchHookTimeout ? { switchHookTimeoutSeconds: flags.switchHookTimeout } : {}),
      notify: flags.notify,
      requireSecondPerson: Boolean(flags.requireSecondPerson),
      ...(flags.cutoverTimeout ? { cutoverTimeoutSeconds: flags.cutoverTimeout } : {}),
      ...(flags.maxRetainedWal ? { maxRetainedWal: flags.maxRetainedWal } : {}),
      ddl: flags.ddl,
      roles: flags.roles,
      rolePasswords: Boolean(flags.rolePasswords),
      ...(flags.fallbackWindow ? { fallbackWindowSeconds: flags.fallbackWindow } : {}),
      startedBy: userInfo().username,
    });
    await withPgferry(async (client) => {
      const run = await client.migrate(options);
      await follow<MigrationResult>(client, out, run, Boolean(flags.wait), render);
    });
  });
}
