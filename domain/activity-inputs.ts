/**
 * The inputs of pgferry's activities, as zod schemas. A workflow passes the raw shape (`z.input`:
 * connection URLs as strings, as history records them); the worker parses it once, where
 * createActivities wires the activity, and the activity receives the parsed shape (`z.output`:
 * connection specs, checked names). A bad input fails InvalidInput naming the field, before any
 * database is touched.
 */
import { z } from 'zod';
import { Chunk } from './chunks';
import { ConnectionSpec, Jobs, LocalClusterProvisionInput, SafeName } from './contracts';
import { DdlPolicy } from './migration';
import { RolesPolicy } from './roles';
import type { Notification } from './notify';
import { TableColumns, TableRef } from './tables';

/** What a rejected activity input should do: the caller (a workflow, a test) sent the wrong shape. */
export const ACTIVITY_INPUT_FIX =
  'pass the activity the input its schema in domain/activity-inputs.ts describes';

// NAMEDATALEN - 1: a longer name is silently truncated, and the existence checks would miss it.
const MAX_NAME_BYTES = 63;

/** The name of a publication, subscription or migration key: 1 to 63 bytes, as PostgreSQL keeps it. */
export const ObjectName = z
  .string()
  .refine((name) => name !== '' && new TextEncoder().encode(name).length <= MAX_NAME_BYTES, {
    message: 'the name is empty or longer than 63 bytes',
    params: { fix: 'use a name of 1 to 63 bytes' },
  });

/** A replication slot's name, by PostgreSQL's own rule (ReplicationSlotValidateName). */
export const SlotName = z.string().refine((slot) => /^[a-z0-9_]{1,63}$/.test(slot), {
  message: 'not a replication slot name',
  params: { fix: 'use lower-case letters, digits and _, at most 63 characters' },
});

/** A PostgreSQL LSN: it goes into a query as a parameter, but must mean one. */
export const Lsn = z.string().refine((lsn) => /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i.test(lsn), {
  message: 'not a PostgreSQL LSN',
  params: { fix: 'pass the LSN that currentLsn returned, e.g. 0/16B3748' },
});

/** An exported snapshot id (online mode): what the copy reads the source under. */
const Snapshot = z.string().min(1);
/** The comment that marks a database as provisioned by this run. */
const Marker = z.string().min(1);
/** A backup directory on the worker, as the backup workflow returned it. */
const BackupDir = z.string().min(1);
/** Names that the step leaves out (pg_restore list keys, qualified table names). */
const Skip = z.array(z.string()).readonly();

/** An activity on the source database. */
export const OnSource = z.object({ source: ConnectionSpec });
/** An activity on the source database. */
export type OnSource = z.output<typeof OnSource>;
/** An activity on the target database. */
export const OnTarget = z.object({ target: ConnectionSpec });
/** An activity on the target database. */
export type OnTarget = z.output<typeof OnTarget>;
/** An activity on both databases. */
export const OnBoth = OnSource.extend(OnTarget.shape);
/** An activity on both databases. */
export type OnBoth = z.output<typeof OnBoth>;

/**
 * The name of a migration's write fence (domain/names.ts fenceSlotName): its logical slot's, and
 * the owner written beside every setting its freeze saved on the source.
 */
const FenceName = SlotName;

/** Input of freezeSource and unfreezeSource. */
export const FreezeSourceInput = OnSource.extend({
  /** The fence's name: without one, the freeze creates no slot, and saves its originals as pgferry's. */
  fence: FenceName.optional(),
  /**
   * The online cutover: once frozen, the source's final LSN is marked (the cutover message) and
   * returned, so that the replay's wait and the target's count can both start at once.
   */
  markFinalLsn: z.boolean().optional(),
});
/** Input of freezeSource and unfreezeSource. */
export type FreezeSourceInput = z.output<typeof FreezeSourceInput>;

/**
 * The source's tables as the freeze left them (their files and write counters), for verifyFence
 * to compare: `oid:filenode:writes` items, comma-separated, and a digest of that text. Above
 * FENCE_BASELINE_MAX_TABLES tables, the digest alone (the comparison then names no table).
 */
export const FenceBaseline = z.object({
  tables: z.number().int().min(0),
  digest: z.string().min(1),
  entries: z.string().optional(),
});
/** The source's tables as the freeze left them. */
export type FenceBaseline = z.output<typeof FenceBaseline>;

/** Input of verifyFence. */
export const VerifyFenceInput = OnSource.extend({
  /** The fence's slot, as freezeSource made it: peeked, then dropped. */
  slot: FenceName.optional(),
  /** The tables as freezeSource left them. */
  baseline: FenceBaseline.optional(),
});
/** Input of verifyFence. */
export type VerifyFenceInput = z.output<typeof VerifyFenceInput>;

/** Input of provisionDatabase. */
export const ProvisionDatabaseInput = OnTarget.extend({ marker: Marker });
/** Input of provisionDatabase. */
export type ProvisionDatabaseInput = z.output<typeof ProvisionDatabaseInput>;

/** Input of provisionLocalCluster: the provision workflow's, with the run's marker. */
export const ProvisionClusterInput = z
  .object(LocalClusterProvisionInput.shape)
  .omit({ provider: true })
  .extend({ marker: Marker });
/** Input of provisionLocalCluster. */
export type ProvisionClusterInput = z.output<typeof ProvisionClusterInput>;

/** Input of checkBackupInput. */
export const CheckBackupInput = OnSource.extend({ to: z.string().min(1) });
/** Input of checkBackupInput. */
export type CheckBackupInput = z.output<typeof CheckBackupInput>;

/** Input of dumpDatabase. */
export const DumpInput = CheckBackupInput.extend({ name: z.string().min(1), jobs: Jobs });
/** Input of dumpDatabase. */
export type DumpInput = z.output<typeof DumpInput>;

/** Input of verifyBackup. */
export const VerifyBackupInput = z.object({ from: BackupDir });
/** Input of verifyBackup. */
export type VerifyBackupInput = z.output<typeof VerifyBackupInput>;

/** Input of checkRestoredRows: a backup and the database it was restored into. */
export const RestoredInput = OnTarget.extend(VerifyBackupInput.shape);
/** Input of checkRestoredRows. */
export type RestoredInput = z.output<typeof RestoredInput>;

/** Input of checkRestoreTarget. */
export const CheckRestoreTargetInput = RestoredInput.extend({ marker: Marker });
/** Input of checkRestoreTarget. */
export type CheckRestoreTargetInput = z.output<typeof CheckRestoreTargetInput>;

/** Input of restoreDatabase. */
export const RestoreDatabaseInput = CheckRestoreTargetInput.extend({ jobs: Jobs });
/** Input of restoreDatabase. */
export type RestoreDatabaseInput = z.output<typeof RestoreDatabaseInput>;

/** Input of pruneBackups: a schedule's retention in one storage location. */
export const PruneBackupsInput = CheckBackupInput.pick({ to: true }).extend({
  /** The schedule whose backups (`NAME-TIMESTAMP`) are counted; no other backup is touched. */
  schedule: z.string().min(1),
  /** How many of the newest to keep. */
  keep: z.number().int().min(1),
  /** The backup this run made: kept whatever the clocks say. */
  protect: z.string().min(1),
});
/** Input of pruneBackups. */
export type PruneBackupsInput = z.output<typeof PruneBackupsInput>;

/** Input of runPreflight. */
export const PreflightRunInput = OnBoth.extend({
  mode: z.enum(['offline', 'online']),
  /** copy: the migration copies the roles before the schema, so a role missing on the target is no error. */
  roles: RolesPolicy.optional(),
  /** Offline: whether the source is frozen (the default), which asks rights of a source user who is not superuser. */
  freeze: z.boolean().optional(),
});
/** Input of runPreflight. */
export type PreflightRunInput = z.output<typeof PreflightRunInput>;

/**
 * Input of copyRoles: the source database (any database of its server: roles are the cluster's)
 * and the target database (the target server's maintenance database is where roles are made).
 */
export const CopyRolesInput = OnBoth.extend({
  /** Also the roles' password hashes (the source user must be able to read pg_authid). */
  passwords: z.boolean().default(false),
  /**
   * Also what belongs to the migrated database: the role settings in it, its own settings, owner
   * and privileges, from the source database onto the target database (which must exist).
   */
  database: z.boolean().default(false),
});
/** Input of copyRoles. */
export type CopyRolesInput = z.output<typeof CopyRolesInput>;

/** Input of copySchemaSection. */
export const SchemaSectionInput = OnBoth.extend({
  /** pre-data: types, tables, functions (before the copy); post-data: indexes, constraints, triggers, matview data. */
  section: z.enum(['pre-data', 'post-data']),
  jobs: Jobs,
  /** The marker of the provisioned target: a retried pre-data step may re-create that database only. */
  marker: Marker,
  /** Post-data items already built (buildTableIndexes' keys): left out of this restore. */
  skip: Skip.optional(),
});
/** Input of copySchemaSection. */
export type SchemaSectionInput = z.output<typeof SchemaSectionInput>;

/** How the target is proven equal to the source, by a step that validates. */
const ValidationLevel = z.enum(['counts', 'checksums']);

/** Input of buildTableIndexes. */
export const TableIndexesInput = OnBoth.extend({
  /** Tables whose every chunk is committed on the target. */
  tables: z.array(TableRef).readonly(),
  /** Also ANALYZE each table once its indexes are built. */
  analyze: z.boolean().optional(),
  /** Then validate the tables, source against target (offline: the copy is done with them). */
  validate: ValidationLevel.optional(),
});
/** Input of buildTableIndexes. */
export type TableIndexesInput = z.output<typeof TableIndexesInput>;

/** Input of dropOwnTarget. */
export const DropOwnTargetInput = OnTarget.extend({ marker: Marker });
/** Input of dropOwnTarget. */
export type DropOwnTargetInput = z.output<typeof DropOwnTargetInput>;

/** Input of listCopyTables. */
export const ListCopyTablesInput = OnSource.extend({
  /** An exported snapshot to read the catalog under, so the list matches what the chunks read. */
  snapshot: Snapshot.optional(),
});
/** Input of listCopyTables. */
export type ListCopyTablesInput = z.output<typeof ListCopyTablesInput>;

/** Input of chunksDone. */
export const ChunksDoneInput = OnTarget.extend({
  /** The migration's name: the ledger keeps the chunks of each migration apart. */
  migration: z.string().min(1),
});
/** Input of chunksDone. */
export type ChunksDoneInput = z.output<typeof ChunksDoneInput>;

/** Input of resetCopy. */
export const ResetCopyInput = OnBoth.extend(ChunksDoneInput.shape);
/** Input of resetCopy. */
export type ResetCopyInput = z.output<typeof ResetCopyInput>;

/** Input of copyChunk. */
export const CopyChunkInput = ResetCopyInput.extend({
  chunk: Chunk,
  /** An exported snapshot (online mode): every chunk reads the source as of the slot's start. */
  snapshot: Snapshot.optional(),
});
/** Input of copyChunk. */
export type CopyChunkInput = z.output<typeof CopyChunkInput>;

/** Input of copyChunks: several chunks that one activity copies one after another. */
export const CopyChunksInput = CopyChunkInput.omit({ chunk: true }).extend({
  chunks: z.array(Chunk).readonly(),
});
/** Input of copyChunks. */
export type CopyChunksInput = z.output<typeof CopyChunksInput>;

/** Input of restoreStorage. */
export const RestoreStorageInput = OnTarget.extend({ tables: z.array(TableColumns).readonly() });
/** Input of restoreStorage. */
export type RestoreStorageInput = z.output<typeof RestoreStorageInput>;

/** Input of setAsIsStorage. */
export const AsIsStorageInput = OnBoth.extend({
  /** Tables split into ranges, with the columns the copy moves. */
  tables: z.array(TableColumns).readonly(),
  /** An exported snapshot (online mode): the check reads what the chunks will read. */
  snapshot: Snapshot.optional(),
});
/** Input of setAsIsStorage. */
export type AsIsStorageInput = z.output<typeof AsIsStorageInput>;

/** One table's rows on one side, as countSourceRows read them. */
export const TableRows = z.object({ schema: z.string(), table: z.string(), rows: z.number().int() });
/** One table's rows on one side. */
export type TableRows = z.output<typeof TableRows>;

/** Input of validateTables. */
export const ValidateTablesInput = OnBoth.extend({
  level: ValidationLevel,
  /** The tables to validate; every table that holds rows when absent. */
  tables: z.array(TableRef).readonly().optional(),
  /** Tables validated already (on the lanes, by buildTableIndexes), by qualifiedTableName: left out here. */
  skip: Skip.optional(),
  /**
   * With level counts, on a frozen source only: the source's row counts read already
   * (countSourceRows, while the target replayed its last changes). Only the target's side of
   * these tables is read here.
   */
  sourceRows: z.array(TableRows).readonly().optional(),
});
/** Input of validateTables. */
export type ValidateTablesInput = z.output<typeof ValidateTablesInput>;

/** Input of validateLive: an online migration's tables compared while it replicates. */
export const ValidateLiveInput = OnBoth.extend({
  level: ValidationLevel,
  /** The migration's slot: the target's progress is read from its confirmed position. */
  slot: SlotName,
  /** The tables to validate; every table that holds rows when absent. */
  tables: z.array(TableRef).readonly().optional(),
  /** Rows per key range (each range holds its table's writers for about two reads of this many rows). */
  rangeRows: z.number().int().min(1000).max(10_000_000).optional(),
});
/** Input of validateLive. */
export type ValidateLiveInput = z.output<typeof ValidateLiveInput>;

/** Input of holdSlotSnapshot. */
export const HoldSlotSnapshotInput = OnBoth.extend({
  /** The migration's name: the key of its row in pgferry.snapshots on the target. */
  migration: ObjectName,
  /** The logical replication slot to create. */
  slot: SlotName,
  /**
   * The token to publish (random when absent). A workflow that makes one (uuid4()) and waits for
   * exactly it can never mistake the row of a holder from an earlier run for this one's.
   */
  token: z.string().min(1).optional(),
});
/** Input of holdSlotSnapshot. */
export type HoldSlotSnapshotInput = z.output<typeof HoldSlotSnapshotInput>;

/** Input of awaitSnapshot. */
export const AwaitSnapshotInput = OnTarget.extend({
  migration: z.string().min(1),
  /** The token of a holder known to be gone: its row is skipped until a new holder replaces it. */
  notBefore: z.string().optional(),
  /** Waits for the row of exactly this holder (the token given to holdSlotSnapshot). */
  token: z.string().optional(),
});
/** Input of awaitSnapshot. */
export type AwaitSnapshotInput = z.output<typeof AwaitSnapshotInput>;

/** Input of createPublication. */
export const CreatePublicationInput = OnSource.extend({ publication: ObjectName });
/** Input of createPublication. */
export type CreatePublicationInput = z.output<typeof CreatePublicationInput>;

/** Input of captureDdl: the migration's schema-change capture on the source (and its replay on the target). */
export const CaptureDdlInput = OnBoth.extend({
  /** The replication objects' name: the capture's objects are named after it (domain/names.ts ddlCaptureName). */
  publication: ObjectName,
  /** The migration's name, as the refusal and the hold name it: written into SQL function bodies, so a SafeName only. */
  migration: SafeName,
  policy: DdlPolicy,
});
/** Input of captureDdl. */
export type CaptureDdlInput = z.output<typeof CaptureDdlInput>;

/** Input of listDdlChanges: the schema changes captured on the source and replayed on the target. */
export const ListDdlInput = OnBoth.extend({ publication: ObjectName });
/** Input of listDdlChanges. */
export type ListDdlInput = z.output<typeof ListDdlInput>;

/** Input of approveDdlChange: a person's approval of one held change (--ddl hold), written on the target. */
export const ApproveDdlInput = OnBoth.extend({
  publication: ObjectName,
  /** The migration's name, as refusals name it. */
  migration: z.string().min(1),
  change: z.number().int().min(1),
  by: z.string().min(1),
  reason: z.string().min(1),
});
/** Input of approveDdlChange. */
export type ApproveDdlInput = z.output<typeof ApproveDdlInput>;

/** Input of joinNewTables: tables created on the source, now on the target, to join the subscription. */
export const JoinTablesInput = OnBoth.extend({
  subscription: ObjectName,
  /** The source's publication: other migrations' capture tables it carries are mirrored on the target first. */
  publication: ObjectName,
  tables: z.array(z.string().min(1)).min(1),
});
/** Input of joinNewTables. */
export type JoinTablesInput = z.output<typeof JoinTablesInput>;

/** Input of replicationLag: the slot on the source and the subscription on the target that reads it. */
export const ReplicationLagInput = OnBoth.extend({ slot: SlotName, subscription: ObjectName });
/** Input of replicationLag. */
export type ReplicationLagInput = z.output<typeof ReplicationLagInput>;

/**
 * Input of watchReplication: the replication to watch, and what the workflow knows of it (so the
 * activity returns only when something changes, or after `maxWaitSeconds` with fresh figures).
 */
export const WatchReplicationInput = ReplicationLagInput.extend({
  /** Schema changes are captured and replayed (--ddl apply or hold): their figures are read, and tables created on the source looked for. */
  ddl: z.boolean().optional(),
  /** --ddl hold: the migration's name, as the problem of a change waiting for approval names it. */
  ddlHold: z.string().min(1).optional(),
  /** The figures of the schema changes at the last look: the activity returns when they change. */
  ddlSeen: z
    .object({
      captured: z.number().int(),
      replayed: z.number().int(),
      failed: z.number().int(),
      /** --ddl hold: the id of the change held at the last look. */
      held: z.number().int().optional(),
    })
    .optional(),
  /**
   * The look before a cutover (true): the subscription's commits are made durable at once, so the
   * target confirms the final LSN without waiting for its WAL writer; the gate's watch (false)
   * sets them back. Absent: left as they are.
   */
  durableApply: z.boolean().optional(),
  /** Whether the workflow holds the replication ready, and why not (the activity returns when this changes). */
  ready: z.boolean(),
  /** The kind of the problem the workflow holds (ProblemKind of activities/watch.ts), when not ready. */
  problemKind: z.string().optional(),
  /** Lag under which the target counts as caught up. */
  caughtUpBytes: z.number().int().min(0),
  /** The retained WAL above which a warning goes out; from the source's max_slot_wal_keep_size when absent. */
  maxRetainedWalBytes: z.number().int().min(1).optional(),
  /** Whether the retained WAL was above the threshold at the last look (the activity returns when this changes). */
  retainedWarning: z.boolean().default(false),
  /** The LSN a failed cutover waited for: `reachedLsn` says whether the target has confirmed it. */
  awaitLsn: Lsn.optional(),
  /** The apply errors counted so far, and how long ago the last new one was seen (carried from the last watch). */
  applyErrors: z.number().int().min(0).optional(),
  applyErrorAgeMs: z.number().min(0).optional(),
  /** The target's confirmed LSN at the last look, and for how long it had not moved while behind. */
  confirmedLsn: Lsn.optional(),
  stalledMs: z.number().min(0).optional(),
  /** How long to watch before returning with fresh figures; 0: one look. */
  maxWaitSeconds: z.number().min(0).max(240).default(60),
  /** Between looks. */
  pollMs: z.number().int().min(100).max(10_000).default(2000),
});
/** Input of watchReplication. */
export type WatchReplicationInput = z.output<typeof WatchReplicationInput>;

/** Input of createSubscription. */
export const CreateSubscriptionInput = ReplicationLagInput.extend(CreatePublicationInput.shape);
/** Input of createSubscription. */
export type CreateSubscriptionInput = z.output<typeof CreateSubscriptionInput>;

/**
 * A step of the online cutover that needs the target to have replayed the frozen source: it waits
 * until the source's slot has confirmed `lsn` (the final LSN) itself, so that the cutover starts it
 * beside the replay's wait and it goes on the moment the target has everything, with no workflow
 * step between. It waits until then or until cancelled (the cutover's deadline).
 */
const AfterReplay = z.object({ source: ConnectionSpec, slot: SlotName, lsn: Lsn });

/** Input of countTargetRows; with `after`, it counts once the target has replayed (AfterReplay). */
export const CountTargetRowsInput = OnTarget.extend({ after: AfterReplay.optional() });
/** Input of countTargetRows. */
export type CountTargetRowsInput = z.output<typeof CountTargetRowsInput>;

/**
 * Input of syncSequences; with `after`, it reads and sets them once the target has replayed
 * (AfterReplay): a sequence created on the source just before the freeze reaches the target
 * through the replay of its schema change.
 */
export const SyncSequencesInput = OnBoth.extend({ after: AfterReplay.optional() });
/** Input of syncSequences. */
export type SyncSequencesInput = z.output<typeof SyncSequencesInput>;

/** Input of waitForReplay. */
export const WaitForReplayInput = ReplicationLagInput.extend({
  /** The source's final LSN (from currentLsn, after the freeze); marked by waitForReplay itself when absent. */
  lsn: Lsn.optional(),
  /** How long to wait: past it the activity returns `reached: false` (the cutover's deadline). No limit when absent. */
  timeoutMs: z.number().int().min(1).optional(),
});
/** Input of waitForReplay. */
export type WaitForReplayInput = z.output<typeof WaitForReplayInput>;

/** Input of dropReplication. */
export const DropReplicationInput = CreateSubscriptionInput.extend({
  /** The migration whose pgferry.snapshots row goes too (the slot's row goes in any case). */
  migration: z.string().min(1).optional(),
});
/** Input of dropReplication. */
export type DropReplicationInput = z.output<typeof DropReplicationInput>;

/**
 * Input of openReverse, subscribeReverse and closeReverse: a fallback window's replication, from the
 * target (publication and slot there) back to the source (its subscription there).
 */
export const ReverseReplicationInput = OnBoth.extend({
  slot: SlotName,
  publication: ObjectName,
  subscription: ObjectName,
});
/** Input of the reverse replication's steps. */
export type ReverseReplicationInput = z.output<typeof ReverseReplicationInput>;

/** Input of cleanSource: what a migration (by workflow id) may have left on the source. */
export const CleanSourceInput = OnSource.extend({
  migration: z.string().min(1),
  /** Lift the migration's freeze (false past the point of no return: the source stays retired). */
  unfreeze: z.boolean(),
  dryRun: z.boolean(),
});
/** Input of cleanSource. */
export type CleanSourceInput = z.output<typeof CleanSourceInput>;

/** Input of cleanTarget: what a migration (by workflow id) may have left on the target. */
export const CleanTargetInput = OnTarget.extend({
  migration: z.string().min(1),
  /** Columns the copy set to EXTERNAL storage. */
  storage: z.array(TableColumns).readonly(),
  dryRun: z.boolean(),
});
/** Input of cleanTarget. */
export type CleanTargetInput = z.output<typeof CleanTargetInput>;

/** Input of analyzeTarget. */
export const AnalyzeTargetInput = OnTarget.extend({
  /** Tables already analyzed (qualifiedTableName), as the copy's lanes do table by table. */
  skip: Skip.optional(),
});
/** Input of analyzeTarget. */
export type AnalyzeTargetInput = z.output<typeof AnalyzeTargetInput>;

/** What the endpoint switch is told: the migration, both ends (without passwords). */
export const SwitchHookInput = OnBoth.extend({
  migration: z.string().min(1),
  /** An http(s) URL that receives the event as a JSON POST; optional. */
  url: z.string().optional(),
  /** The same on every retry of one switch: the receiver recognises a repeated call by it. */
  delivery: z.string().min(1).optional(),
  /** How long the URL and the worker's command may take, each. */
  timeoutSeconds: z.number().int().min(1).max(86_400).default(300),
  /** Which way the primary moves: to the target (the cutover) or back to the source (a fallback). */
  direction: z.enum(['cutover', 'fallback']).default('cutover'),
});
/** Input of switchEndpoint. */
export type SwitchHookInput = z.output<typeof SwitchHookInput>;

/** Input of notifyTargets: the targets the migration's input names. */
export const NotifyTargetsInput = z.object({ targets: z.array(z.string()).readonly() });
/** Input of notifyTargets. */
export type NotifyTargetsInput = z.output<typeof NotifyTargetsInput>;

/** A Slack message pgferry posted: where, and its timestamp id. */
const ChatMessageRef = z.object({ channel: z.string().min(1), ts: z.string().min(1) });

/**
 * A notification as the workflow built it (domain/notify.ts); checked for its event and delivery
 * id only: the workflow made it from its own state, and the message builders read the rest.
 */
const NotificationValue = z.custom<Notification>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { event?: unknown }).event === 'string' &&
    typeof (value as { delivery?: unknown }).delivery === 'string',
  { message: 'expected a notification with an event and a delivery id' },
);

/** Input of notify: one event to one target. */
export const NotifyInput = z.object({
  /** Checked by the notify activity itself, which names the target's problem under `notify`. */
  target: z.string(),
  notification: NotificationValue,
  /** This target's approval message, once posted: a decision updates it, a reminder replies in its thread. */
  approvalMessage: ChatMessageRef.optional(),
});
/** Input of notify. */
export type NotifyInput = z.output<typeof NotifyInput>;

/** Input of remindApproval. */
export const RemindApprovalInput = z.object({
  name: z.string(),
  secondsLeft: z.number(),
  approvers: z.array(z.string()).readonly(),
});
/** Input of remindApproval. */
export type RemindApprovalInput = z.output<typeof RemindApprovalInput>;
