import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { Context } from '@opentelemetry/api';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/worker';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';

/** Where traces go and what the worker calls itself in them. */
export interface TracingSettings {
  /** The OTLP/HTTP traces endpoint (…/v1/traces). */
  readonly tracesUrl: string;
  readonly serviceName: string;
}

/** What the worker needs for tracing: interceptors, the workflow span sink, the bundle's modules. */
export interface Tracing {
  readonly activityInterceptors: ActivityInterceptorsFactory;
  readonly sinks: InjectedSinks<never>;
  /** Workflow interceptor modules the workflow bundle must include for workflow-side spans. */
  readonly workflowInterceptorModules: string[];
  /** Sends the spans still queued, then stops. */
  shutdown(): Promise<void>;
}

/** Span names whose spans are dropped: status queries come every second from watchers and dashboards. */
const DROPPED = ['HandleQuery:'];

/** Passes spans on to `next`, except the ones of queries. */
class WithoutQueries implements SpanProcessor {
  constructor(private readonly next: SpanProcessor) {}
  onStart(span: Span, parent: Context): void {
    this.next.onStart(span, parent);
  }
  onEnd(span: ReadableSpan): void {
    if (!DROPPED.some((prefix) => span.name.startsWith(prefix))) this.next.onEnd(span);
  }
  forceFlush(): Promise<void> {
    return this.next.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.next.shutdown();
  }
}

/**
 * OpenTelemetry tracing through @temporalio/interceptors-opentelemetry: a migration's workflow
 * span (and its stage workflows' under it), its stages' spans (workflows/progress.ts) and one span
 * per activity attempt, exported over OTLP/HTTP (JSON) in batches. The workflow side records its
 * spans in the workflow sandbox and hands them to the worker through a sink, so workflow code stays
 * deterministic; spans made while a workflow replays are not exported again.
 */
export function startTracing(settings: TracingSettings): Tracing {
  const resource = new Resource({ 'service.name': settings.serviceName });
  const processor = new WithoutQueries(
    new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.tracesUrl })),
  );
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  // Process-wide: the W3C propagator reads the trace the workflow put in an activity's headers, and
  // the context manager keeps it across the activity's awaits, so its span joins the workflow's trace.
  provider.register({ contextManager: new AsyncLocalStorageContextManager().enable() });
  const tracer = provider.getTracer('pgferry-worker');
  return {
    activityInterceptors: (ctx) => ({
      inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }),
      outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
    }),
    sinks: { exporter: makeWorkflowExporter(processor, resource) } as InjectedSinks<never>,
    workflowInterceptorModules: [
      require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
    ],
    shutdown: () => provider.shutdown(),
  };
}
