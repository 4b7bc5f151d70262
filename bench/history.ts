import { defaultPayloadConverter } from '@temporalio/common';
import { Client, Connection } from '@temporalio/client';
import { buildTimeline } from '../client/history';
import { EncryptionCodec } from '../worker/codec';
import { loadCodecKey, loadConfig } from '../worker/config';
import type { Span } from './critical-path';
import type { DevStack } from './pgferry';

/** A finished workflow's steps, start and close, as `pgferry history` rebuilds them, with each step's summary. */
export interface Spans {
  readonly spans: Span[];
  readonly start: number;
  readonly close: number;
}

/**
 * Reads a workflow's history from the dev stack and rebuilds its timeline with pgferry's own
 * builder (client/history.ts, what `pgferry history` prints), adding the one-line summary the
 * workflow gave each step (the UI's; encrypted by the codec like every payload), which names the
 * tables a step worked on.
 */
export async function readSpans(stack: DevStack, workflowId: string): Promise<Spans> {
  const codec = new EncryptionCodec(await loadCodecKey(loadConfig(stack.env)));
  const connection = await Connection.connect({ address: stack.env.TEMPORAL_ADDRESS });
  try {
    const client = new Client({ connection, namespace: 'default' });
    const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
    const all = events ?? [];
    const timeline = await buildTimeline(workflowId, all, codec);
    // The timeline holds the steps in the order they were scheduled, one per scheduling event.
    const summaries: (string | undefined)[] = [];
    for (const event of all) {
      if (!event.activityTaskScheduledEventAttributes) continue;
      const payload = event.userMetadata?.summary;
      const [decoded] = payload ? await codec.decode([payload]).catch(() => []) : [];
      const text: unknown = decoded ? defaultPayloadConverter.fromPayload(decoded) : undefined;
      summaries.push(typeof text === 'string' ? text : undefined);
    }
    const spans = timeline.steps.flatMap((s, i) => {
      const step = s as typeof s & { startedAt?: string };
      if (!s.endedAt) return [];
      return [
        {
          step: s.step,
          summary: summaries[i],
          start: Date.parse(step.startedAt ?? s.scheduledAt),
          end: Date.parse(s.endedAt),
        },
      ];
    });
    const start = Date.parse(timeline.startedAt);
    return { spans, start, close: timeline.closedAt ? Date.parse(timeline.closedAt) : start };
  } finally {
    await connection.close();
  }
}
