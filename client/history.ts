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

/** A workflow's timeline and audit trail, rebuilt from its Temporal history (the source of truth). */
export interface Timeline {
  id: string;
  type: string;
  startedAt: string;
  closedAt?: string;
  outcome: string;
  stages: StageSpan[];
  steps: StepSpan[];
  decisions: DecisionEvent[];
  /** The preflight checks and the validation report, as their activities returned them. */
  preflight?: unknown;
  validation?: unknown;
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
    stages: [],
    steps: [],
    decisions: [],
  };
  const scheduled = new Map<string, StepSpan>();
  const closeStage = (ms: number) => {
    const open = timeline.stages[timeline.stages.length - 1];
    if (open && open.endedAt === undefined) {
      open.endedAt = iso(ms);
      open.durationMs = ms - Date.parse(open.startedAt);
    }
  };
  for (const event of events) {
    const ms = at(event);
    const upsert = event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
    const stagePayload = upsert?.PgferryStage;
    if (stagePayload) {
      const stage = defaultPayloadConverter.fromPayload<string | string[]>(stagePayload);
      const name = Array.isArray(stage) ? String(stage[0]) : String(stage);
      if (timeline.stages[timeline.stages.length - 1]?.stage !== name) {
        closeStage(ms);
        timeline.stages.push({ stage: name, startedAt: iso(ms) });
      }
    }
    const sched = event.activityTaskScheduledEventAttributes;
    if (sched) {
      const span: StepSpan = {
        step: sched.activityType?.name ?? '?',
        scheduledAt: iso(ms),
        outcome: 'running',
      };
      scheduled.set(String(event.eventId), span);
      timeline.steps.push(span);
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const span = scheduled.get(String(started.scheduledEventId));
      if (span) span.attempt = started.attempt ?? 1;
    }
    const end =
      event.activityTaskCompletedEventAttributes ??
      event.activityTaskFailedEventAttributes ??
      event.activityTaskTimedOutEventAttributes ??
      event.activityTaskCanceledEventAttributes;
    if (end) {
      const span = scheduled.get(String(end.scheduledEventId));
      if (span) {
        span.endedAt = iso(ms);
        span.durationMs = ms - Date.parse(span.scheduledAt);
        if (event.activityTaskCompletedEventAttributes) {
          span.outcome = 'completed';
          const result = await decodeFirst(
            codec,
            event.activityTaskCompletedEventAttributes.result?.payloads,
          );
          if (span.step === 'runPreflight') timeline.preflight = result;
          if (span.step === 'validateTables') timeline.validation = result;
        } else if (event.activityTaskFailedEventAttributes) {
          span.outcome = 'failed';
          const failure = event.activityTaskFailedEventAttributes.failure;
          span.error = {
            code:
              failure?.applicationFailureInfo?.type ??
              failure?.cause?.applicationFailureInfo?.type ??
              'Internal',
            message: failure?.message ?? '',
          };
        } else if (event.activityTaskTimedOutEventAttributes) {
          span.outcome = 'timed_out';
        } else {
          span.outcome = 'cancelled';
        }
      }
    }
    // Decisions arrive as accepted Updates (validated first) or as Signals, both named approve / reject.
    const accepted = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
    const signal = event.workflowExecutionSignaledEventAttributes;
    const decision = accepted
      ? { name: accepted.name, payloads: accepted.args?.payloads, channel: 'update' as const }
      : signal
        ? { name: signal.signalName, payloads: signal.input?.payloads, channel: 'signal' as const }
        : undefined;
    if (decision && (decision.name === 'approve' || decision.name === 'reject')) {
      const input = (await decodeFirst(codec, decision.payloads)) as
        Omit<DecisionEvent, 'at' | 'channel' | 'outcome'> | undefined;
      const { via: recorded, ...said } = input ?? {};
      const via = chatIdentity(recorded);
      timeline.decisions.push({
        at: iso(ms),
        channel: decision.channel,
        outcome: decision.name === 'approve' ? 'approved' : 'rejected',
        ...said,
        ...(via ? { via } : {}),
      });
    }
    const closed =
      (event.workflowExecutionCompletedEventAttributes && 'completed') ||
      (event.workflowExecutionFailedEventAttributes && 'failed') ||
      (event.workflowExecutionCanceledEventAttributes && 'cancelled') ||
      (event.workflowExecutionTerminatedEventAttributes && 'terminated') ||
      (event.workflowExecutionTimedOutEventAttributes && 'timed_out');
    if (closed) {
      timeline.outcome = closed;
      timeline.closedAt = iso(ms);
      closeStage(ms);
    }
  }
  return timeline;
}
