import { ApplicationFailure, CancellationScope, executeChild, workflowInfo } from '@temporalio/workflow';
import { CONTROL_TASK_QUEUE, WorkflowIdPrefix } from '../domain/constants';
import { connectionLabel, formatConnectionUrl, parseConnectionUrl, withDatabase } from '../domain/connection';
import type { BackupResult } from '../domain/contracts';
import { ErrorCode } from '../domain/errors';
import { failureInfo } from '../domain/failure-info';
import {
  drillDatabaseName,
  scheduledBackupName,
  ScheduledBackupInput,
  type DrillReport,
  type ScheduledBackupOptions,
  type ScheduledBackupResult,
} from '../domain/schedule';
import { control } from './activities';
import { backup } from './backup';
import { parseWorkflowInput } from './input';
import { Progress } from './progress';
import { provisionMarker } from './provision';
import { restore } from './restore';

/**
 * One run of a backup schedule (`pgferry schedule backup`): a backup, then with `drill` a restore
 * of it into a scratch database whose row counts must match the manifest (the database is dropped
 * either way), then retention: this schedule's backups beyond the newest `keep` are deleted. A
 * failed drill fails the run before retention, so that an unproven backup never pushes out a
 * proven one.
 */
export async function scheduledBackup(raw: ScheduledBackupOptions): Promise<ScheduledBackupResult> {
  const input = parseWorkflowInput(ScheduledBackupInput, raw, 'scheduled-backup');
  const startedAt = new Date();
  const name = scheduledBackupName(input.name, startedAt);
  const stages = ['backup', ...(input.drill ? ['drill'] : []), 'retention', 'done'];
  const progress = new Progress(stages, {
    source: connectionLabel(parseConnectionUrl(input.source, 'source')),
    target: input.to,
  });
  return progress.run(async () => {
    const made = await executeChild(backup, {
      workflowId: `${WorkflowIdPrefix.backup}${name}`,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [{ source: input.source, to: input.to, name, jobs: input.jobs }],
    });
    progress.update({ tables: made.tables, rows: made.rows, bytes: made.bytes, files: made.files });

    let drill: DrillReport | undefined;
    if (input.drill) {
      progress.enter('drill');
      drill = await restoreDrill(input, made, drillDatabaseName(input.name, startedAt));
      progress.detail('drill', drill);
      if (!drill.ok) {
        throw ApplicationFailure.create({
          type: ErrorCode.DrillFailed,
          message: `the restore drill of ${made.backup} failed: ${drill.error?.message ?? drill.mismatches.join(', ')}`,
          nonRetryable: true,
          details: [
            { field: 'drill', fix: 'the backup does not restore as made; older backups were kept' },
            drill,
          ],
        });
      }
    }

    progress.enter('retention');
    const pruned = await control.pruneBackups({
      to: input.to,
      schedule: input.name,
      keep: input.keep,
      protect: made.name,
    });
    return { backup: made, ...(drill ? { drill } : {}), ...pruned };
  });
}

/**
 * Restores the backup into a new scratch database (a `restore` child, which verifies checksums and
 * compares row counts with the manifest), reports what it found, and drops the database: only a
 * database carrying that restore's marker, so never one that was there before.
 */
async function restoreDrill(
  input: ScheduledBackupInput,
  made: BackupResult,
  database: string,
): Promise<DrillReport> {
  const server = parseConnectionUrl(input.drillServer ?? input.source, 'drillServer');
  const scratch = withDatabase(server, database);
  const target = formatConnectionUrl(scratch);
  const restoreId = `${WorkflowIdPrefix.restore}${workflowInfo().workflowId}-drill`;
  let found: Pick<DrillReport, 'ok' | 'rowsRestored' | 'mismatches' | 'error'>;
  let dropped = false;
  try {
    found = await drillRestore(restoreId, made.backup, target, input.jobs);
  } finally {
    // The scratch database goes whatever happened, even when the run is being cancelled. A drop
    // that fails (the drill server unreachable) is reported as not dropped, not as the run's error.
    dropped = await CancellationScope.nonCancellable(() =>
      control.dropOwnTarget({ target, marker: provisionMarker(`${restoreId}-provision`) }),
    ).then(
      (r) => r.dropped,
      () => false,
    );
  }
  return {
    backup: made.backup,
    database: connectionLabel(scratch),
    tables: made.tables,
    rowsExpected: made.rows,
    ...found,
    dropped,
  };
}

/** Runs the drill's restore; a failure (other than a cancel) is the drill's finding, not the run's crash. */
async function drillRestore(
  workflowId: string,
  from: string,
  target: string,
  jobs: number,
): Promise<Pick<DrillReport, 'ok' | 'rowsRestored' | 'mismatches' | 'error'>> {
  try {
    const { report } = await executeChild(restore, {
      workflowId,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [{ from, target, jobs }],
    });
    const mismatches = report.tables
      .filter((t) => !t.ok)
      .slice(0, 5)
      .map((t) => `${t.schema}.${t.table} ${t.actual}/${t.expected}`);
    return { ok: report.ok, rowsRestored: report.rowsRestored, mismatches };
  } catch (err) {
    const info = failureInfo(err);
    if (info.code === ErrorCode.Cancelled) throw err;
    // The restore's message names what differed (RowCountMismatch) or which file is damaged.
    return { ok: false, mismatches: [], error: { code: info.code, message: info.message } };
  }
}
