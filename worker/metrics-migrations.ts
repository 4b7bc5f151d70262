import { defaultPayloadConverter, tsToMs } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import { Gauge, type Registry } from 'prom-client';
import { WorkflowType } from '../domain/constants';

type WorkflowService = NativeConnection['workflowService'];
type IndexedFields =
  Record<string, { data?: Uint8Array | null; metadata?: unknown } | null> | null | undefined;

/** One running migration as visibility lists it. */
interface OpenMigration {
  readonly workflowId: string;
  readonly runId: string;
  readonly stage: string;
  readonly state: string;
}

/** What one look at Temporal's visibility found. */
interface Census {
  readonly open: OpenMigration[];
  readonly closed: Record<string, number>;
  /** Seconds each waiting migration has waited for its decision, by workflow id. */
  readonly waiting: Map<string, number>;
}

const EMPTY: Census = { open: [], closed: {}, waiting: new Map() };

/** The states a migration ends in (PgferryState of closed executions). */
const CLOSED_STATES = ['completed', 'failed', 'cancelled', 'rolled_back'] as const;
/** Scrapes within this long of the last look share it: visibility is not asked more often. */
const CENSUS_TTL_MS = 5000;
/** History events read backwards per scrape to find when a wait began, at most. */
const MAX_REVERSE_PAGES = 10;

function keyword(fields: IndexedFields, name: string): string | undefined {
  const payload = fields?.[name];
  if (!payload) return undefined;
  const value = defaultPayloadConverter.fromPayload<string | string[]>(payload as never);
  return Array.isArray(value) ? value[0] : value;
}

function toNumber(n: number | { toNumber(): number } | null | undefined): number {
  return n == null ? 0 : typeof n === 'number' ? n : n.toNumber();
}

/**
 * Migrations by stage and state, and the approvals they wait for, read from Temporal's visibility
 * (the PgferryStage and PgferryState search attributes) when Prometheus scrapes: the worker holds
 * no state of its own about them, so every worker of a namespace reports the same figures
 * (aggregate them with max, not sum).
 */
export class MigrationCensus {
  private last: { at: number; census: Promise<Census> } | undefined;
  /** When each waiting run's wait began: the event that set PgferryState to waiting. */
  private readonly waits = new Map<string, { eventId: number; since: number }>();

  constructor(
    private readonly service: WorkflowService,
    private readonly namespace: string,
  ) {}

  /** Registers the gauges that read the census on collect. */
  register(registry: Registry): void {
    // A scrape while visibility cannot answer shows these series empty and visibility_up 0, not an error.
    const census = () => this.census().catch(() => EMPTY);
    const registers = [registry];
    new Gauge({
      name: 'pgferry_visibility_up',
      help: "Whether the last look at Temporal's visibility (migrations, approvals) succeeded.",
      registers,
      async collect() {
        this.set((await census()) === EMPTY ? 0 : 1);
      },
    });
    new Gauge({
      name: 'pgferry_migrations',
      help: 'Running migrations by stage and state (running, waiting, needs_attention).',
      labelNames: ['stage', 'state'],
      registers,
      async collect() {
        const found = await census();
        this.reset();
        const counts = new Map<string, { stage: string; state: string; n: number }>();
        for (const m of found.open) {
          const key = `${m.stage}\u0000${m.state}`;
          const entry = counts.get(key) ?? { stage: m.stage, state: m.state, n: 0 };
          entry.n += 1;
          counts.set(key, entry);
        }
        for (const { stage, state, n } of counts.values()) this.set({ stage, state }, n);
      },
    });
    new Gauge({
      name: 'pgferry_migrations_closed',
      help: "Ended migrations by final state, over the namespace's retention.",
      labelNames: ['state'],
      registers,
      async collect() {
        const found = await census();
        this.reset();
        for (const [state, n] of Object.entries(found.closed)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'pgferry_approvals_waiting',
      help: 'Migrations waiting at their approval gate for a person to approve or reject.',
      registers,
      async collect() {
        this.set((await census()).open.filter((m) => m.state === 'waiting').length);
      },
    });
    new Gauge({
      name: 'pgferry_approval_wait_seconds',
      help: 'How long each waiting migration has waited for its decision.',
      labelNames: ['workflow_id'],
      registers,
      async collect() {
        const found = await census();
        this.reset();
        for (const [workflow_id, seconds] of found.waiting) this.set({ workflow_id }, seconds);
      },
    });
  }

  /** The census of the last few seconds, or a new one. */
  census(): Promise<Census> {
    const now = Date.now();
    if (this.last && now - this.last.at < CENSUS_TTL_MS) return this.last.census;
    const census = this.take();
    this.last = { at: now, census };
    // A failed look is not kept: the next scrape asks again.
    census.catch(() => (this.last = undefined));
    return census;
  }

  private async take(): Promise<Census> {
    const open = await this.listOpen();
    const closed: Record<string, number> = {};
    await Promise.all(
      CLOSED_STATES.map(async (state) => {
        const { count } = await this.service.countWorkflowExecutions({
          namespace: this.namespace,
          query: `WorkflowType = '${WorkflowType.migration}' AND ExecutionStatus != 'Running' AND PgferryState = '${state}'`,
        });
        closed[state] = toNumber(count);
      }),
    );
    const waiting = new Map<string, number>();
    const now = Date.now();
    for (const m of open.filter((o) => o.state === 'waiting')) {
      const since = await this.waitingSince(m);
      if (since !== undefined) waiting.set(m.workflowId, Math.max(0, (now - since) / 1000));
    }
    for (const runId of this.waits.keys()) {
      if (!open.some((m) => m.runId === runId && m.state === 'waiting')) this.waits.delete(runId);
    }
    return { open, closed, waiting };
  }

  private async listOpen(): Promise<OpenMigration[]> {
    const out: OpenMigration[] = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await this.service.listWorkflowExecutions({
        namespace: this.namespace,
        query: `WorkflowType = '${WorkflowType.migration}' AND ExecutionStatus = 'Running'`,
        pageSize: 1000,
        ...(nextPageToken ? { nextPageToken } : {}),
      });
      for (const e of page.executions ?? []) {
        const fields = e.searchAttributes?.indexedFields as IndexedFields;
        out.push({
          workflowId: e.execution?.workflowId ?? '',
          runId: e.execution?.runId ?? '',
          stage: keyword(fields, 'PgferryStage') ?? '',
          state: keyword(fields, 'PgferryState') ?? '',
        });
      }
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    return out;
  }

  /**
   * When a run's current wait began: its history read backwards to the latest event that set
   * PgferryState to waiting, or to the one found by an earlier scrape (a wait can end and begin
   * again, at a cutover that went back to the gate).
   */
  private async waitingSince(m: OpenMigration): Promise<number | undefined> {
    const known = this.waits.get(m.runId);
    let nextPageToken: Uint8Array | undefined;
    for (let page = 0; page < MAX_REVERSE_PAGES; page++) {
      const { history, nextPageToken: next } = await this.service.getWorkflowExecutionHistoryReverse({
        namespace: this.namespace,
        execution: { workflowId: m.workflowId, runId: m.runId },
        maximumPageSize: 100,
        ...(nextPageToken ? { nextPageToken } : {}),
      });
      for (const event of history?.events ?? []) {
        const eventId = toNumber(event.eventId);
        if (known && eventId <= known.eventId) return known.since;
        const fields = event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes
          ?.indexedFields as IndexedFields;
        if (keyword(fields, 'PgferryState') === 'waiting') {
          const since = tsToMs(event.eventTime);
          this.waits.set(m.runId, { eventId, since });
          return since;
        }
      }
      nextPageToken = next?.length ? next : undefined;
      if (!nextPageToken) break;
    }
    return known?.since;
  }
}
