import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** The size of a workflow's history, as Temporal keeps it. */
export interface EventCount {
  /** Events of the workflow itself, over all its runs (continue-as-new). */
  readonly own: number;
  /** Events of its child workflows (and theirs), over all their runs; 0 when not followed. */
  readonly children: number;
  /** Runs of the workflow itself. */
  readonly runs: number;
  /** From its first run's first event to its last run's last event. */
  readonly seconds: number;
}

const eventTime = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null } | undefined) =>
  e?.eventTime ? Number(e.eventTime.seconds ?? 0) + (e.eventTime.nanos ?? 0) / 1e9 : undefined;

/**
 * Counts a finished workflow's history events from its first run through every continue-as-new,
 * and with `children` those of every child it started, to any depth: the number the history
 * limits (and the replay cost) are about. The workflow's id names its latest run; the first is
 * found through its description.
 */
export async function countEvents(
  client: Client,
  workflowId: string,
  options: { children: boolean; runId?: string } = { children: true },
): Promise<EventCount> {
  let runId = options.runId;
  if (runId === undefined) {
    const described = await client.workflow.getHandle(workflowId).describe();
    runId = described.raw.workflowExecutionInfo?.firstRunId ?? described.runId;
  }
  let own = 0;
  let children = 0;
  let runs = 0;
  let first: number | undefined;
  let last: number | undefined;
  while (runId) {
    const history: { events?: HistoryEvent[] | null } = await client.workflow
      .getHandle(workflowId, runId)
      .fetchHistory();
    const events = history.events ?? [];
    own += events.length;
    runs += 1;
    first ??= eventTime(events[0]);
    last = eventTime(events[events.length - 1]) ?? last;
    for (const event of events) {
      const child = event.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
      if (!options.children || !child?.workflowId || !child.runId) continue;
      const counted = await countEvents(client, child.workflowId, { children: true, runId: child.runId });
      children += counted.own + counted.children;
    }
    runId =
      events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ??
      undefined;
  }
  return { own, children, runs, seconds: first !== undefined && last !== undefined ? last - first : 0 };
}
