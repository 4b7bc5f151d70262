// pgferry's programmatic entry point (package.json "exports"): the client, the contracts, the errors.
export {
  PgferryClient,
  listBackups,
  checkBackupOptions,
  checkRestoreOptions,
  checkProvisionOptions,
} from './pgferry-client';
export type { ConnectOptions, WorkflowRun, BackupCatalogEntry } from './pgferry-client';
export {
  BackupInput,
  BackupManifest,
  BackupResult,
  ConnectionUrl,
  ProgressState,
  ProvisionInput,
  ProvisionResult,
  RestoreInput,
  RestoreReport,
  RestoreResult,
  WorkflowState,
  WorkflowStatus,
  WorkflowSummary,
} from '../domain/contracts';
export type { BackupOptions, ProvisionOptions, RestoreOptions } from '../domain/contracts';
export { ErrorCode, PgferryError, exitCodeFor } from '../domain/errors';
export { CONTROL_TASK_QUEUE, DATA_TASK_QUEUE, WorkflowType, SEARCH_ATTRIBUTES } from '../domain/constants';
