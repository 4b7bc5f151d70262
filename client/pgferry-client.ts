import * as path from 'node:path';
import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type WorkflowHandle,
} from '@temporalio/client';
import {
  defaultPayloadConverter,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  type Payload,
} from '@temporalio/common';
import {
  WorkflowIdPrefix,
  CONTROL_TASK_QUEUE,
  STATUS_QUERY,
  WorkflowType,
  type SearchAttributeName,
} from '../domain/constants';
import { connectionLabel, parseConnectionUrl } from '../domain/connection';
import { ErrorCode, PgferryError } from '../domain/errors';
import { hasScheme } from '../domain/storage-location';
import {
  BackupInput,
  parseInput,
  ProvisionInput,
  RestoreInput,
  type BackupManifest,
  type BackupOptions,
  type BackupResult,
  type CleanupResult,
  type ProgressFigures,
  type ProgressState,
  type ProvisionOptions,
  type ProvisionResult,
  type RestoreOptions,
  type RestoreResult,
  type WorkflowState,
  type WorkflowStatus,
  type WorkflowSummary,
} from '../domain/contracts';
import { EncryptionCodec, type CodecKey } from '../worker/codec';
import { loadCodecKey, loadConfig } from '../worker/config';
import {
  temporalConnectOptions,
  temporalUnavailable,
  type TemporalConnection,
} from '../worker/temporal-connection';
import { toPgferryError } from './errors';
import { decideFleet, decideWave, fleetStatus, startFleet, type FleetDeps, type FleetStatus } from './fleet';
import type { FleetOptions, FleetResult, FleetState, WaveDecisionInput } from '../domain/fleet';
import { BackupSchedules } from './schedules';
import { buildTimeline, type Timeline } from './history';
import { cleanupInputFromHistory } from './cleanup';
import {
  backupWorkflowId,
  migrationWorkflowId,
  preflightWorkflowId,
  provisionWorkflowId,
  restoreWorkflowId,
  slug,
  stamp,
} from './ids';
import {
  DdlApprovalInput,
  DecisionInput,
  FallbackInput,
  MigrationInput,
  PreflightInput,
  ReleaseInput,
  type DdlApproval,
  type Decision,
  type FallbackReport,
  type FallbackWindowReport,
  type MigrationOptions,
  type MigrationResult,
  type PreflightOptions,
  type PreflightReport,
} from '../domain/migration';

/**
 * How to reach Temporal; each field defaults as the CLI's does: TEMPORAL_* variables over a profile
 * of temporal.toml (read by @temporalio/envconfig, as the Temporal CLI and SDKs read it: address,
 * namespace, API key, TLS and mTLS files), and the codec key.
 */
export interface ConnectOptions {
  /** Overrides the address of the profile and TEMPORAL_ADDRESS; TLS and API key still apply. */
  readonly address?: string;
  readonly namespace?: string;
  /** The profile of temporal.toml; TEMPORAL_PROFILE, else `default` when the file has it. */
  readonly profile?: string;
  /** A connection already loaded (loadTemporalConnection); the environment's is not read then. */
  readonly temporal?: TemporalConnection;
  /** The codec key; from PGFERRY_CODEC_KEY or the key file when absent. */
  readonly codecKey?: CodecKey;
  /** The environment to read defaults from. */
  readonly env?: NodeJS.ProcessEnv;
}

/** A started workflow: its id, its status and, when awaited, its result. */
export interface WorkflowRun<T> {
  readonly workflowId: string;
  /** Waits for the end; a failure is thrown as a PgferryError with the stable code. */
  result(): Promise<T>;
  status(): Promise<WorkflowStatus>;
}

/** One backup in a storage location's catalog. */
export interface BackupCatalogEntry {
  readonly backup: string;
  readonly name: string;
  readonly source: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly bytes: number;
  readonly rows: number;
  readonly tables: number;
  readonly serverVersion: string;
}

const TYPES = Object.values(WorkflowType);
/**
 * Cleanup runs' ids start with this; not one of the WorkflowIdPrefix, so that `status NAME` still
 * finds a migration whose name starts with `cleanup-`.
 */
const CLEANUP_ID_PREFIX = 'cleanup-';
const QUERY_DEADLINE_MS = 3000;

function stateOf(status: string): WorkflowState {
  switch (status) {
    case 'RUNNING':
      return 'running';
    case 'COMPLETED':
      return 'completed';
    case 'CANCELLED':
      return 'cancelled';
    default:
      return 'failed';
  }
}

/** The typed entry point for programs: the same operations as the CLI, which is a thin layer over it. */
export class PgferryClient {
  private constructor(
    private readonly connection: Connection,
    private readonly client: Client,
    private readonly codec: EncryptionCodec,
    /** The address of the Temporal frontend. */
    readonly address: string,
  ) {}

  /** Connects to Temporal with pgferry's encryption codec. */
  static async connect(options: ConnectOptions = {}): Promise<PgferryClient> {
    const config = loadConfig(options.env ?? process.env, { profile: options.profile });
    const temporal = {
      ...(options.temporal ?? config.temporal),
      ...(options.address !== undefined ? { address: options.address } : {}),
    };
    const address = temporal.address;
    const codec = new EncryptionCodec(options.codecKey ?? (await loadCodecKey(config)));
    // Lazy, then connected: a connection that fails is closed here, or its channel would keep
    // retrying in the background (Connection.connect leaves it open when it throws).
    const connection = Connection.lazy({ ...temporalConnectOptions(temporal), connectTimeout: 5000 });
    try {
      await connection.ensureConnected();
    } catch (err) {
      await connection.close().catch(() => undefined);
      // The server answered but refused the caller (credentials, authorizer): say that instead.
      const cause = (err as { cause?: { code?: number } }).cause;
      if (cause?.code === 16 || cause?.code === 7) throw toPgferryError(cause);
      throw temporalUnavailable(err, temporal);
    }
    const client = new Client({
      connection,
      namespace: options.namespace ?? temporal.namespace,
      dataConverter: { payloadCodecs: [codec] },
    });
    return new PgferryClient(connection, client, codec, address);
  }

  /** Starts a backup (`pg_dump -Fd -j N` plus a manifest) into a storage location on the worker. */
  async backup(options: BackupOptions): Promise<WorkflowRun<BackupResult>> {
    const input = checkBackupOptions(options);
    return this.startOnDatabase<BackupResult>(WorkflowType.backup, input, [input.source, 'source'], {
      id: backupWorkflowId,
      summary: (label) => `backup ${label} → ${input.to}`,
    });
  }

  /** Starts a restore of a backup into a target database (created when absent). */
  async restore(options: RestoreOptions): Promise<WorkflowRun<RestoreResult>> {
    const input = checkRestoreOptions(options);
    return this.startOnDatabase<RestoreResult>(WorkflowType.restore, input, [input.target, 'target'], {
      id: restoreWorkflowId,
      summary: (label) => `restore ${input.from} → ${label}`,
    });
  }

  /** Makes a target database (or a local cluster) exist; running it again for the same target attaches. */
  async provision(options: ProvisionOptions): Promise<WorkflowRun<ProvisionResult>> {
    const input = checkProvisionOptions(options);
    const label =
      input.provider === 'local'
        ? connectionLabel(parseConnectionUrl(input.target, 'target'))
        : `local-cluster:${input.cluster}/${input.database}`;
    return this.start<ProvisionResult>(
      WorkflowType.provision,
      provisionWorkflowId(label),
      input,
      `provision ${label}`,
    );
  }

  /**
   * Starts a migration, workflow id `migration-NAME`. Running it again with the same name attaches
   * to the existing migration (running or finished) instead of starting a second one.
   */
  async migrate(options: MigrationOptions): Promise<WorkflowRun<MigrationResult>> {
    const input = checkMigrationOptions(options);
    const label = `${connectionLabel(parseConnectionUrl(input.source, 'source'))} → ${connectionLabel(parseConnectionUrl(input.target, 'target'))}`;
    return this.start<MigrationResult>(
      WorkflowType.migration,
      migrationWorkflowId(input.name),
      input,
      `${input.name}: ${label}, ${input.mode}`,
      {
        rejectDuplicate: true,
      },
    );
  }

  /** Runs the preflight checks on both servers (through a worker) and returns the report; nothing is changed. */
  async preflight(options: PreflightOptions): Promise<PreflightReport> {
    const input = checkPreflightOptions(options);
    const label = connectionLabel(parseConnectionUrl(input.source, 'source'));
    const run = await this.start<PreflightReport>(
      WorkflowType.preflight,
      preflightWorkflowId(label, new Date()),
      input,
      `preflight ${label}`,
    );
    return run.result();
  }

  /** Approves a migration waiting at its gate (a Temporal Update; refused with ApprovalRefused when not allowed). */
  async approve(name: string, decision: DecisionInput): Promise<Decision> {
    return this.decide(name, 'approve', decision);
  }

  /** Rejects a migration waiting at its gate; it rolls back. A reason is required. */
  async reject(name: string, decision: DecisionInput): Promise<Decision> {
    return this.decide(name, 'reject', decision);
  }

  /**
   * Approves one held schema change of an online migration started with --ddl hold (a Temporal
   * Update, kept in its history, with the migration's approver rules): the target runs it when
   * the replication reaches it. Refused (ApprovalRefused, naming the field) for a change that was
   * not captured, is on the target already, or a migration that does not hold its changes.
   */
  async approveDdl(name: string, approval: DdlApprovalInput): Promise<DdlApproval> {
    const input = checkDdlApproval(approval);
    const id = migrationWorkflowId(name);
    try {
      return await this.client.workflow
        .getHandle(id)
        .executeUpdate<DdlApproval, [DdlApprovalInput]>('approveDdl', { args: [input] });
    } catch (err) {
      throw toPgferryError(err, { id, address: this.address });
    }
  }

  /**
   * Moves an online migration's application back to its source in the fallback window (a Temporal
   * Update with the migration's approver rules, kept in its history): returns once the source is
   * the primary again, with the fallback's downtime. Refused (ApprovalRefused) when the window is
   * not open or the person may not; FallbackFailed when it did not go through (the target is the
   * primary still, the window open).
   */
  async fallback(name: string, call: FallbackInput): Promise<FallbackReport> {
    return this.windowUpdate<FallbackReport, FallbackInput>(name, 'fallback', checkFallback(call));
  }

  /**
   * Ends an online migration's fallback window now (a Temporal Update): the reverse replication is
   * dropped and the migration ends. Returns the window's report.
   */
  async release(name: string, call: ReleaseInput = {}): Promise<FallbackWindowReport> {
    const input = parseInput(ReleaseInput, call, 'release');
    return this.windowUpdate<FallbackWindowReport, ReleaseInput>(name, 'release', input);
  }

  private async windowUpdate<R, I>(name: string, update: 'fallback' | 'release', input: I): Promise<R> {
    const id = migrationWorkflowId(name);
    try {
      return await this.client.workflow.getHandle(id).executeUpdate<R, [I]>(update, { args: [input] });
    } catch (err) {
      throw toPgferryError(err, { id, address: this.address });
    }
  }

  /** The timeline and audit trail of a workflow (a migration's name works too), rebuilt from its Temporal history. */
  async history(idOrName: string): Promise<Timeline> {
    const { id } = await this.status(idOrName);
    try {
      const { events } = await this.client.workflow.getHandle(id).fetchHistory();
      return await buildTimeline(id, events ?? [], this.codec);
    } catch (err) {
      throw toPgferryError(err, { id, address: this.address });
    }
  }

  /**
   * Finds and removes what a migration that has ended left behind (slot, publication, subscription,
   * fence slot, freeze, column storage, ledger), through a `cleanup` workflow on a worker (whose
   * secrets resolve the URLs' passwords). Refused while the migration runs; with `terminate`, a
   * migration whose rollback keeps failing is terminated first. A migration past its point of no
   * return keeps its source frozen. With `dryRun`, only reports. Idempotent.
   */
  async cleanup(
    name: string,
    options: { dryRun?: boolean; terminate?: boolean } = {},
  ): Promise<CleanupResult> {
    const id = migrationWorkflowId(name);
    const handle = this.client.workflow.getHandle(id);
    try {
      const description = await handle.describe();
      if (description.status.name === 'RUNNING') await this.endForCleanup(handle, name, options);
      const { events } = await handle.fetchHistory();
      const input = await cleanupInputFromHistory(id, events ?? [], this.codec, options.dryRun ?? false);
      const run = await this.start<CleanupResult>(
        WorkflowType.cleanup,
        `${CLEANUP_ID_PREFIX}${slug(name)}-${stamp(new Date())}`,
        input,
        `${options.dryRun ? 'look for' : 'clean up'} what ${name} left`,
      );
      return await run.result();
    } catch (err) {
      throw toPgferryError(err, { id, address: this.address });
    }
  }

  /** A running migration is cleaned up only when asked to terminate it, and only in a rollback. */
  private async endForCleanup(
    handle: WorkflowHandle,
    name: string,
    options: { dryRun?: boolean; terminate?: boolean },
  ): Promise<void> {
    const state = await this.queryState(handle);
    const where = state ? ` (stage ${state.stage}, state ${state.state})` : '';
    if (options.terminate && !options.dryRun && state?.stage === 'rollback') {
      await handle.terminate(
        'pgferry cleanup --terminate: the rollback was given up; cleanup removes what is left',
      );
      return;
    }
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `name: migration ${name} is still running${where}; cleaning up now would pull its objects from under it`,
      {
        field: 'name',
        fix:
          state?.stage === 'rollback'
            ? `its rollback is retried until it succeeds; to give up on it, run \`pgferry cleanup ${name} --terminate\``
            : `wait until it ends, or \`pgferry cancel ${name}\` (it rolls back), then run cleanup if anything is left`,
      },
    );
  }

  /**
   * Starts a fleet, workflow id `fleet-NAME`: many databases, each a child migration, in waves.
   * Resolves once its plan is made (a database the source server lacks is InvalidInput, before any
   * member starts); running it again with the same name attaches.
   */
  async fleet(options: FleetOptions): Promise<WorkflowRun<FleetResult>> {
    return this.attach<FleetResult>(await startFleet(this.fleetDeps(), options));
  }

  /** Where a fleet and each member stand: wave, stage, state, rows, lag, downtime. */
  async fleetStatus(name: string): Promise<FleetStatus> {
    return fleetStatus(this.fleetDeps(), name);
  }

  /** Approves a fleet's wave waiting with all its members at their gate; each member cuts over. */
  async fleetApprove(name: string, decision: WaveDecisionInput): Promise<Decision> {
    return decideWave(this.fleetDeps(), name, 'approve', decision);
  }

  /** Rejects a fleet's wave: its members roll back and the fleet ends. A reason is required. */
  async fleetReject(name: string, decision: WaveDecisionInput): Promise<Decision> {
    return decideWave(this.fleetDeps(), name, 'reject', decision);
  }

  /** Runs a failed member of a fleet again (the fleet's halt lifts once its wave is within budget). */
  async fleetRetry(name: string, member: string, by: string): Promise<FleetState> {
    return decideFleet(this.fleetDeps(), name, { action: 'retry', member, by });
  }

  /** Answers a halted fleet: `skip` its failed members and go on, or `abort` the fleet. */
  async fleetDecide(
    name: string,
    action: 'skip' | 'abort',
    by: string,
    reason?: string,
  ): Promise<FleetState> {
    return decideFleet(this.fleetDeps(), name, { action, by, ...(reason ? { reason } : {}) });
  }

  private fleetDeps(): FleetDeps {
    return { client: this.client, address: this.address, status: (id) => this.status(id) };
  }

  /** A handle on a workflow started earlier. */
  attach<T>(workflowId: string): WorkflowRun<T> {
    return this.run<T>(this.client.workflow.getHandle(workflowId));
  }

  /** Where a workflow stands: stage, state, progress figures, and its result or error once closed. A migration's name works too. */
  async status(idOrName: string): Promise<WorkflowStatus> {
    let workflowId = idOrName;
    let handle = this.client.workflow.getHandle(workflowId);
    let description;
    try {
      description = await handle.describe();
    } catch (err) {
      const prefixed = Object.values(WorkflowIdPrefix).some((p: string) => idOrName.startsWith(p));
      if (!(err instanceof WorkflowNotFoundError) || prefixed)
        throw toPgferryError(err, { id: workflowId, address: this.address });
      workflowId = migrationWorkflowId(idOrName);
      handle = this.client.workflow.getHandle(workflowId);
      try {
        description = await handle.describe();
      } catch (again) {
        throw toPgferryError(again, { id: idOrName, address: this.address });
      }
    }
    const sa = description.searchAttributes;
    const base = {
      id: workflowId,
      type: description.type,
      startedAt: description.startTime.toISOString(),
      ...(description.closeTime ? { closedAt: description.closeTime.toISOString() } : {}),
      ...(description.closeTime
        ? { durationMs: description.closeTime.getTime() - description.startTime.getTime() }
        : {}),
    };
    const fallbackStage = saString(sa, 'PgferryStage') ?? 'unknown';
    if (description.status.name === 'RUNNING') {
      const state = await this.queryState(handle);
      const progress = withRates(
        {
          ...(state?.progress ?? {}),
          ...(await this.heartbeatFigures(description.raw.pendingActivities ?? [])),
        },
        state,
        Date.now() - description.startTime.getTime(),
      );
      return {
        ...base,
        stage: state?.stage ?? fallbackStage,
        stages: state?.stages ?? [],
        ...(state?.details ? { details: state.details } : {}),
        // The query can say completed a moment before the execution closes: until it has, it is running.
        state: state?.state === 'waiting' || state?.state === 'needs_attention' ? state.state : 'running',
        progress,
      };
    }
    const closedState = stateOf(description.status.name);
    if (closedState === 'completed') {
      const result: unknown = await handle.result();
      const state = await this.queryState(handle);
      const rolledBack = saString(sa, 'PgferryState') === 'rolled_back';
      return {
        ...base,
        stage: rolledBack ? 'rollback' : 'done',
        stages: state?.stages ?? [],
        state: rolledBack ? 'rolled_back' : 'completed',
        progress: state?.progress ?? {},
        ...(state?.details ? { details: state.details } : {}),
        result,
      };
    }
    let error: WorkflowStatus['error'];
    try {
      await handle.result();
    } catch (err) {
      const e = toPgferryError(err, { id: workflowId });
      error = { code: e.code, message: e.message, field: e.field, fix: e.fix };
    }
    const state = await this.queryState(handle);
    const rolledBack = saString(sa, 'PgferryState') === 'rolled_back';
    return {
      ...base,
      stage: state?.stage ?? fallbackStage,
      stages: state?.stages ?? [],
      state: rolledBack ? 'rolled_back' : closedState,
      progress: state?.progress ?? {},
      ...(state?.details ? { details: state.details } : {}),
      error,
    };
  }

  /**
   * The state a workflow is in, from its description alone (no query, so no worker replays a
   * closed history): the cheap check after its result has come back.
   */
  async state(workflowId: string): Promise<WorkflowState> {
    const handle = this.client.workflow.getHandle(workflowId);
    let description;
    try {
      description = await handle.describe();
    } catch (err) {
      throw toPgferryError(err, { id: workflowId, address: this.address });
    }
    const state = stateOf(description.status.name);
    return state !== 'running' && saString(description.searchAttributes, 'PgferryState') === 'rolled_back'
      ? 'rolled_back'
      : state;
  }

  /** pgferry's workflows, newest first. */
  async list(options: { limit?: number } = {}): Promise<WorkflowSummary[]> {
    const out: WorkflowSummary[] = [];
    const limit = options.limit ?? 50;
    const query = `TaskQueue = '${CONTROL_TASK_QUEUE}'`;
    try {
      for await (const wf of this.client.workflow.list({ query })) {
        if (!(TYPES as string[]).includes(wf.type)) continue;
        const sa = wf.searchAttributes;
        const closed = stateOf(wf.status.name);
        const saState = saString(sa, 'PgferryState') ?? '';
        out.push({
          id: wf.workflowId,
          type: wf.type,
          state:
            closed === 'running'
              ? ((saState || 'running') as WorkflowState)
              : saState === 'rolled_back'
                ? 'rolled_back'
                : closed,
          stage: saString(sa, 'PgferryStage') ?? '',
          ...optional('source', saString(sa, 'PgferrySource')),
          ...optional('target', saString(sa, 'PgferryTarget')),
          startedAt: wf.startTime.toISOString(),
          ...(wf.closeTime ? { closedAt: wf.closeTime.toISOString() } : {}),
        });
        if (out.length >= limit) break;
      }
    } catch (err) {
      throw toPgferryError(err, { address: this.address });
    }
    return out;
  }

  /** Requests cancellation; the workflow cleans up and ends `cancelled`. */
  async cancel(workflowId: string): Promise<void> {
    try {
      await this.client.workflow.getHandle(workflowId).cancel();
    } catch (err) {
      throw toPgferryError(err, { id: workflowId, address: this.address });
    }
  }

  /** Backup schedules (`pgferry schedule …`): Temporal Schedules that back up, drill and prune. */
  get schedules(): BackupSchedules {
    return new BackupSchedules(this.client, this.address);
  }

  /** The backups in a storage location, newest first, read from their manifests. */
  async listBackups(location: string): Promise<BackupCatalogEntry[]> {
    return listBackups(location);
  }

  /** Closes the connection to Temporal. */
  async close(): Promise<void> {
    await this.connection.close();
  }

  private async decide(
    name: string,
    update: 'approve' | 'reject',
    decision: DecisionInput,
  ): Promise<Decision> {
    const input = checkDecision(update, decision);
    const id = migrationWorkflowId(name);
    try {
      return await this.client.workflow
        .getHandle(id)
        .executeUpdate<Decision, [DecisionInput]>(update, { args: [input] });
    } catch (err) {
      throw toPgferryError(err, { id, address: this.address });
    }
  }

  /**
   * Starts a workflow about one database (a backup's source, a restore's target): its id made from
   * the database's name and the time now, its summary naming the database's server.
   */
  private startOnDatabase<T>(
    type: WorkflowType,
    input: unknown,
    [url, role]: [string, 'source' | 'target'],
    name: { id: (database: string, at: Date) => string; summary: (label: string) => string },
  ): Promise<WorkflowRun<T>> {
    const spec = parseConnectionUrl(url, role);
    return this.start<T>(
      type,
      name.id(spec.database, new Date()),
      input,
      name.summary(connectionLabel(spec)),
    );
  }

  private async start<T>(
    type: WorkflowType,
    workflowId: string,
    input: unknown,
    summary: string,
    options: { rejectDuplicate?: boolean } = {},
  ): Promise<WorkflowRun<T>> {
    try {
      const handle = await this.client.workflow.start(type, {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId,
        args: [input],
        staticSummary: summary,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        ...(options.rejectDuplicate ? { workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE } : {}),
      });
      return this.run<T>(handle);
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return this.attach<T>(workflowId);
      throw toPgferryError(err, { id: workflowId, address: this.address });
    }
  }

  private run<T>(handle: WorkflowHandle): WorkflowRun<T> {
    return {
      workflowId: handle.workflowId,
      result: async () => {
        try {
          return (await handle.result()) as T;
        } catch (err) {
          throw toPgferryError(err, { id: handle.workflowId, address: this.address });
        }
      },
      status: () => this.status(handle.workflowId),
    };
  }

  private async queryState(handle: WorkflowHandle): Promise<ProgressState | undefined> {
    try {
      // A closed workflow is queried by replay on a worker: without one, give up quickly.
      return await this.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, () =>
        handle.query<ProgressState>(STATUS_QUERY),
      );
    } catch {
      // No worker to answer (or a workflow that failed before it set its handler): fall back to search attributes.
      return undefined;
    }
  }

  private async heartbeatFigures(
    pending: { heartbeatDetails?: { payloads?: Payload[] | null } | null }[],
  ): Promise<ProgressFigures> {
    const figures: ProgressFigures = {};
    for (const activity of pending) {
      const payloads = activity.heartbeatDetails?.payloads;
      if (!payloads || payloads.length === 0) continue;
      try {
        const [decoded] = await this.codec.decode(payloads);
        if (decoded) Object.assign(figures, defaultPayloadConverter.fromPayload<ProgressFigures>(decoded));
      } catch {
        // Details this process cannot decode only cost a figure.
      }
    }
    return figures;
  }
}

/** A relative directory resolved against the working directory; a URL (azblob://…, or any other scheme, refused later) as it is. */
function localPathResolved(location: string | undefined): string | undefined {
  return location && !hasScheme(location) ? path.resolve(location) : location;
}

/** Parses backup options as `backup()` will, without Temporal: bad input fails before anything starts. */
export function checkBackupOptions(options: BackupOptions): BackupInput {
  return parseInput(BackupInput, { ...options, to: localPathResolved(options.to) }, 'backup');
}

/** Parses restore options as `restore()` will, without Temporal. */
export function checkRestoreOptions(options: RestoreOptions): RestoreInput {
  return parseInput(RestoreInput, { ...options, from: localPathResolved(options.from) }, 'restore');
}

/** Parses migration options as `migrate()` will, without Temporal (the workflow parses them again). */
export function checkMigrationOptions(options: MigrationOptions): MigrationInput {
  return parseInput(MigrationInput, options, 'migration');
}

/** Parses preflight options as `preflight()` will, without Temporal. */
export function checkPreflightOptions(options: PreflightOptions): PreflightInput {
  return parseInput(PreflightInput, options, 'preflight');
}

/**
 * Parses a decision as `approve()` / `reject()` will, before it reaches the gate: a malformed one
 * is InvalidInput naming its field here; whether the gate takes it (approvers, readiness) is the
 * workflow's to say (ApprovalRefused).
 */
export function checkDecision(update: 'approve' | 'reject', decision: DecisionInput): DecisionInput {
  const input = parseInput(DecisionInput, decision, 'decision');
  if (update === 'reject' && !input.reason?.trim()) {
    throw new PgferryError(ErrorCode.InvalidInput, 'reason: a rejection needs a reason', {
      field: 'reason',
      fix: 'say why it is rejected (--reason "…"); it is kept in the migration\'s history',
    });
  }
  return input;
}

/** Parses a call to fall back as `fallback()` will: a malformed one is InvalidInput naming its field. */
export function checkFallback(call: FallbackInput): FallbackInput {
  return parseInput(FallbackInput, call, 'fallback');
}

/** Parses the approval of a held schema change as `approveDdl()` will: a malformed one is InvalidInput naming its field. */
export function checkDdlApproval(approval: DdlApprovalInput): DdlApprovalInput {
  return parseInput(DdlApprovalInput, approval, 'ddl-approval');
}

/** Parses provision options as `provision()` will, without Temporal. */
export function checkProvisionOptions(options: ProvisionOptions): ProvisionInput {
  return parseInput(ProvisionInput, options, 'provision');
}

/** Adds throughput, the copy's ETA and the replication lag to the figures of a running workflow. */
function withRates(
  progress: ProgressFigures,
  state: ProgressState | undefined,
  elapsedMs: number,
): ProgressFigures {
  const out: ProgressFigures = { ...progress };
  // Waiting for a person moves no bytes: a rate over that time would only fall.
  if (progress.bytes !== undefined && elapsedMs > 0 && state?.state !== 'waiting')
    out.bytesPerSecond = Math.round((progress.bytes / elapsedMs) * 1000);
  const { tables, tablesDone } = progress;
  if (state?.stage === 'copy' && tables && tablesDone && tablesDone < tables) {
    out.etaSeconds = Math.round(((elapsedMs / 1000) * (tables - tablesDone)) / tablesDone);
  }
  const lag = state?.details?.lag as { lagBytes?: number; lagSeconds?: number | null } | undefined;
  if (lag?.lagBytes !== undefined) out.lagBytes = lag.lagBytes;
  if (lag && 'lagSeconds' in lag) out.lagSeconds = lag.lagSeconds ?? null;
  return out;
}

/** A Keyword search attribute's value, when it is set. */
function saString(
  attributes: Record<string, unknown> | undefined,
  name: SearchAttributeName,
): string | undefined {
  const values = attributes?.[name];
  const first: unknown = Array.isArray(values) ? values[0] : undefined;
  return typeof first === 'string' ? first : undefined;
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/**
 * The data converter pgferry's workers use (the AES-256-GCM codec with the configured key): give it
 * to your own Worker or Client when your workflow runs pgferry's workflows as children, so that
 * their encrypted results can be read.
 */
export async function pgferryDataConverter(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ payloadCodecs: EncryptionCodec[] }> {
  return { payloadCodecs: [new EncryptionCodec(await loadCodecKey(loadConfig(env)))] };
}

/** The backups in a storage location, newest first; reads the storage directly, no Temporal needed. */
export async function listBackups(location: string): Promise<BackupCatalogEntry[]> {
  // The storage clients (Azure's SDK among them) load here: a migration's start does not need them.
  const { storageFor } = await import('../activities/storage/locate.js');
  const entries = await storageFor(location, process.env, 'dir').list();
  return entries.map(({ backup, manifest }) => catalogEntry(backup, manifest));
}

function catalogEntry(backup: string, m: BackupManifest): BackupCatalogEntry {
  return {
    backup,
    name: m.name,
    source: m.source,
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    bytes: m.totalBytes,
    rows: m.totalRows,
    tables: m.tables.length,
    serverVersion: m.serverVersion,
  };
}
