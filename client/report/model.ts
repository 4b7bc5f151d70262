import {
  MigrationResult,
  PreflightReport,
  ValidationReport,
  type CheckResult,
  type TableValidation,
} from '../../domain/migration';
import type { CopySample, DecisionEvent, LagSample, StageSpan, StepSpan, Timeline } from '../history';

/** The copy's total throughput at a moment: the sum of the rates of the batches running then. */
export interface ThroughputPoint {
  at: string;
  bytesPerSecond: number;
}

/** Where the copy's figures come from, said in the report. */
export const COPY_BASIS =
  'from each copy batch’s completion in the Temporal history (rows and bytes, start to end), spread evenly over the batch; the history keeps no heartbeats';
/** Where the lag samples come from, said in the report. */
export const LAG_BASIS =
  'from each replication watch’s result in the Temporal history: after the copy, at the gate (at most once a minute, or when readiness changes) and the look before the freeze';

/** Who made a rendered report and when: the renderers stay pure functions of their inputs. */
export interface RenderContext {
  generatedAt: string;
  version: string;
}

/** Everything a migration report shows, from one workflow's history: pure data, rendered as HTML or Markdown. */
export interface MigrationReport {
  id: string;
  type: string;
  outcome: string;
  startedAt: string;
  closedAt?: string;
  durationMs?: number;
  mode?: string;
  source?: string;
  target?: string;
  stages: StageSpan[];
  steps: StepSpan[];
  decisions: DecisionEvent[];
  /** When the approval gate opened, and how long it waited for the decision that closed it. */
  gate?: { openedAt: string; waitedMs?: number };
  preflight?: { ok: boolean; checks: CheckResult[] };
  /** The final validation (offline: the copy; online: the counts at the cutover). */
  validation?: ValidationReport;
  /** Online: the validation while replicating, before the gate. */
  liveValidation?: ValidationReport;
  copy: { batches: CopySample[]; throughput: ThroughputPoint[]; rows: number; bytes: number; basis: string };
  lag: { samples: LagSample[]; basis: string };
  downtimeMs?: number;
  /** When the source was frozen for the cutover, as the freeze step started (online). */
  freezeAt?: string;
  totals?: {
    tables: number;
    chunks: number;
    rows: number;
    bytes: number;
    sequences: number;
    largeObjects: number;
  };
  /** Steps that needed more than one attempt, failed or timed out. */
  troubles: StepSpan[];
}

const ms = (iso: string) => Date.parse(iso);

/**
 * The copy's total throughput over time: each batch copied at an even rate from its start to its
 * end, and the lanes' rates added up. A point at every start and end of a batch; zero at the last.
 */
export function copyThroughput(batches: readonly CopySample[]): ThroughputPoint[] {
  const spans = batches
    .map((b) => ({ from: ms(b.startedAt), to: ms(b.endedAt), bytes: b.bytes }))
    .filter((b) => b.to > b.from);
  const times = [...new Set(spans.flatMap((b) => [b.from, b.to]))].sort((a, b) => a - b);
  return times.map((t) => ({
    at: new Date(t).toISOString(),
    bytesPerSecond: spans
      .filter((b) => b.from <= t && t < b.to)
      .reduce((sum, b) => sum + (b.bytes * 1000) / (b.to - b.from), 0),
  }));
}

function parsed<T>(schema: { safeParse(v: unknown): { success: boolean; data?: T } }, value: unknown) {
  if (value === undefined) return undefined;
  const r = schema.safeParse(value);
  return r.success ? r.data : undefined;
}

/** The approval gate's opening and the wait until the decision that closed it. */
function gateOf(t: Timeline): MigrationReport['gate'] {
  const gate = t.stages.find((s) => s.stage === 'approval');
  if (!gate) return undefined;
  const decided = t.decisions.find((d) => ms(d.at) >= ms(gate.startedAt));
  return {
    openedAt: gate.startedAt,
    ...(decided ? { waitedMs: ms(decided.at) - ms(gate.startedAt) } : {}),
  };
}

/** Builds the report of a workflow from its timeline (see `buildTimeline`). */
export function reportFromTimeline(t: Timeline): MigrationReport {
  const result = t.type === 'migration' ? parsed(MigrationResult, t.result) : undefined;
  const preflight = result?.preflight ?? parsed(PreflightReport, t.preflight);
  const validation = result?.validation ?? parsed(ValidationReport, t.validation);
  const liveValidation = result?.validationWhileReplicating ?? parsed(ValidationReport, t.liveValidation);
  const freeze = t.steps.find((s) => s.step === 'freezeSource' && s.outcome === 'completed');
  const gate = gateOf(t);
  return {
    id: t.id,
    type: t.type,
    outcome: result?.outcome === 'rejected' ? 'rejected' : t.outcome,
    startedAt: t.startedAt,
    ...(t.closedAt ? { closedAt: t.closedAt, durationMs: ms(t.closedAt) - ms(t.startedAt) } : {}),
    ...((result?.mode ?? t.labels.mode) ? { mode: result?.mode ?? t.labels.mode } : {}),
    ...((result?.source ?? t.labels.source) ? { source: result?.source ?? t.labels.source } : {}),
    ...((result?.target ?? t.labels.target) ? { target: result?.target ?? t.labels.target } : {}),
    stages: t.stages,
    steps: t.steps,
    decisions: t.decisions,
    ...(gate ? { gate } : {}),
    ...(preflight ? { preflight: { ok: preflight.ok, checks: preflight.checks } } : {}),
    ...(validation ? { validation } : {}),
    ...(liveValidation ? { liveValidation } : {}),
    copy: {
      batches: t.copies,
      throughput: copyThroughput(t.copies),
      rows: t.copies.reduce((n, b) => n + b.rows, 0),
      bytes: t.copies.reduce((n, b) => n + b.bytes, 0),
      basis: COPY_BASIS,
    },
    lag: { samples: t.lag, basis: LAG_BASIS },
    ...(result?.downtimeMs === undefined ? {} : { downtimeMs: result.downtimeMs }),
    ...(freeze?.startedAt ? { freezeAt: freeze.startedAt } : {}),
    ...(result
      ? {
          totals: {
            tables: result.tables,
            chunks: result.chunks,
            rows: result.rows,
            bytes: result.bytes,
            sequences: result.sequences,
            largeObjects: result.largeObjects,
          },
        }
      : {}),
    // A cancelled step is the workflow's own doing (the gate's watch ends with the wait): no trouble.
    troubles: t.steps.filter(
      (s) => (s.attempt ?? 1) > 1 || s.outcome === 'failed' || s.outcome === 'timed_out',
    ),
  };
}

/** A table's qualified name for the report. */
export const tableName = (v: Pick<TableValidation, 'schema' | 'table'>) => `${v.schema}.${v.table}`;
