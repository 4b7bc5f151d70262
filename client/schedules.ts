import * as path from 'node:path';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
} from '@temporalio/client';
import { CONTROL_TASK_QUEUE, WorkflowType } from '../domain/constants';
import { connectionLabel, parseConnectionUrl } from '../domain/connection';
import { parseInput } from '../domain/contracts';
import { ErrorCode, PgferryError } from '../domain/errors';
import { failureInfo } from '../domain/failure-info';
import { hasScheme } from '../domain/storage-location';
import {
  BACKUP_SCHEDULE_PREFIX,
  BackupScheduleInput,
  ScheduleName,
  type BackupScheduleOptions,
  type DrillReport,
  type ScheduledBackupInput,
  type ScheduledBackupResult,
} from '../domain/schedule';
import { toPgferryError } from './errors';

/** One run a backup schedule started, and how it ended. */
export interface ScheduledRun {
  readonly workflowId: string;
  readonly startedAt: string;
  readonly state: 'running' | 'completed' | 'failed' | 'cancelled' | 'terminated' | 'timed_out';
  /** The backup's address (completed runs). */
  readonly backup?: string;
  readonly rows?: number;
  readonly bytes?: number;
  /** The restore drill's report (completed runs of a schedule with --drill). */
  readonly drill?: DrillReport;
  readonly kept?: readonly string[];
  readonly deleted?: readonly string[];
  /** Why the run failed: its stable code and message (a failed drill is DrillFailed). */
  readonly error?: { readonly code: string; readonly message: string };
}

/** A backup schedule as `pgferry schedule list` shows it. */
export interface BackupScheduleInfo {
  readonly name: string;
  /** The Temporal Schedule's id: `pgferry-backup-NAME`, as the UI's Schedules page lists it. */
  readonly scheduleId: string;
  readonly cron: string;
  readonly paused: boolean;
  readonly note?: string;
  /** The database backed up, as `host:port/db`. */
  readonly source: string;
  readonly to: string;
  readonly keep: number;
  readonly drill: boolean;
  /** When it runs next (UTC, ISO 8601). */
  readonly nextRuns: readonly string[];
  /** The most recent runs (Temporal keeps the last ten), newest first. */
  readonly runs: readonly ScheduledRun[];
}

/** The id of schedule NAME; a full id is accepted as it is. */
export function backupScheduleId(name: string): string {
  return name.startsWith(BACKUP_SCHEDULE_PREFIX) ? name : `${BACKUP_SCHEDULE_PREFIX}${name}`;
}

/**
 * Parses schedule options as `schedules.create()` will, without Temporal: bad input fails before
 * anything exists. A relative `to` is resolved against the working directory, as for `backup`.
 */
export function checkBackupScheduleOptions(options: BackupScheduleOptions): BackupScheduleInput {
  const to = options.to && !hasScheme(options.to) ? path.resolve(options.to) : options.to;
  return parseInput(BackupScheduleInput, { ...options, to }, 'backup-schedule');
}

function checkName(name: string): string {
  const id = backupScheduleId(name);
  const parsed = ScheduleName.safeParse(id.slice(BACKUP_SCHEDULE_PREFIX.length));
  if (!parsed.success) {
    throw new PgferryError(ErrorCode.InvalidInput, `name: "${name}" is not a schedule name`, {
      field: 'name',
      fix: 'give the NAME that `pgferry schedule list` shows',
    });
  }
  return id;
}

/**
 * pgferry's backup schedules, as Temporal Schedules (`pgferry-backup-NAME`) that start a
 * `scheduledBackup` workflow on their cron: backup, restore drill, retention.
 */
export class BackupSchedules {
  constructor(
    private readonly client: Client,
    private readonly address: string,
  ) {}

  /** Creates a schedule; InvalidInput naming `name` when one of that name exists. */
  async create(options: BackupScheduleOptions): Promise<BackupScheduleInfo> {
    const run = checkBackupScheduleOptions(options);
    const { cron } = run;
    const scheduleId = backupScheduleId(run.name);
    const source = connectionLabel(parseConnectionUrl(run.source, 'source'));
    try {
      await this.client.schedule.create({
        scheduleId,
        spec: { cronExpressions: [cron] },
        action: {
          type: 'startWorkflow',
          workflowType: WorkflowType.scheduledBackup,
          workflowId: scheduleId,
          taskQueue: CONTROL_TASK_QUEUE,
          args: [run satisfies ScheduledBackupInput],
          staticSummary: `scheduled backup ${source} → ${run.to}, keep ${run.keep}${run.drill ? ', with a restore drill' : ''}`,
        },
        // A run still going when the next is due: the next is skipped, never run beside it. No
        // memo: the codec would encrypt it, and clients without the key could not list schedules.
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
        state: { note: `created by pgferry: ${cron} (UTC)` },
      });
    } catch (err) {
      throw this.failure(err, scheduleId, 'create');
    }
    return this.describe(run.name);
  }

  /** Every pgferry backup schedule, with its recent runs and their drill reports. */
  async list(): Promise<BackupScheduleInfo[]> {
    const ids: string[] = [];
    try {
      for await (const summary of this.client.schedule.list()) {
        if (summary.scheduleId.startsWith(BACKUP_SCHEDULE_PREFIX)) ids.push(summary.scheduleId);
      }
    } catch (err) {
      throw toPgferryError(err, { address: this.address });
    }
    const out: BackupScheduleInfo[] = [];
    for (const id of ids.sort()) {
      // A schedule deleted between the list and its description is simply gone.
      const info = await this.describe(id).catch((err: unknown) => {
        if (err instanceof PgferryError && err.code === ErrorCode.WorkflowNotFound) return undefined;
        throw err;
      });
      if (info) out.push(info);
    }
    return out;
  }

  /** One schedule, with its recent runs. */
  async describe(name: string): Promise<BackupScheduleInfo> {
    const id = checkName(name);
    let description: ScheduleDescription;
    try {
      description = await this.client.schedule.getHandle(id).describe();
    } catch (err) {
      throw this.failure(err, id, 'describe');
    }
    return this.info(id, description);
  }

  /** Pauses a schedule: no run starts until it is resumed. */
  async pause(name: string, note = 'paused with pgferry schedule pause'): Promise<BackupScheduleInfo> {
    const id = checkName(name);
    await this.call(id, 'pause', (h) => h.pause(note));
    return this.describe(id);
  }

  /** Resumes a paused schedule. */
  async resume(name: string, note = 'resumed with pgferry schedule resume'): Promise<BackupScheduleInfo> {
    const id = checkName(name);
    await this.call(id, 'resume', (h) => h.unpause(note));
    return this.describe(id);
  }

  /** Starts a run now (skipped, as a due one would be, while another run is going). */
  async trigger(name: string): Promise<void> {
    const id = checkName(name);
    await this.call(id, 'trigger', (h) => h.trigger(ScheduleOverlapPolicy.SKIP));
  }

  /** Deletes a schedule; its backups and running run stay. */
  async delete(name: string): Promise<void> {
    const id = checkName(name);
    await this.call(id, 'delete', (h) => h.delete());
  }

  private async call(
    id: string,
    what: string,
    fn: (handle: ReturnType<Client['schedule']['getHandle']>) => Promise<void>,
  ): Promise<void> {
    try {
      await fn(this.client.schedule.getHandle(id));
    } catch (err) {
      throw this.failure(err, id, what);
    }
  }

  private failure(err: unknown, id: string, what: string): PgferryError {
    const name = id.slice(BACKUP_SCHEDULE_PREFIX.length);
    if (
      err instanceof ScheduleNotFoundError ||
      (what !== 'create' && (err as { code?: number }).code === 5)
    ) {
      return new PgferryError(ErrorCode.WorkflowNotFound, `name: no backup schedule "${name}" exists`, {
        field: 'name',
        fix: 'see `pgferry schedule list` for the schedules there are',
        cause: err,
      });
    }
    if (err instanceof ScheduleAlreadyRunning) {
      return new PgferryError(ErrorCode.InvalidInput, `name: a backup schedule "${name}" exists already`, {
        field: 'name',
        fix: `choose another --name, or delete it first (pgferry schedule delete ${name})`,
        cause: err,
      });
    }
    // 3 = INVALID_ARGUMENT: what the server refuses in a new schedule is its spec.
    if (what === 'create' && (err as { code?: number }).code === 3) {
      return new PgferryError(
        ErrorCode.InvalidInput,
        `cron: Temporal refused the schedule: ${(err as Error).message}`,
        {
          field: 'cron',
          fix: 'write five cron fields (minute hour day-of-month month day-of-week) or @daily',
          cause: err,
        },
      );
    }
    return toPgferryError(err, { id, address: this.address });
  }

  private async info(id: string, d: ScheduleDescription): Promise<BackupScheduleInfo> {
    const action = d.action.type === 'startWorkflow' ? d.action : undefined;
    const input = (action?.args?.[0] ?? {}) as Partial<ScheduledBackupInput>;
    const source = input.source ? connectionLabel(parseConnectionUrl(input.source, 'source')) : '';
    const recent = [...d.info.recentActions].reverse();
    const runs: ScheduledRun[] = [];
    for (const taken of recent) {
      runs.push(
        await this.run(
          taken.action.workflow.workflowId,
          taken.action.workflow.firstExecutionRunId,
          taken.takenAt,
        ),
      );
    }
    return {
      name: id.slice(BACKUP_SCHEDULE_PREFIX.length),
      scheduleId: id,
      cron: input.cron ?? '',
      paused: d.state.paused,
      ...(d.state.note ? { note: d.state.note } : {}),
      source,
      to: input.to ?? '',
      keep: input.keep ?? 0,
      drill: input.drill ?? false,
      nextRuns: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
      runs,
    };
  }

  /** A run's state, and its result or error once it has ended. */
  private async run(workflowId: string, runId: string, takenAt: Date): Promise<ScheduledRun> {
    const handle = this.client.workflow.getHandle(workflowId, runId);
    const base = { workflowId, startedAt: takenAt.toISOString() };
    let status: string;
    try {
      status = (await handle.describe()).status.name;
    } catch (err) {
      // Past the namespace's retention the run is gone; its backup may still be listed.
      return {
        ...base,
        state: 'completed',
        error: { code: failureInfo(err).code, message: 'the run is no longer in Temporal' },
      };
    }
    if (status === 'RUNNING') return { ...base, state: 'running' };
    try {
      const result = (await handle.result()) as ScheduledBackupResult;
      return {
        ...base,
        state: 'completed',
        backup: result.backup.backup,
        rows: result.backup.rows,
        bytes: result.backup.bytes,
        ...(result.drill ? { drill: result.drill } : {}),
        kept: result.kept,
        deleted: result.deleted,
      };
    } catch (err) {
      const info = failureInfo(err);
      const state =
        status === 'CANCELED'
          ? 'cancelled'
          : status === 'TERMINATED'
            ? 'terminated'
            : status === 'TIMED_OUT'
              ? 'timed_out'
              : 'failed';
      return { ...base, state, error: { code: info.code, message: info.message } };
    }
  }
}
