import { z } from 'zod';
import { BackupResult, ConnectionUrl, Jobs, SafeName, storageLocation } from './contracts';
import { CRON_FIX, cronProblem } from './cron';

/** Ids of pgferry's backup schedules (`pgferry-backup-NAME`); their runs' ids add the time Temporal started them. */
export const BACKUP_SCHEDULE_PREFIX = 'pgferry-backup-';

/**
 * A schedule's name: its backups are named `NAME-YYYYMMDDTHHMMSSmmmZ`, within the 63 characters
 * of a backup name.
 */
export const ScheduleName = SafeName.max(40).describe(
  'the schedule name (letters, digits, ".", "_", "-"; at most 40): the Schedule is pgferry-backup-NAME, its backups NAME-TIMESTAMP',
);

/** A cron expression of five fields (UTC) or a macro such as @daily. */
export const CronExpression = z
  .string()
  .superRefine((value, ctx) => {
    const problem = cronProblem(value);
    if (problem)
      ctx.addIssue({ code: 'custom', message: problem, params: { fix: CRON_FIX }, continue: false });
  })
  .describe(
    'when to back up: five cron fields (minute hour day-of-month month day-of-week, UTC) or @hourly/@daily/@weekly/@monthly/@yearly',
  );

/** Input of the `scheduledBackup` workflow: what every run of a backup schedule does. */
export const ScheduledBackupInput = z.strictObject({
  name: ScheduleName,
  /** The database to back up. */
  source: ConnectionUrl,
  /** Where the backups go: a directory on the worker or `azblob://CONTAINER/PREFIX`. */
  to: storageLocation('location').describe(
    "the storage location: an absolute directory path on the worker, or azblob://CONTAINER/PREFIX (Azure Blob Storage; credentials from the worker's AZURE_STORAGE_* environment)",
  ),
  /** How many of this schedule's backups to keep; older ones are deleted after a good run. */
  keep: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .describe("how many of this schedule's newest backups to keep (1-1000); older ones are deleted"),
  /** Restore each new backup into a scratch database, compare row counts, drop it. */
  drill: z
    .boolean()
    .default(false)
    .describe(
      'restore each new backup into a scratch database, compare its row counts with the manifest, drop it',
    ),
  /** The server drills restore on (its user and parameters; the database is a new scratch one); the source's when absent. */
  drillServer: ConnectionUrl.describe(
    "the server drills restore on, as postgres://USER@HOST:PORT/DB without a password (user, server and parameters are used; each drill creates and drops its own database pgferry_drill_NAME_TIMESTAMP there); the source's server when absent",
  ).optional(),
  jobs: Jobs.default(2),
  /** The schedule's cron, as it was created: shown by `schedule list`; the Schedule itself decides when. */
  cron: CronExpression.optional(),
});
/** Input of the `scheduledBackup` workflow, as parsed. */
export type ScheduledBackupInput = z.output<typeof ScheduledBackupInput>;
/** Input of the `scheduledBackup` workflow, as a caller writes it. */
export type ScheduledBackupOptions = z.input<typeof ScheduledBackupInput>;

/** What `pgferry schedule backup` (and `PgferryClient.scheduleBackup`) takes: the runs' input and when. */
export const BackupScheduleInput = ScheduledBackupInput.extend({ cron: CronExpression });
/** A backup schedule, as parsed. */
export type BackupScheduleInput = z.output<typeof BackupScheduleInput>;
/** A backup schedule, as a caller writes it. */
export type BackupScheduleOptions = z.input<typeof BackupScheduleInput>;

/** What a restore drill found: the new backup restored into a scratch database and counted. */
export const DrillReport = z.object({
  ok: z.boolean(),
  /** The backup restored. */
  backup: z.string(),
  /** The scratch database, as `host:port/db`. */
  database: z.string(),
  tables: z.number(),
  rowsExpected: z.number(),
  /** Rows counted in the scratch database; absent when the restore failed before counting. */
  rowsRestored: z.number().optional(),
  /** Tables whose counts differ from the manifest (first five), as `schema.table restored/expected`. */
  mismatches: z.array(z.string()),
  /** Why the drill failed, when it did: the restore's error code and message. */
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  /** Whether the scratch database was dropped (false: it never existed or was not ours). */
  dropped: z.boolean(),
});
/** What a restore drill found. */
export type DrillReport = z.infer<typeof DrillReport>;

/** Result of one run of a backup schedule. */
export const ScheduledBackupResult = z.object({
  backup: BackupResult,
  drill: DrillReport.optional(),
  /** The schedule's backups kept after this run, newest first. */
  kept: z.array(z.string()),
  /** The schedule's backups deleted by this run (beyond `keep`). */
  deleted: z.array(z.string()),
});
/** Result of one run of a backup schedule. */
export type ScheduledBackupResult = z.infer<typeof ScheduledBackupResult>;

/** The name of a schedule's backup made at `at`: `NAME-YYYYMMDDTHHMMSSmmmZ` (as backup names elsewhere). */
export function scheduledBackupName(schedule: string, at: Date): string {
  return `${schedule}-${at.toISOString().replace(/[-:]/g, '').replace('.', '')}`;
}

/** True when `backup` is one of schedule `schedule`'s (not `NAME-other-…` of another schedule). */
export function isScheduledBackupOf(schedule: string, backup: string): boolean {
  const rest = backup.startsWith(`${schedule}-`) ? backup.slice(schedule.length + 1) : '';
  return /^\d{8}T\d{9}Z$/.test(rest);
}

/** The scratch database of a drill: `pgferry_drill_NAME_YYYYMMDDTHHMMSS`, within 63 bytes. */
export function drillDatabaseName(schedule: string, at: Date): string {
  const when = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, '');
  return `pgferry_drill_${schedule.slice(0, 32)}_${when}`.toLowerCase();
}
