import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { CONTROL_TASK_QUEUE, WorkflowIdPrefix, WorkflowType } from '../domain/constants';
import { parseInput, type WorkflowState, type WorkflowStatus } from '../domain/contracts';
import { ErrorCode, PgferryError } from '../domain/errors';
import {
  FleetDecisionInput,
  FleetInput,
  serverUrl,
  WaveDecisionInput,
  type FleetAwaiting,
  type FleetOptions,
  type FleetResult,
  type FleetState,
  type MemberState,
} from '../domain/fleet';
import type { Decision } from '../domain/migration';
import type { RolesReport } from '../domain/roles';
import { toPgferryError } from './errors';

/** The workflow id of a fleet: `fleet-NAME` (a full id is accepted as it is). */
export function fleetWorkflowId(nameOrId: string): string {
  return nameOrId.startsWith(WorkflowIdPrefix.fleet) ? nameOrId : `${WorkflowIdPrefix.fleet}${nameOrId}`;
}

/** Parses fleet options as `fleet()` will, without Temporal: bad input fails before anything starts. */
export function checkFleetOptions(options: FleetOptions): FleetInput {
  if ((options as { carried?: unknown }).carried !== undefined)
    throw new PgferryError(ErrorCode.InvalidInput, 'carried: set by the fleet itself', {
      field: 'carried',
      fix: 'leave out carried: a fleet keeps it between its waves',
    });
  return parseInput(
    FleetInput,
    {
      ...options,
      ...(options.sourceServer ? { sourceServer: serverUrl(options.sourceServer) } : {}),
      ...(options.targetServer ? { targetServer: serverUrl(options.targetServer) } : {}),
    },
    'fleet',
  );
}

/** One line of `pgferry fleet status`: a member, its wave, and its migration's figures. */
export interface FleetMemberStatus {
  readonly database: string;
  /** The member migration's name (`pgferry status NAME`). */
  readonly name: string;
  readonly wave: number;
  /** Where the fleet has it: pending, running, at_gate, completed, failed, rejected, skipped, not_started. */
  readonly member: MemberState;
  readonly stage: string;
  readonly state: WorkflowState | 'pending';
  readonly attempts: number;
  readonly rows?: number | undefined;
  readonly lagBytes?: number | undefined;
  readonly lagSeconds?: number | null | undefined;
  readonly downtimeMs?: number | undefined;
  readonly error?: { readonly code: string; readonly message: string } | undefined;
}

/** What `pgferry fleet status NAME` and `PgferryClient.fleetStatus()` report. */
export interface FleetStatus {
  readonly id: string;
  readonly name: string;
  readonly state: WorkflowState;
  readonly stage: string;
  readonly mode?: string | undefined;
  readonly approve?: string | undefined;
  readonly wave?: number | undefined;
  readonly waves?: number | undefined;
  readonly awaiting?: FleetAwaiting | undefined;
  readonly outcome?: FleetResult['outcome'] | undefined;
  readonly error?: WorkflowStatus['error'];
  readonly members: FleetMemberStatus[];
  /** What the copy of the roles did, one report per server pair (roles copy or only). */
  readonly roles?: RolesReport[] | undefined;
}

/** What the fleet operations need from PgferryClient. */
export interface FleetDeps {
  readonly client: Client;
  readonly address: string;
  status(id: string): Promise<WorkflowStatus>;
}

/**
 * Starts a fleet (`fleet-NAME`; the same name again attaches) and waits until its plan is made: a
 * database the source server does not have, or a member whose input is bad, is thrown here as
 * InvalidInput before any member starts.
 */
export async function startFleet(deps: FleetDeps, options: FleetOptions): Promise<string> {
  const input = checkFleetOptions(options);
  const id = fleetWorkflowId(input.name);
  try {
    const handle = await deps.client.workflow
      .start(WorkflowType.fleet, {
        taskQueue: CONTROL_TASK_QUEUE,
        workflowId: id,
        args: [input],
        staticSummary: `fleet ${input.name}: ${input.mode}, waves of ${input.waveSize}, approve ${input.approve}`,
        // A fleet refused at its plan may be started again under its name; any other attaches.
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      })
      .catch((err: unknown) => {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return deps.client.workflow.getHandle(id);
        throw err;
      });
    // Attached or started, its plan is waited for: a refused plan is this call's error too.
    await planned(deps, handle);
    return id;
  } catch (err) {
    throw toPgferryError(err, { id, address: deps.address });
  }
}

/** How long starting a fleet waits for its plan before it returns anyway. */
const PLAN_WAIT_MS = 60_000;

/** Waits until the fleet has left its plan stage; its failure there is thrown. */
async function planned(deps: FleetDeps, handle: WorkflowHandle): Promise<void> {
  // Without a worker the plan never starts: past this, the caller goes on and status tells.
  const deadline = Date.now() + PLAN_WAIT_MS;
  while (Date.now() < deadline) {
    const status = await deps.status(handle.workflowId);
    if (status.state !== 'running' || status.stage !== 'plan') {
      const e = status.error;
      if (e) throw new PgferryError(e.code as ErrorCode, e.message, { field: e.field, fix: e.fix });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Where a fleet and each of its members stand. */
export async function fleetStatus(deps: FleetDeps, name: string): Promise<FleetStatus> {
  const id = fleetWorkflowId(name);
  const status = await deps.status(id);
  const handle = deps.client.workflow.getHandle(id);
  const state = await fleetState(handle, status);
  const members = await inBatches(state?.members ?? [], 8, async (m) => memberStatus(deps, m));
  return {
    id,
    name: id.slice(WorkflowIdPrefix.fleet.length),
    // The two reads are moments apart: while it runs, the fleet's own query says whether it waits.
    state:
      state && (status.state === 'running' || status.state === 'waiting')
        ? state.awaiting
          ? 'waiting'
          : 'running'
        : status.state,
    stage: status.stage,
    ...(state
      ? {
          mode: state.mode,
          approve: state.approve,
          wave: state.wave,
          waves: state.waves,
          awaiting: state.awaiting,
        }
      : {}),
    ...(state?.outcome ? { outcome: state.outcome } : {}),
    ...(status.error ? { error: status.error } : {}),
    members,
    ...(state?.roles ? { roles: state.roles } : {}),
  };
}

/** The fleet's own state: its query while it runs, its result once it has completed. */
async function fleetState(handle: WorkflowHandle, status: WorkflowStatus): Promise<FleetState | undefined> {
  if (status.state === 'completed') {
    const result = status.result as FleetResult;
    return {
      name: result.name,
      mode: '',
      approve: 'auto',
      wave: result.waves,
      waves: result.waves,
      outcome: result.outcome,
      members: result.members,
      ...(result.roles ? { roles: result.roles } : {}),
    };
  }
  if (status.state !== 'running' && status.state !== 'waiting') return undefined;
  try {
    return await handle.query<FleetState>('fleet');
  } catch {
    return undefined;
  }
}

async function memberStatus(deps: FleetDeps, m: FleetState['members'][number]): Promise<FleetMemberStatus> {
  const base = {
    database: m.database,
    name: m.name,
    wave: m.wave,
    member: m.record.state,
    attempts: m.record.attempts,
    ...(m.record.error ? { error: m.record.error } : {}),
  };
  if (m.record.attempts === 0) return { ...base, stage: '-', state: 'pending' };
  const s = await deps.status(`${WorkflowIdPrefix.migration}${m.name}`).catch(() => undefined);
  const downtime = (s?.details as { downtimeMs?: number } | undefined)?.downtimeMs ?? m.record.downtimeMs;
  return {
    ...base,
    stage: s?.stage ?? '?',
    state: s?.state ?? 'failed',
    rows: s?.progress.rows ?? m.record.rows,
    ...(s?.progress.lagBytes === undefined ? {} : { lagBytes: s.progress.lagBytes }),
    ...(s?.progress.lagSeconds === undefined ? {} : { lagSeconds: s.progress.lagSeconds }),
    ...(downtime === undefined ? {} : { downtimeMs: downtime }),
  };
}

async function inBatches<T, R>(items: readonly T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

/** Approves or rejects a wave of a fleet waiting for it (a Temporal Update; ApprovalRefused when not allowed). */
export async function decideWave(
  deps: FleetDeps,
  name: string,
  outcome: 'approve' | 'reject',
  decision: WaveDecisionInput,
): Promise<Decision> {
  const input = parseInput(WaveDecisionInput, decision, 'decision');
  if (outcome === 'reject' && !input.reason?.trim())
    throw new PgferryError(ErrorCode.InvalidInput, 'reason: a rejection needs a reason', {
      field: 'reason',
      fix: 'say why the wave is rejected (--reason "…"); its members roll back',
    });
  return update(deps, name, outcome === 'approve' ? 'approveWave' : 'rejectWave', input);
}

/** Retries a failed member, or skips the failed members of a halted wave, or aborts the fleet. */
export async function decideFleet(
  deps: FleetDeps,
  name: string,
  decision: FleetDecisionInput,
): Promise<FleetState> {
  const input = parseInput(FleetDecisionInput, decision, 'decision');
  if (input.action === 'retry' && !input.member)
    throw new PgferryError(ErrorCode.InvalidInput, 'member: required to retry', {
      field: 'member',
      fix: 'add --member DATABASE (see pgferry fleet status NAME)',
    });
  return update(deps, name, 'fleetDecision', input);
}

async function update<R>(deps: FleetDeps, name: string, update: string, input: unknown): Promise<R> {
  const id = fleetWorkflowId(name);
  try {
    return await deps.client.workflow.getHandle(id).executeUpdate<R, [unknown]>(update, { args: [input] });
  } catch (err) {
    throw toPgferryError(err, { id, address: deps.address });
  }
}
