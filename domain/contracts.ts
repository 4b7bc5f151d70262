import { z } from 'zod';
import { tryParseConnectionUrl, type ConnSpec } from './connection';
import { ErrorCode, PgferryError } from './errors';
import { tryParseStorageLocation } from './storage-location';
import { TableColumns, TableRef } from './tables';

/** A connection URL without password: `postgres://USER@HOST:PORT/DATABASE[?sslmode=…&sslrootcert=…&password_env=…]`. */
export const ConnectionUrl = z
  .string()
  .superRefine((value, ctx) => {
    const parsed = tryParseConnectionUrl(value);
    if ('problem' in parsed) {
      ctx.addIssue({ code: 'custom', message: parsed.problem.message, params: { fix: parsed.problem.fix } });
    }
  })
  .describe(
    "postgres://USER@HOST:PORT/DATABASE[?sslmode=MODE&sslrootcert=FILE&password_env=NAME] without a password: the worker reads it from ~/.pgpass, PGPASSFILE or the env var password_env names (PGFERRY_PASSWORD_…, or one the worker's PGFERRY_PASSWORD_ENVS lists); sslmode as libpq's (unset: prefer), sslrootcert a CA file in the worker's PGFERRY_SSL_DIR",
  );

/**
 * A connection URL without password, parsed into a ConnSpec: what activities receive. A problem is
 * reported under the field's path with the same message and fix as `parseConnectionUrl`.
 */
export const ConnectionSpec = z.string().transform((value, ctx): ConnSpec => {
  const parsed = tryParseConnectionUrl(value);
  if ('spec' in parsed) return parsed.spec;
  ctx.addIssue({ code: 'custom', message: parsed.problem.message, params: { fix: parsed.problem.fix } });
  return z.NEVER;
});

/** Parallel jobs for pg_dump / pg_restore / copy. */
export const Jobs = z.number().int().min(1).max(64).describe('parallel jobs (pg_dump / pg_restore -j)');

/**
 * A storage location (`to`) or a backup's address in one (`from`): an absolute directory on the
 * worker, so that it means the same on every worker whatever its working directory, or
 * `azblob://CONTAINER/PREFIX` (credentials only from the worker's environment). Any other scheme is
 * refused. The client resolves a relative path before it starts a workflow; a bare workflow start
 * cannot. A backup's address needs a name after the container.
 */
export function storageLocation(role: 'location' | 'backup') {
  return z
    .string()
    .superRefine((value, ctx) => {
      const parsed = tryParseStorageLocation(value);
      const problem =
        'problem' in parsed
          ? parsed.problem
          : role === 'backup' && parsed.location.kind === 'azblob' && parsed.location.prefix === ''
            ? {
                message: 'names a container but no backup in it',
                fix: "give the backup's address as `pgferry backup` printed it: azblob://CONTAINER/PREFIX/NAME",
              }
            : undefined;
      // First and aborting, so that its fix is the one reported; the regex after it is for the JSON Schema.
      if (problem) {
        ctx.addIssue({
          code: 'custom',
          message: problem.message,
          params: { fix: problem.fix },
          continue: false,
        });
      }
    })
    .regex(/^(\/|azblob:\/\/)/);
}

// NAMEDATALEN - 1: PostgreSQL silently truncates a longer name, and pgferry would look for the wrong one.
const MAX_IDENTIFIER_BYTES = 63;

/** A database name pgferry creates: 1 to 63 bytes, no control characters. */
export const DatabaseName = z
  .string()
  .refine((name) => name !== '' && new TextEncoder().encode(name).length <= MAX_IDENTIFIER_BYTES, {
    message: 'the name is empty or longer than 63 bytes (PostgreSQL would cut it short)',
    params: { fix: 'use a database name of 1 to 63 bytes' },
    abort: true,
  })
  .refine((name) => !/\p{Cc}/u.test(name), {
    message: 'the name holds a control character',
    params: { fix: 'use printable characters only' },
    abort: true,
  })
  .min(1)
  .max(MAX_IDENTIFIER_BYTES);

/** A name usable in workflow ids, cluster names and file names. */
export const SafeName = z
  .string()
  .min(1)
  .max(63)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
    'use letters, digits, ".", "_" and "-", starting with a letter or digit',
  );

/** Input of the `provision` workflow with the `local` provider: a database on an existing server. */
export const LocalProvisionInput = z.strictObject({
  provider: z.literal('local').default('local'),
  /** The database to make exist; its server must be running. */
  target: ConnectionUrl,
});

/** Input of the `provision` workflow with the `local-cluster` provider: a fresh cluster on this host. */
export const LocalClusterProvisionInput = z.strictObject({
  provider: z.literal('local-cluster'),
  /** Name of the cluster; its data lives in the worker's clusters directory under this name. */
  cluster: SafeName,
  /** The database to create in the cluster. */
  database: DatabaseName,
  /** Port to listen on; a free one is chosen when absent. */
  port: z.number().int().min(1024).max(65535).optional(),
  /** The PostgreSQL major version of the new cluster; the worker's default when absent. */
  pgVersion: z.number().int().min(12).max(30).optional(),
});

/** Input of the `provision` workflow. */
export const ProvisionInput = z.discriminatedUnion('provider', [
  LocalProvisionInput,
  LocalClusterProvisionInput,
]);
/** Input of the `provision` workflow, as parsed. */
export type ProvisionInput = z.output<typeof ProvisionInput>;
/** Input of the `provision` workflow, as a caller writes it. */
export type ProvisionOptions = z.input<typeof ProvisionInput>;

/** Result of the `provision` workflow. */
export const ProvisionResult = z.object({
  provider: z.enum(['local', 'local-cluster']),
  /** The database, as a URL without password. */
  target: z.string(),
  /** True when this run created the database (or cluster); false when an existing one was reused. */
  created: z.boolean(),
  serverVersion: z.string(),
  /** The comment pgferry stamps on a database it provisioned, so that a retry recognises it. */
  marker: z.string(),
  /** The data directory of a local cluster. */
  dataDir: z.string().optional(),
});
/** Result of the `provision` workflow. */
export type ProvisionResult = z.infer<typeof ProvisionResult>;

/** Input of the `backup` workflow. */
export const BackupInput = z.strictObject({
  /** The database to back up. */
  source: ConnectionUrl,
  /** The storage location: a directory on the worker, or `azblob://CONTAINER/PREFIX`. */
  to: storageLocation('location').describe(
    "the storage location: an absolute directory path on the worker, or azblob://CONTAINER/PREFIX (Azure Blob Storage; credentials from the worker's AZURE_STORAGE_* environment)",
  ),
  /** The backup's name inside the location; derived from the workflow id when absent. */
  name: SafeName.optional(),
  jobs: Jobs.default(2),
});
/** Input of the `backup` workflow, as parsed. */
export type BackupInput = z.output<typeof BackupInput>;
/** Input of the `backup` workflow, as a caller writes it. */
export type BackupOptions = z.input<typeof BackupInput>;

/** One data file of a backup, as the manifest lists it. */
export const ManifestFile = z.object({ path: z.string(), size: z.number(), sha256: z.string() });
/** Row count of one table at the backup's snapshot. */
export const TableRows = TableRef.extend({ rows: z.number() });
/** Row count of one table at the backup's snapshot. */
export type TableRows = z.infer<typeof TableRows>;

/** The manifest written beside every backup: what it holds and how to prove it is whole. */
export const BackupManifest = z.object({
  format: z.literal('pgferry-backup/1'),
  name: z.string(),
  source: z.string(),
  database: z.string(),
  serverVersion: z.string(),
  pgDumpVersion: z.string(),
  jobs: z.number(),
  startedAt: z.string(),
  finishedAt: z.string(),
  files: z.array(ManifestFile),
  tables: z.array(TableRows),
  largeObjects: z.number(),
  totalBytes: z.number(),
  totalRows: z.number(),
});
/** The manifest written beside every backup. */
export type BackupManifest = z.infer<typeof BackupManifest>;

/** Result of the `backup` workflow. `backup` is what `restore --from` accepts. */
export const BackupResult = z.object({
  backup: z.string(),
  name: z.string(),
  source: z.string(),
  serverVersion: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  tables: z.number(),
  rows: z.number(),
  bytes: z.number(),
  files: z.number(),
  largeObjects: z.number(),
});
/** Result of the `backup` workflow. */
export type BackupResult = z.infer<typeof BackupResult>;

/** Input of the `restore` workflow. */
export const RestoreInput = z.strictObject({
  /** A backup, as `backup` returned it: a directory on the worker or `azblob://CONTAINER/PREFIX/NAME`. */
  from: storageLocation('backup').describe(
    'the backup, as the backup workflow returned it in "backup": a directory on the worker or azblob://CONTAINER/PREFIX/NAME',
  ),
  /** The database to restore into: absent or empty (it is created when absent). */
  target: ConnectionUrl,
  jobs: Jobs.default(2),
});
/** Input of the `restore` workflow, as parsed. */
export type RestoreInput = z.output<typeof RestoreInput>;
/** Input of the `restore` workflow, as a caller writes it. */
export type RestoreOptions = z.input<typeof RestoreInput>;

/** One table's row count after a restore, against the manifest. */
export const TableCheck = TableRef.extend({
  expected: z.number(),
  actual: z.number(),
  ok: z.boolean(),
});
/** One table's row count after a restore, against the manifest. */
export type TableCheck = z.infer<typeof TableCheck>;

/** The report a restore ends with. */
export const RestoreReport = z.object({
  ok: z.boolean(),
  tables: z.array(TableCheck),
  rowsExpected: z.number(),
  rowsRestored: z.number(),
  largeObjectsExpected: z.number(),
  largeObjectsRestored: z.number(),
});
/** The report a restore ends with. */
export type RestoreReport = z.infer<typeof RestoreReport>;

/** Result of the `restore` workflow. */
export const RestoreResult = z.object({
  backup: z.string(),
  target: z.string(),
  provision: ProvisionResult,
  report: RestoreReport,
});
/** Result of the `restore` workflow. */
export type RestoreResult = z.infer<typeof RestoreResult>;

/**
 * Input of the `cleanup` workflow (`pgferry cleanup NAME`): a migration that has ended, as its
 * history tells it. The names of what it may have left (slot, publication, subscription, fence
 * slot) come from `migration`, the workflow id, so that cleanup never touches another's objects.
 */
export const CleanupInput = z.strictObject({
  /** The migration's workflow id (`migration-NAME`). */
  migration: z.string().startsWith('migration-'),
  source: ConnectionUrl,
  target: ConnectionUrl,
  /** Past the point of no return: the source stays frozen (retired), whatever is left. */
  retired: z.boolean(),
  /** Columns the copy set to EXTERNAL storage on the target (setAsIsStorage), to set back to EXTENDED. */
  storage: z.array(TableColumns).default([]),
  /** Report what exists, change nothing. */
  dryRun: z.boolean().default(false),
});
/** Input of the `cleanup` workflow, as callers write it. */
export type CleanupOptions = z.input<typeof CleanupInput>;
/** Input of the `cleanup` workflow, parsed. */
export type CleanupInput = z.output<typeof CleanupInput>;

/** One thing a migration may leave behind, where it lives, and what cleanup found and did. */
export const Leftover = z.object({
  object: z.enum([
    'subscription',
    'slot',
    'fence slot',
    'publication',
    'ddl capture',
    'freeze',
    'column storage',
    'ledger',
    'reverse subscription',
    'reverse slot',
    'reverse publication',
  ]),
  where: z.enum(['source', 'target']),
  name: z.string(),
  found: z.boolean(),
  removed: z.boolean(),
  /** Why something found was kept, or why nothing could be looked at. */
  note: z.string().optional(),
});
/** One thing a migration may leave behind. */
export type Leftover = z.infer<typeof Leftover>;

/** Result of the `cleanup` workflow. */
export const CleanupResult = z.object({
  migration: z.string(),
  dryRun: z.boolean(),
  retired: z.boolean(),
  /** False when a side could not be cleaned (its error in `errors`): run it again once that is mended. */
  ok: z.boolean(),
  objects: z.array(Leftover),
  errors: z.array(
    z.object({
      where: z.enum(['source', 'target']),
      code: z.string(),
      message: z.string(),
      fix: z.string().optional(),
    }),
  ),
});
/** Result of the `cleanup` workflow. */
export type CleanupResult = z.infer<typeof CleanupResult>;

/** Progress figures of a running workflow; a long activity's heartbeat adds to them. */
export const ProgressFigures = z.object({
  tables: z.number().optional(),
  tablesDone: z.number().optional(),
  rows: z.number().optional(),
  bytes: z.number().optional(),
  files: z.number().optional(),
  detail: z.string().optional(),
  /** Bytes copied per second since the workflow started (status adds it). */
  bytesPerSecond: z.number().optional(),
  /** Seconds until the copy ends, from the chunks done so far (status adds it during the copy). */
  etaSeconds: z.number().optional(),
  /** Replication lag of an online migration. */
  lagBytes: z.number().optional(),
  lagSeconds: z.number().nullable().optional(),
});
/** Progress figures of a running workflow. */
export type ProgressFigures = z.infer<typeof ProgressFigures>;

/** The lifecycle states a pgferry workflow reports. */
export const WorkflowState = z.enum([
  'running',
  'waiting',
  'completed',
  'failed',
  'cancelled',
  'rolled_back',
  // Past the point of no return a step keeps failing: retried with backoff, a person should look.
  'needs_attention',
]);
/** The lifecycle state a pgferry workflow reports. */
export type WorkflowState = z.infer<typeof WorkflowState>;

/** A step past the point of no return that keeps failing, as status shows it. */
export interface Attention {
  readonly step: string;
  readonly code: string;
  readonly message: string;
  readonly fix: string;
  readonly attempts: number;
  readonly nextRetrySeconds: number;
  readonly resolved?: boolean;
}

/** What the `status` query of every pgferry workflow answers. */
export const ProgressState = z.object({
  stage: z.string(),
  stages: z.array(z.string()),
  state: WorkflowState,
  progress: ProgressFigures,
  /** Reports a workflow keeps for its readers (preflight, validation, decision, downtime). */
  details: z.record(z.string(), z.unknown()).optional(),
  error: z
    .object({
      code: z.string(),
      message: z.string(),
      field: z.string().optional(),
      fix: z.string().optional(),
    })
    .optional(),
});
/** What the `status` query of every pgferry workflow answers. */
export type ProgressState = z.infer<typeof ProgressState>;

/**
 * Parses untrusted input with a schema; throws one InvalidInput error that lists every problem by
 * path. The error's fix is the first problem's own, else `fix`, else a pointer to the JSON Schema of
 * the `what` input in docs/.
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  what: string,
  fix?: string,
): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return path === '' ? issue.message : `${path}: ${issue.message}`;
  });
  const first = result.error.issues[0];
  // Unknown keys are reported at the object's path, with their names in `keys`.
  const keys = first && first.code === 'unrecognized_keys' ? first.keys : [];
  const fieldPath = first ? [...first.path.map(String), ...keys.slice(0, 1)] : [];
  // A problem with the input as a whole (not an object, absent) is the input's own.
  const field = fieldPath.length > 0 ? fieldPath.join('.') : 'input';
  const params = first && 'params' in first ? (first.params as { fix?: unknown } | undefined) : undefined;
  const ownFix = typeof params?.fix === 'string' ? params.fix : undefined;
  throw new PgferryError(ErrorCode.InvalidInput, problems.join('; '), {
    field,
    fix: ownFix ?? fix ?? `correct the ${what} input (see docs/${what}-input.schema.json)`,
  });
}

/** What `pgferry status ID` and `PgferryClient.status()` report about one workflow. */
export const WorkflowStatus = z.object({
  id: z.string(),
  type: z.string(),
  stage: z.string(),
  stages: z.array(z.string()),
  state: WorkflowState,
  progress: ProgressFigures,
  startedAt: z.string(),
  closedAt: z.string().optional(),
  durationMs: z.number().optional(),
  details: ProgressState.shape.details,
  error: ProgressState.shape.error,
  result: z.unknown().optional(),
});
/** What `pgferry status ID` reports about one workflow. */
export type WorkflowStatus = z.infer<typeof WorkflowStatus>;

/** One line of `pgferry list`. */
export const WorkflowSummary = z.object({
  id: z.string(),
  type: z.string(),
  state: WorkflowState,
  stage: z.string(),
  source: z.string().optional(),
  target: z.string().optional(),
  startedAt: z.string(),
  closedAt: z.string().optional(),
});
/** One line of `pgferry list`. */
export type WorkflowSummary = z.infer<typeof WorkflowSummary>;
