import { context, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';

/** What a stage span is named after: `Stage:copy`, beside the SDK's `RunActivity:copyChunks`. */
const STAGE_SPAN = 'Stage:';

/**
 * One span per stage of a workflow, each a child of the workflow's own span, so that a trace of a
 * migration reads as its stage list with the activities' spans beside them in time. Without the
 * OpenTelemetry workflow interceptors in the bundle (tracing off) the global tracer is a no-op and
 * so are these. Spans take the workflow's clock and seeded ids, and reach the worker through the
 * interceptors' sink, which is not called on replay: nothing here breaks determinism.
 */
export class StageSpans {
  /** The workflow span's context, taken when the workflow's progress is made. */
  private readonly parent: Context = context.active();
  private current: Span | undefined;

  /** Ends the span of the stage before, and starts the span of `stage`. */
  enter(stage: string): void {
    this.current?.end();
    this.current = trace
      .getTracer('pgferry-workflow')
      .startSpan(`${STAGE_SPAN}${stage}`, { attributes: { 'pgferry.stage': stage } }, this.parent);
  }

  /** Ends the span of the last stage with the workflow's final state (an error status when it failed). */
  end(state: string, error?: string): void {
    const span = this.current;
    if (!span) return;
    span.setAttribute('pgferry.state', state);
    if (state === 'failed')
      span.setStatus({ code: SpanStatusCode.ERROR, ...(error ? { message: error } : {}) });
    span.end();
    this.current = undefined;
  }
}
