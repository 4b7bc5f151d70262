import type { Command } from 'commander';
import { DEFAULTS } from '../../domain/constants';
import { parseConnectionUrl } from '../../domain/connection';
import { ErrorCode, PgferryError } from '../../domain/errors';
import { formatBytes, formatCount } from '../format';
import { slug } from '../ids';
import type { BackupScheduleInfo, ScheduledRun } from '../schedules';
import { outputFor, withJson, withPgferry, type CommonOptions } from './context';
import { intOption, required, requiredUrl, strictFlags } from './flags';

interface ScheduleBackupFlags extends CommonOptions {
  source?: string;
  to?: string;
  cron?: string;
  keep?: number;
  drill?: boolean;
  drillServer?: string;
  name?: string;
  jobs: number;
}

/** `pgferry schedule backup|list|pause|resume|trigger|delete`. */
export function registerSchedule(program: Command): void {
  const schedule = program
    .command('schedule')
    .description(
      'backups on a schedule (Temporal Schedules pgferry-backup-NAME): back up, restore drill, retention',
    );
  registerCreate(schedule);

  withJson(
    schedule.command('list').description('list the backup schedules with their recent runs and drills'),
  ).action(async (flags: CommonOptions) => {
    const out = outputFor(flags);
    await withPgferry(async (client) => {
      const schedules = await client.schedules.list();
      out.result({ ok: true, schedules }, () =>
        schedules.length === 0 ? 'no backup schedules' : schedules.map(describeSchedule).join('\n\n'),
      );
    });
  });

  const verbs = [
    ['pause', 'pause a schedule: no run starts until it is resumed'],
    ['resume', 'resume a paused schedule'],
    ['trigger', 'start a run now (skipped while another run of it is going)'],
    ['delete', 'delete a schedule (its backups stay)'],
  ] as const;
  for (const [verb, description] of verbs) {
    withJson(
      strictFlags(schedule.command(verb))
        .description(description)
        .argument('<name>', 'the schedule, as `pgferry schedule list` names it'),
    ).action(async (name: string, flags: CommonOptions) => {
      const out = outputFor(flags);
      await withPgferry(async (client) => {
        const schedules = client.schedules;
        if (verb === 'pause' || verb === 'resume') {
          const info = await schedules[verb](name);
          out.result(
            { ok: true, schedule: info },
            () => `${info.scheduleId}: ${info.paused ? 'paused' : 'active'}`,
          );
          return;
        }
        await schedules[verb](name);
        out.result({ ok: true, name, [verb === 'delete' ? 'deleted' : 'triggered']: true }, () =>
          verb === 'delete'
            ? `schedule ${name} deleted; its backups stay`
            : `schedule ${name}: a run starts now`,
        );
      });
    });
  }
}

function registerCreate(schedule: Command): void {
  withJson(
    strictFlags(schedule.command('backup'))
      .description(
        'back a database up on a cron schedule, keep the newest N backups, and with --drill prove each by restoring it into a scratch database',
      )
      .option('--source <url>', 'the database: postgres://USER@HOST:PORT/DB (no password in the URL)')
      .option('--to <location>', 'a directory on the worker, or azblob://CONTAINER/PREFIX')
      .option('--cron <expr>', 'when, in UTC: five cron fields ("0 3 * * *") or @hourly, @daily, @weekly')
      .option('--keep <n>', "how many of this schedule's newest backups to keep", intOption('keep', 1, 1000))
      .option('--drill', 'restore each new backup into a scratch database, compare row counts, drop it')
      .option('--drill-server <url>', "the server drills restore on (default: the source's)")
      .option('--name <name>', 'the schedule name (default: the database name)')
      .option('--jobs <n>', 'parallel pg_dump / pg_restore jobs', intOption('jobs', 1, 64), DEFAULTS.jobs),
  ).action(async (flags: ScheduleBackupFlags) => {
    const out = outputFor(flags);
    const source = requiredUrl(flags.source, 'source');
    const keep = flags.keep;
    if (keep === undefined) {
      throw new PgferryError(ErrorCode.InvalidInput, 'keep: required', {
        field: 'keep',
        fix: "add --keep N (how many of this schedule's backups to keep)",
      });
    }
    const { checkBackupScheduleOptions } = await import('../schedules.js');
    const options = checkBackupScheduleOptions({
      name: flags.name ?? slug(parseConnectionUrl(source, 'source').database),
      source,
      to: required(flags.to, 'to', '--to DIR or --to azblob://CONTAINER/PREFIX'),
      cron: required(flags.cron, 'cron', '--cron "0 3 * * *" (03:00 UTC every day)'),
      keep,
      drill: Boolean(flags.drill),
      ...(flags.drillServer !== undefined ? { drillServer: flags.drillServer } : {}),
      jobs: flags.jobs,
    });
    await withPgferry(async (client) => {
      const info = await client.schedules.create(options);
      out.result({ ok: true, schedule: info }, () =>
        [
          `schedule ${info.scheduleId} created (see the Schedules page of the Temporal UI)`,
          describeSchedule(info),
          `  run it now with: pgferry schedule trigger ${info.name}`,
        ].join('\n'),
      );
    });
  });
}

/** A schedule and its recent runs, for people. */
function describeSchedule(s: BackupScheduleInfo): string {
  const what = `${s.source} → ${s.to}, keep ${s.keep}${s.drill ? ', restore drill' : ''}`;
  return [
    `${s.scheduleId}  ${s.cron} (UTC)  ${s.paused ? 'PAUSED' : 'active'}  ${what}`,
    ...(s.nextRuns[0] ? [`  next run: ${s.nextRuns[0]}`] : []),
    ...s.runs.map(describeRun),
  ].join('\n');
}

function describeRun(r: ScheduledRun): string {
  if (r.state === 'running') return `  ${r.startedAt}  running  ${r.workflowId}`;
  if (r.error) return `  ${r.startedAt}  ${r.state}  [${r.error.code}] ${r.error.message}`;
  const drill = r.drill
    ? `  drill ${r.drill.ok ? 'ok' : 'FAILED'}: ${formatCount(r.drill.rowsRestored ?? 0)}/${formatCount(r.drill.rowsExpected)} rows${r.drill.dropped ? ', scratch database dropped' : ''}`
    : '';
  const deleted = r.deleted && r.deleted.length > 0 ? `  deleted ${r.deleted.join(', ')}` : '';
  return `  ${r.startedAt}  ${r.state}  ${r.backup ?? ''}  ${formatCount(r.rows ?? 0)} rows, ${formatBytes(r.bytes ?? 0)}${drill}${deleted}`;
}
