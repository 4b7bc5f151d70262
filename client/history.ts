import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { EncryptionCodec } from '../worker/codec';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** One stage of a workflow with its start, end and duration, as the history shows it. */
export interface StageSpan {
  stage: string;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
}

/** One activity (step) with its attempts and outcome. */
export interface StepSpan {
  step: string;
  scheduledAt: string;
  /** When its last attempt started (a worker picked it up). */
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  attempt?: number;
  outcome: 'completed' | 'failed' | 'timed_out' | 'cancelled' | 'running';
  error?: { code: string; message: string };
}

/** A decision that reached the workflow: an Update (validated before it was accepted) or a Signal. */
export interface DecisionEvent {
  at: string;
  channel: 'update' | 'signal';
  outcome: 'approved' | 'rejected';
  by?: string;
  reason?: string;
  via?: Record<string, string>;
}

/**
 * A call at the fallback window (the `fallback` or `release` Update): who, when, why, and how it
 * ended — for a fallback, the downtime of the switch back, or why it did not go through.
 */
export interface WindowEvent {
  at: string;
  kind: 'fallback' | 'release';
  by?: string;
  reason?: string;
  via?: Record<string, string>;
  /** When the Update completed; absent while it runs. */
  endedAt?: string;
  outcome: 'running' | 'done' | 'failed';
  /** A fallback's outage: the target frozen → the source writable, on the target's clock. */
  downtimeMs?: number;
  /** Why a fallback did not go through. */
  problem?: string;
  /** The Update's id, which pairs its acceptance with its completion. */
  updateId?: string;
}

/**
 * One copy batch (a copyChunks step) as its completion recorded it. The history keeps no
 * heartbeats, so this is the finest copy progress it holds: rows and bytes per batch, start to end.
 */
export interface CopySample {
  startedAt: string;
  endedAt: string;
  rows: number;
  bytes: number;
  /** Chunks the batch copied, and chunks it found already committed in the ledger. */
  copied: number;
  skipped: number;
}

/** The replication's lag as one watch of it (a watchReplication step) returned it. */
export interface LagSample {
  at: string;
  lagBytes: number | null;
  lagSeconds: number | null;
  ready: boolean;
}

/** A workflow's timeline and audit trail, rebuilt from its Temporal history (the source of truth). */
export interface Timeline {
  id: string;
  type: string;
  startedAt: string;
  closedAt?: string;
  outcome: string;
  /** Mode, source and target as the workflow's search attributes last said them. */
  labels: { mode?: string; source?: string; target?: string };
  stages: StageSpan[];
  steps: StepSpan[];
  decisions: DecisionEvent[];
  /** The fallback window's calls (online, --fallback-window): fallbacks and releases, in order. */
  window: WindowEvent[];
  /** The preflight checks and the validation report, as their activities returned them. */
  preflight?: unknown;
  validation?: unknown;
  /** Online: the validation while replicating (validateLive), before the gate. */
  liveValidation?: unknown;
  /** Online: every schema change captured on the source and what became of it, as the last listDdlChanges listed them. */
  ddl?: unknown;
  /** The copy batches and the replication lag samples, in the order they ended. */
  copies: CopySample[];
  lag: LagSample[];
  /** The workflow's result, once it completed. */
  result?: unknown;
}

function at(event: HistoryEvent): number {
  const t = event.eventTime;
  return t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;
}

const iso = (ms: number) => new Date(ms).toISOString();

async function decodeFirst(codec: EncryptionCodec, payloads: Payload[] | null | undefined): Promise<unknown> {
  if (!payloads || payloads.length === 0) return undefined;
  try {
    const [decoded] = await codec.decode(payloads);
    return decoded ? defaultPayloadConverter.fromPayload(decoded) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A decision's chat identity as recorded, its string entries only: a signal's payload is not
 * validated before it lands in the history, and the audit trail must not trip over it.
 */
function chatIdentity(via: unknown): Record<string, string> | undefined {
  if (typeof via !== 'object' || via === null || Array.isArray(via)) return undefined;
  const entries = Object.entries(via).filter((e): e is [string, string] => typeof e[1] === 'string');
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** What one pass over the events carries: the timeline so far and the steps by their scheduling event. */
interface Pass {
  readonly timeline: Timeline;
  readonly scheduled: Map<string, StepSpan>;
  readonly codec: EncryptionCodec;
}

/** Ends the open stage at `ms`. */
function closeStage(timeline: Timeline, ms: number): void {
  const open = timeline.stages[timeline.stages.length - 1];
  if (open && open.endedAt === undefined) {
    open.endedAt = iso(ms);
    open.durationMs = ms - Date.parse(open.startedAt);
  }
}

/** A search-attribute upsert: a new stage, and the migration's mode, source and target. */
function onUpsert(timeline: Timeline, event: HistoryEvent, ms: number): void {
  const fields = event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
  if (!fields) return;
  const read = (key: string): string | undefined => {
    const payload = fields[key];
    if (!payload) return undefined;
    const value = defaultPayloadConverter.fromPayload<string | string[]>(payload);
    return Array.isArray(value) ? String(value[0]) : String(value);
  };
  const stage = read('PgferryStage');
  if (stage !== undefined && timeline.stages[timeline.stages.length - 1]?.stage !== stage) {
    closeStage(timeline, ms);
    timeline.stages.push({ stage, startedAt: iso(ms) });
  }
  for (const [key, label] of [
    ['PgferryMode', 'mode'],
    ['PgferrySource', 'source'],
    ['PgferryTarget', 'target'],
  ] as const) {
    const value = read(key);
    if (value !== undefined) timeline.labels[label] = value;
  }
}

/** What a completed step returned that the timeline keeps: checks, validation, copy batches, lag. */
function keepResult(timeline: Timeline, span: StepSpan, result: unknown): void {
  if (span.step === 'runPreflight') timeline.preflight = result;
  if (span.step === 'validateTables') timeline.validation = result;
  if (span.step === 'validateLive') timeline.liveValidation = result;
  if (span.step === 'listDdlChanges') timeline.ddl = result;
  if (typeof result !== 'object' || result === null) return;
  const r = result as Record<string, unknown>;
  if (span.step === 'copyChunks' && span.endedAt) {
    timeline.copies.push({
      startedAt: span.startedAt ?? span.scheduledAt,
      endedAt: span.endedAt,
      rows: num(r.rows),
      bytes: num(r.bytes),
      copied: num(r.copied),
      skipped: num(r.skipped),
    });
  }
  if (span.step === 'watchReplication' && span.endedAt) {
    timeline.lag.push({
      at: span.endedAt,
      lagBytes: numOrNull(r.lagBytes),
      lagSeconds: numOrNull(r.lagSeconds),
      ready: r.ready === true,
    });
  }
}

/** An activity's end: its outcome, duration and (completed) what its result says. */
async function onStepEnd(pass: Pass, event: HistoryEvent, ms: number): Promise<void> {
  const end =
    event.activityTaskCompletedEventAttributes ??
    event.activityTaskFailedEventAttributes ??
    event.activityTaskTimedOutEventAttributes ??
    event.activityTaskCanceledEventAttributes;
  const span = end ? pass.scheduled.get(String(end.scheduledEventId)) : undefined;
  if (!span) return;
  span.endedAt = iso(ms);
  span.durationMs = ms - Date.parse(span.scheduledAt);
  if (event.activityTaskCompletedEventAttributes) {
    span.outcome = 'completed';
    const payloads = event.activityTaskCompletedEventAttributes.result?.payloads;
    keepResult(pass.timeline, span, await decodeFirst(pass.codec, payloads));
  } else if (event.activityTaskFailedEventAttributes) {
    span.outcome = 'failed';
    const failure = event.activityTaskFailedEventAttributes.failure;
    span.error = {
      code:
        failure?.applicationFailureInfo?.type ?? failure?.cause?.applicationFailureInfo?.type ?? 'Internal',
      message: failure?.message ?? '',
    };
  } else {
    span.outcome = event.activityTaskTimedOutEventAttributes ? 'timed_out' : 'cancelled';
  }
}

/** Activities: scheduled, started, ended. */
async function onStep(pass: Pass, event: HistoryEvent, ms: number): Promise<void> {
  const sched = event.activityTaskScheduledEventAttributes;
  if (sched) {
    const span: StepSpan = {
      step: sched.activityType?.name ?? '?',
      scheduledAt: iso(ms),
      outcome: 'running',
    };
    pass.scheduled.set(String(event.eventId), span);
    pass.timeline.steps.push(span);
  }
  const started = event.activityTaskStartedEventAttributes;
  if (started) {
    const span = pass.scheduled.get(String(started.scheduledEventId));
    if (span) {
      span.attempt = started.attempt ?? 1;
      span.startedAt = iso(ms);
    }
  }
  await onStepEnd(pass, event, ms);
}

/** Decisions arrive as accepted Updates (validated first) or as Signals, both named approve / reject. */
async function onDecision(pass: Pass, event: HistoryEvent, ms: number): Promise<void> {
  const accepted = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
  const signal = event.workflowExecutionSignaledEventAttributes;
  const decision = accepted
    ? { name: accepted.name, payloads: accepted.args?.payloads, channel: 'update' as const }
    : signal
      ? { name: signal.signalName, payloads: signal.input?.payloads, channel: 'signal' as const }
      : undefined;
  if (!decision || (decision.name !== 'approve' && decision.name !== 'reject')) return;
  const input = (await decodeFirst(pass.codec, decision.payloads)) as
    Omit<DecisionEvent, 'at' | 'channel' | 'outcome'> | undefined;
  const { via: recorded, ...said } = input ?? {};
  const via = chatIdentity(recorded);
  pass.timeline.decisions.push({
    at: iso(ms),
    channel: decision.channel,
    outcome: decision.name === 'approve' ? 'approved' : 'rejected',
    ...said,
    ...(via ? { via } : {}),
  });
}

/** The fallback window's Updates: accepted (who, why, when), then completed (downtime, or why not). */
async function onWindowCall(pass: Pass, event: HistoryEvent, ms: number): Promise<void> {
  const accepted = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest;
  const name = accepted?.input?.name;
  if (accepted && (name === 'fallback' || name === 'release')) {
    const input = (await decodeFirst(pass.codec, accepted.input?.args?.payloads)) as
      { by?: unknown; reason?: unknown; via?: unknown } | undefined;
    const via = chatIdentity(input?.via);
    pass.timeline.window.push({
      at: iso(ms),
      kind: name,
      ...(typeof input?.by === 'string' ? { by: input.by } : {}),
      ...(typeof input?.reason === 'string' ? { reason: input.reason } : {}),
      ...(via ? { via } : {}),
      outcome: 'running',
      ...(accepted.meta?.updateId ? { updateId: accepted.meta.updateId } : {}),
    });
  }
  const completed = event.workflowExecutionUpdateCompletedEventAttributes;
  const call = pass.timeline.window.find((w) => w.updateId && w.updateId === completed?.meta?.updateId);
  if (!completed || !call) return;
  call.endedAt = iso(ms);
  const failure = completed.outcome?.failure;
  if (failure) {
    call.outcome = 'failed';
    call.problem = failure.message ?? '';
    return;
  }
  call.outcome = 'done';
  const result = (await decodeFirst(pass.codec, completed.outcome?.success?.payloads)) as
    { downtimeMs?: unknown } | undefined;
  if (call.kind === 'fallback' && typeof result?.downtimeMs === 'number') call.downtimeMs = result.downtimeMs;
}

/** The workflow's close: its outcome, and its result when it completed. */
async function onClose(pass: Pass, event: HistoryEvent, ms: number): Promise<void> {
  const closed =
    (event.workflowExecutionCompletedEventAttributes && 'completed') ||
    (event.workflowExecutionFailedEventAttributes && 'failed') ||
    (event.workflowExecutionCanceledEventAttributes && 'cancelled') ||
    (event.workflowExecutionTerminatedEventAttributes && 'terminated') ||
    (event.workflowExecutionTimedOutEventAttributes && 'timed_out');
  if (!closed) return;
  const { timeline } = pass;
  timeline.outcome = closed;
  timeline.closedAt = iso(ms);
  closeStage(timeline, ms);
  const completed = event.workflowExecutionCompletedEventAttributes;
  if (completed) timeline.result = await decodeFirst(pass.codec, completed.result?.payloads);
  // The online cutover validates in steps of its own (counts on both sides, sequences, large
  // objects): its report is the result's.
  const result = timeline.result as { validation?: unknown } | undefined;
  if (timeline.validation === undefined && result?.validation !== undefined)
    timeline.validation = result.validation;
}

/** Rebuilds the timeline of a workflow from its history events; payloads are decrypted with the codec. */
export async function buildTimeline(
  id: string,
  events: HistoryEvent[],
  codec: EncryptionCodec,
): Promise<Timeline> {
  const first = events[0];
  const timeline: Timeline = {
    id,
    type: first?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? 'unknown',
    startedAt: iso(first ? at(first) : 0),
    outcome: 'running',
    labels: {},
    stages: [],
    steps: [],
    decisions: [],
    window: [],
    copies: [],
    lag: [],
  };
  const pass: Pass = { timeline, scheduled: new Map(), codec };
  for (const event of events) {
    const ms = at(event);
    onUpsert(timeline, event, ms);
    await onStep(pass, event, ms);
    await onDecision(pass, event, ms);
    await onWindowCall(pass, event, ms);
    await onClose(pass, event, ms);
  }
  return timeline;
}
