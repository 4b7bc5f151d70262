// pgferry's programmatic entry point (package.json "exports"): the client, the contracts, the errors.
export {
  PgferryClient,
  pgferryDataConverter,
  checkMigrationOptions,
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
export {
  MigrationInput,
  MigrationResult,
  MigrationMode,
  PreflightInput,
  PreflightReport,
  CheckResult,
  ValidationReport,
  DecisionInput,
  Decision,
  ValidateLevel,
  FallbackInput,
  FallbackReport,
  FallbackWindowReport,
  ReleaseInput,
} from '../domain/migration';
export type { MigrationOptions, PreflightOptions } from '../domain/migration';
export type { Timeline, WindowEvent } from './history';
export { checkFleetOptions, fleetWorkflowId } from './fleet';
export type { FleetMemberStatus, FleetStatus } from './fleet';
export type { FleetOptions, FleetResult, FleetState, PlanEntry, WaveDecisionInput } from '../domain/fleet';
export type { NotGranted, RolesPolicy, RolesReport } from '../domain/roles';
export { BackupSchedules, backupScheduleId, checkBackupScheduleOptions } from './schedules';
export type { BackupScheduleInfo, ScheduledRun } from './schedules';
export {
  BackupScheduleInput,
  DrillReport,
  ScheduledBackupInput,
  ScheduledBackupResult,
} from '../domain/schedule';
export type { BackupScheduleOptions, ScheduledBackupOptions } from '../domain/schedule';
/** What `status()` answers for a migration (the same shape as for every pgferry workflow). */
export { WorkflowStatus as MigrationStatus } from '../domain/contracts';
/** The names of the query, updates and signals a migration answers. */
export const MIGRATION_HANDLERS = {
  statusQuery: 'status',
  approveUpdate: 'approve',
  rejectUpdate: 'reject',
  approveSignal: 'approve',
  rejectSignal: 'reject',
} as const;
export { ErrorCode, PgferryError, exitCodeFor } from '../domain/errors';
export { CONTROL_TASK_QUEUE, DATA_TASK_QUEUE, WorkflowType, SEARCH_ATTRIBUTES } from '../domain/constants';
