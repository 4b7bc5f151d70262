import { checkBackupInput, dumpDatabase, type CheckBackupInput, type DumpInput } from './backup';
import type { ActivityDeps } from './deps';
import { withFailureCodes } from './failure';
import { provisionDatabase, type ProvisionDatabaseInput } from './provision/local';
import { provisionLocalCluster, type ProvisionClusterInput } from './provision/local-cluster';
import {
  checkRestoredRows,
  checkRestoreTarget,
  restoreDatabase,
  verifyBackup,
  type RestoreDatabaseInput,
} from './restore';

/** Builds every activity around its dependencies. Each is idempotent and safe to retry. */
export function createActivities(deps: ActivityDeps) {
  return withFailureCodes({
    provisionDatabase: (input: ProvisionDatabaseInput) => provisionDatabase(deps, input),
    provisionLocalCluster: (input: ProvisionClusterInput) => provisionLocalCluster(deps, input),
    checkBackupInput: (input: CheckBackupInput) => checkBackupInput(deps, input),
    dumpDatabase: (input: DumpInput) => dumpDatabase(deps, input),
    verifyBackup: (input: { from: string }) => verifyBackup(deps, input),
    checkRestoreTarget: (input: { from: string; target: string; marker: string }) =>
      checkRestoreTarget(deps, input),
    restoreDatabase: (input: RestoreDatabaseInput) => restoreDatabase(deps, input),
    checkRestoredRows: (input: { from: string; target: string }) => checkRestoredRows(deps, input),
  });
}

/** The activities pgferry's workflows call, by name; workflows import this as a type only. */
export type Activities = ReturnType<typeof createActivities>;
