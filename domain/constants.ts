/** Task queue for workflows and light activities. */
export const CONTROL_TASK_QUEUE = 'pgferry-control';
/** Task queue for data-heavy activities (dump, restore, copy); its concurrency is capped by config. */
export const DATA_TASK_QUEUE = 'pgferry-data';

/**
 * Below this much TOAST data a table is not checked for columns to load as is: the compression it
 * could skip costs less than the scan that proves it futile.
 */
export const AS_IS_MIN_TOAST_BYTES = 8 * 1024 * 1024;

/** Workflow type names: the stable contract that any Temporal client can start. */
export const WorkflowType = {
  migration: 'migration',
  provision: 'provision',
  backup: 'backup',
  restore: 'restore',
  preflight: 'preflight',
  cleanup: 'cleanup',
  /** One run of a backup schedule: backup, restore drill, retention. */
  scheduledBackup: 'scheduledBackup',
  /** Many databases as child migrations, in waves. */
  fleet: 'fleet',
} as const;
/** One of the workflow type names. */
export type WorkflowType = (typeof WorkflowType)[keyof typeof WorkflowType];

/** Custom search attributes (all Keyword) that pgferry keeps current on its workflows. */
export const SEARCH_ATTRIBUTES = [
  'PgferryStage',
  'PgferryState',
  'PgferryMode',
  'PgferrySource',
  'PgferryTarget',
  'PgferryApprovedBy',
  // Online, at the gate: ready, not_ready or slot_lost.
  'PgferryReady',
  // The fleet a migration belongs to (set on the fleet and on every member).
  'PgferryFleet',
] as const;
/** The name of one custom search attribute. */
export type SearchAttributeName = (typeof SEARCH_ATTRIBUTES)[number];

/** Name of the query every pgferry workflow answers with its progress state. */
export const STATUS_QUERY = 'status';

/** Defaults shared by the CLI, the dev server, the worker and docker-compose.yml. */
export const DEFAULTS = {
  temporalAddress: 'localhost:7233',
  temporalNamespace: 'default',
  temporalPort: 7233,
  uiPort: 8233,
  codecPort: 8234,
  stateDir: '.pgferry',
  dbFilename: '.pgferry/temporal.db',
  jobs: 2,
  dataConcurrency: 4,
} as const;

/** Prefixes of workflow ids, so that ids stay readable in the Temporal UI. */
export const WorkflowIdPrefix = {
  migration: 'migration-',
  provision: 'provision-',
  backup: 'backup-',
  restore: 'restore-',
  preflight: 'preflight-',
  fleet: 'fleet-',
} as const;
