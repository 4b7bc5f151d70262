import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgferryClient } from '../client/pgferry-client';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver';
import { query, startThrowawayCluster, uniqueName, type ThrowawayCluster } from './helpers/pg';
import { spawnPgferry, type PgferryProcess } from './helpers/processes';
import { testEnv } from './helpers/temporal';
import { waitFor } from './helpers/wait';

/** The names of some spans, for a message. */
function names(spans: readonly ReceivedSpan[]): string {
  return spans.map((s) => s.name).join(', ');
}

describe('OpenTelemetry traces when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
  let cluster: ThrowawayCluster;
  let receiver: OtlpReceiver;
  let worker: PgferryProcess;
  let client: PgferryClient;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    const env = testEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_SERVICE_NAME: 'pgferry-test-worker',
      // Batches go out every 200 ms instead of every 5 s, so the test need not wait long.
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    // The worker bundles its workflows (with the tracing interceptors) while the cluster starts.
    worker = spawnPgferry(['worker'], env);
    const ready = worker.waitFor(/ready/, 120_000);
    ready.catch(() => undefined); // awaited below, after the cluster work
    cluster = await startThrowawayCluster();
    await query(cluster.url(), 'CREATE DATABASE shop');
    await query(
      cluster.url('shop'),
      `CREATE TABLE orders (id bigint PRIMARY KEY, note text);
       INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 5000) g;
       CREATE TABLE customers (id int PRIMARY KEY, name text);
       INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 300) g;`,
    );
    await ready;
    client = await PgferryClient.connect({ env });
  });

  afterAll(async () => {
    await client?.close();
    if (worker) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    await receiver?.close();
    await cluster?.stop();
  });

  it('sends one trace per migration: its workflow span, a span per stage and a span per activity', async () => {
    const name = uniqueName('traced');
    const workflowId = `migration-${name}`;
    const run = await client.migrate({
      name,
      source: cluster.url('shop'),
      target: cluster.url(`${name}_copy`),
      mode: 'offline',
      autoApprove: true,
      validate: 'counts',
    });
    expect((await run.result()).outcome).toBe('completed');
    const { stages } = await client.status(name);

    // The workflow span ends with the workflow; it and the last stage's span arrive in a later batch.
    const root = await waitFor(
      'the migration workflow span',
      () =>
        receiver.spans.find(
          (s) => s.name === 'RunWorkflow:migration' && s.attributes.workflowId === workflowId,
        ),
      30_000,
      100,
    );
    const inTrace = (): ReceivedSpan[] => receiver.spans.filter((s) => s.traceId === root.traceId);
    expect(root.parentSpanId).toBeUndefined();
    expect(root.service).toBe('pgferry-test-worker');

    // The stages an offline migration approved by itself goes through (cutover is online's), each
    // a child of the workflow span, labelled with its stage.
    const entered = ['preflight', 'provision', 'schema', 'copy', 'validate', 'approval', 'finalize'];
    const stageSpans = await waitFor(
      () => `a span for each stage (${entered.join(', ')}); got ${names(inTrace())}`,
      () => {
        const found = inTrace().filter((s) => s.name.startsWith('Stage:') && s.parentSpanId === root.spanId);
        return entered.every((stage) => found.some((s) => s.name === `Stage:${stage}`)) ? found : undefined;
      },
      30_000,
      100,
    );
    for (const span of stageSpans) {
      expect(stages).toContain(span.attributes['pgferry.stage']);
      expect(`Stage:${String(span.attributes['pgferry.stage'])}`).toBe(span.name);
    }
    expect(stageSpans.find((s) => s.name === 'Stage:finalize')?.attributes['pgferry.state']).toBe(
      'completed',
    );

    // Every activity the migration ran has its span in this trace, under the span that scheduled it.
    const ran = await waitFor(
      () => `the activity spans in the trace; got ${names(inTrace())}`,
      () => {
        const found = inTrace().filter((s) => s.name.startsWith('RunActivity:'));
        return found.some((s) => s.name === 'RunActivity:finalizeTarget') ? found : undefined;
      },
      30_000,
      100,
    );
    const activities = new Set(ran.map((s) => s.name));
    for (const activity of ['runPreflight', 'provisionDatabase', 'listCopyTables', 'validateTables']) {
      expect(activities, activity).toContain(`RunActivity:${activity}`);
    }
    expect([...activities].some((n) => /^RunActivity:copyChunks?$/.test(n))).toBe(true);
    const byId = new Map(inTrace().map((s) => [s.spanId, s]));
    for (const span of ran) {
      expect(byId.get(span.parentSpanId ?? '')?.name, span.name).toBe(
        span.name.replace('RunActivity:', 'StartActivity:'),
      );
    }
    // The stage workflow (provision) runs as a child of the migration, in the same trace.
    const child = inTrace().find((s) => s.name === 'RunWorkflow:provision');
    expect(byId.get(child?.parentSpanId ?? '')?.name).toBe('StartChildWorkflow:provision');
    // One trace: no span of this migration's activities elsewhere.
    const elsewhere = receiver.spans.filter(
      (s) => s.attributes.temporalWorkflowId === workflowId && s.traceId !== root.traceId,
    );
    expect(elsewhere).toEqual([]);
    // Status queries (pgferry status, dashboards) make no spans.
    expect(receiver.spans.filter((s) => s.name.startsWith('HandleQuery:'))).toEqual([]);
    expect(receiver.refused).toEqual([]);
  });
});
