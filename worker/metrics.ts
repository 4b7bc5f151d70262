import { Context } from '@temporalio/activity';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { ActivityMetrics, ReplicationFigures } from '../activities/metrics';

/** A replication gauge not refreshed for this long is dropped: its migration has moved on or ended. */
const STALE_MS = 5 * 60_000;
/** Copy throughput is the bytes streamed over this window (or since the burst began, if later). */
const THROUGHPUT_WINDOW_MS = 10_000;

/** The workflow of the activity running now; `unknown` outside one. */
function workflowOfActivity(): string {
  try {
    return Context.current().info.workflowExecution?.workflowId ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Values by workflow id that expire when no longer reported. */
class Fresh<T> {
  private readonly values = new Map<string, { value: T; at: number }>();
  constructor(private readonly ttlMs: number) {}

  set(key: string, value: T): void {
    this.values.set(key, { value, at: Date.now() });
  }

  get(key: string): T | undefined {
    return this.values.get(key)?.value;
  }

  /** The live entries, dropping the expired ones. */
  entries(now = Date.now()): [string, T][] {
    const out: [string, T][] = [];
    for (const [key, { value, at }] of this.values) {
      if (now - at > this.ttlMs) this.values.delete(key);
      else out.push([key, value]);
    }
    return out;
  }
}

/** Bytes streamed by one workflow's copy: recent samples, and when the current burst began. */
interface Streamed {
  readonly samples: { at: number; bytes: number }[];
  burstStart: number;
  lastAt: number;
}

/**
 * pgferry's own metrics (the `pgferry_` series of /metrics) in a registry of their own: what
 * activities report (ActivityMetrics, labelled with their workflow id), what the activity
 * interceptor sees (retries, validation failures), and the worker process's own metrics.
 */
export class PgferryMetrics implements ActivityMetrics {
  readonly registry = new Registry();
  private readonly replicationSeen = new Fresh<ReplicationFigures>(STALE_MS);
  private readonly streamed = new Map<string, Streamed>();
  private readonly copyBytes: Counter<'workflow_id'>;
  private readonly copyRows: Counter<'workflow_id'>;
  private readonly chunks: Counter<'workflow_id'>;
  private readonly retries: Counter<'activity'>;
  private readonly failures: Counter<'activity' | 'code'>;
  private readonly validationFailures: Counter<'workflow_id' | 'activity'>;

  constructor() {
    const registers = [this.registry];
    // The process's own (process_*, nodejs_*): the names every Node.js dashboard knows.
    collectDefaultMetrics({ register: this.registry });
    const byWorkflow = ['workflow_id'] as const;
    this.copyBytes = new Counter({
      name: 'pgferry_copy_bytes_total',
      help: 'Bytes of table data copied and committed on the target, by migration workflow.',
      labelNames: byWorkflow,
      registers,
    });
    this.copyRows = new Counter({
      name: 'pgferry_copy_rows_total',
      help: 'Rows copied and committed on the target, by migration workflow.',
      labelNames: byWorkflow,
      registers,
    });
    this.chunks = new Counter({
      name: 'pgferry_copy_chunks_total',
      help: 'Chunks (tables or ranges of tables) copied and committed on the target.',
      labelNames: byWorkflow,
      registers,
    });
    this.retries = new Counter({
      name: 'pgferry_activity_retries_total',
      help: 'Activity attempts after the first, by activity (step).',
      labelNames: ['activity'],
      registers,
    });
    this.failures = new Counter({
      name: 'pgferry_activity_failures_total',
      help: 'Failed activity attempts, by activity and error code.',
      labelNames: ['activity', 'code'],
      registers,
    });
    this.validationFailures = new Counter({
      name: 'pgferry_validation_failures_total',
      help: 'Validations that found the target different from the source, by migration workflow.',
      labelNames: ['workflow_id', 'activity'],
      registers,
    });
    this.replicationGauges(registers);
    this.throughputGauge(registers);
  }

  chunkCopied(rows: number, bytes: number): void {
    const workflow_id = workflowOfActivity();
    this.copyRows.inc({ workflow_id }, rows);
    this.copyBytes.inc({ workflow_id }, bytes);
    this.chunks.inc({ workflow_id });
  }

  bytesStreamed(delta: number): void {
    if (delta <= 0) return;
    const key = workflowOfActivity();
    const now = Date.now();
    const entry = this.streamed.get(key) ?? { samples: [], burstStart: now, lastAt: now };
    if (now - entry.lastAt > THROUGHPUT_WINDOW_MS) entry.burstStart = now;
    entry.lastAt = now;
    entry.samples.push({ at: now, bytes: delta });
    this.streamed.set(key, entry);
  }

  replication(figures: ReplicationFigures): void {
    const key = workflowOfActivity();
    // A look without slot figures (replicationLag) keeps the ones the last watch read.
    const before = this.replicationSeen.get(key);
    this.replicationSeen.set(key, {
      lagBytes: figures.lagBytes,
      lagSeconds: figures.lagSeconds,
      retainedWalBytes:
        figures.retainedWalBytes === undefined ? before?.retainedWalBytes : figures.retainedWalBytes,
      safeWalBytes: figures.safeWalBytes === undefined ? before?.safeWalBytes : figures.safeWalBytes,
      ready: figures.ready ?? before?.ready,
    });
  }

  /** An activity attempt began: counted as a retry past its first. */
  attemptStarted(activity: string, attempt: number): void {
    if (attempt > 1) this.retries.inc({ activity });
  }

  /** An activity attempt failed with this code (the ApplicationFailure type). */
  attemptFailed(activity: string, code: string): void {
    this.failures.inc({ activity, code });
  }

  /** A validation activity reported a difference. */
  validationFailed(workflowId: string, activity: string): void {
    this.validationFailures.inc({ workflow_id: workflowId, activity });
  }

  private replicationGauges(registers: Registry[]): void {
    const seen = this.replicationSeen;
    const gauge = (name: string, help: string, pick: (f: ReplicationFigures) => number | null | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['workflow_id'],
        registers,
        collect() {
          this.reset();
          for (const [workflow_id, figures] of seen.entries()) {
            const value = pick(figures);
            if (value !== null && value !== undefined) this.set({ workflow_id }, value);
          }
        },
      });
    gauge(
      'pgferry_replication_lag_bytes',
      "Bytes of the source's WAL the target has not confirmed (online migrations).",
      (f) => f.lagBytes,
    );
    gauge(
      'pgferry_replication_lag_seconds',
      'Seconds the target is behind the source (online migrations).',
      (f) => f.lagSeconds,
    );
    gauge(
      'pgferry_slot_retained_wal_bytes',
      "WAL the migration's replication slot holds back on the source.",
      (f) => f.retainedWalBytes,
    );
    gauge(
      'pgferry_slot_safe_wal_bytes',
      'WAL the source may still write before the slot is lost (absent when max_slot_wal_keep_size is unbounded).',
      (f) => f.safeWalBytes,
    );
    gauge(
      'pgferry_replication_ready',
      'Whether an online migration may cut over now (1) or not (0), as its approval watch judges.',
      (f) => (f.ready === undefined ? undefined : f.ready ? 1 : 0),
    );
  }

  private throughputGauge(registers: Registry[]): void {
    const streamed = this.streamed;
    new Gauge({
      name: 'pgferry_copy_throughput_bytes_per_second',
      help: `Bytes per second the copy streams from source to target, over the last ${THROUGHPUT_WINDOW_MS / 1000} s.`,
      labelNames: ['workflow_id'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const [workflow_id, entry] of streamed) {
          const recent = entry.samples.filter((s) => now - s.at <= THROUGHPUT_WINDOW_MS);
          entry.samples.splice(0, entry.samples.length, ...recent);
          // A minute after its last bytes, the copy is over: its series goes.
          if (now - entry.lastAt > 6 * THROUGHPUT_WINDOW_MS) {
            streamed.delete(workflow_id);
            continue;
          }
          const since = Math.max(entry.burstStart, now - THROUGHPUT_WINDOW_MS);
          const seconds = Math.min(THROUGHPUT_WINDOW_MS, Math.max(1000, now - since)) / 1000;
          this.set({ workflow_id }, recent.reduce((sum, s) => sum + s.bytes, 0) / seconds);
        }
      },
    });
  }
}
