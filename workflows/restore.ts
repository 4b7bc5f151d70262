import { ApplicationFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import { CONTROL_TASK_QUEUE } from '../domain/constants';
import { connectionLabel, parseConnectionUrl } from '../domain/connection';
import { RestoreInput, type RestoreOptions, type RestoreResult } from '../domain/contracts';
import { ErrorCode } from '../domain/errors';
import { control, data } from './activities';
import { parseWorkflowInput } from './input';
import { Progress } from './progress';
import { provision, provisionMarker } from './provision';

/** Restores a backup: verify its checksums, provision the target, pg_restore, then check row counts. */
export async function restore(raw: RestoreOptions): Promise<RestoreResult> {
  const input = parseWorkflowInput(RestoreInput, raw, 'restore');
  const provisionId = `${workflowInfo().workflowId}-provision`;
  const marker = provisionMarker(provisionId);
  const progress = new Progress(['preflight', 'provision', 'restore', 'validate', 'done'], {
    source: input.from,
    target: connectionLabel(parseConnectionUrl(input.target, 'target')),
  });
  return progress.run(async () => {
    const verified = await data.verifyBackup({ from: input.from });
    progress.update({ tables: verified.tables, files: verified.files, bytes: verified.bytes });
    await control.checkRestoreTarget({ from: verified.backup, target: input.target, marker });

    progress.enter('provision');
    const provisioned = await executeChild(provision, {
      workflowId: provisionId,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [{ provider: 'local', target: input.target }],
    });

    progress.enter('restore');
    await data.restoreDatabase({ from: verified.backup, target: input.target, jobs: input.jobs, marker });

    progress.enter('validate');
    const report = await data.checkRestoredRows({ from: verified.backup, target: input.target });
    progress.update({ rows: report.rowsRestored, tablesDone: report.tables.filter((t) => t.ok).length });
    if (!report.ok) {
      const bad = report.tables
        .filter((t) => !t.ok)
        .map((t) => `${t.schema}.${t.table} ${t.actual}/${t.expected}`);
      throw ApplicationFailure.create({
        type: ErrorCode.RowCountMismatch,
        message: `row counts differ from the backup's manifest: ${bad.slice(0, 5).join(', ') || 'large objects'}`,
        nonRetryable: true,
        details: [{ field: 'target', fix: 'inspect the target; the report lists every table' }, report],
      });
    }
    return { backup: verified.backup, target: input.target, provision: provisioned, report };
  });
}
