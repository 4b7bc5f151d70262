import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { WorkflowIdPrefix } from '../domain/constants';
import { connectionLabel, parseConnectionUrl } from '../domain/connection';
import { BackupInput, SafeName, type BackupOptions, type BackupResult } from '../domain/contracts';
import { ErrorCode } from '../domain/errors';
import { control, data } from './activities';
import { parseWorkflowInput } from './input';
import { Progress } from './progress';

function backupName(input: BackupInput): string {
  const name = input.name ?? workflowInfo().workflowId.replace(WorkflowIdPrefix.backup, '');
  if (!SafeName.safeParse(name).success) {
    throw ApplicationFailure.create({
      type: ErrorCode.InvalidInput,
      message: `name: the backup needs a name of letters, digits, ".", "_" and "-"; the workflow id "${name}" is not one`,
      nonRetryable: true,
      details: [{ field: 'name', fix: 'pass "name" in the input' }],
    });
  }
  return name;
}

/** Backs a database up with pg_dump (directory format, parallel) into a storage location, with a manifest. */
export async function backup(raw: BackupOptions): Promise<BackupResult> {
  const input = parseWorkflowInput(BackupInput, raw, 'backup');
  const name = backupName(input);
  const progress = new Progress(['preflight', 'dump', 'done'], {
    source: connectionLabel(parseConnectionUrl(input.source, 'source')),
    target: input.to,
  });
  return progress.run(async () => {
    await control.checkBackupInput({ source: input.source, to: input.to });
    progress.enter('dump');
    const result = await data.dumpDatabase({ source: input.source, to: input.to, name, jobs: input.jobs });
    progress.update({
      tables: result.tables,
      tablesDone: result.tables,
      rows: result.rows,
      bytes: result.bytes,
      files: result.files,
    });
    return result;
  });
}
