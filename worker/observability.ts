import type { ActivityInterceptorsFactory, NativeConnection, WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { PgferryMetrics } from './metrics';
import { metricsInterceptor } from './metrics-interceptor';
import { MigrationCensus } from './metrics-migrations';
import { startMetricsServer, type MetricsServer } from './metrics-server';
import type { ObservabilityConfig } from './observability-config';
import { freeLoopbackPort, installRuntime, sdkMetricsUrl } from './runtime';
import { startTracing, type Tracing } from './tracing';

/** What the worker adds for metrics and traces: activity deps, interceptors, sinks, bundle modules. */
export interface Observability {
  /** pgferry's metrics, for the activities' deps; none without a metrics port. */
  readonly metrics: PgferryMetrics | undefined;
  readonly activityInterceptors: ActivityInterceptorsFactory[];
  readonly sinks: WorkerOptions['sinks'];
  /** Workflow interceptor modules the workflow bundle must include. */
  readonly workflowInterceptorModules: string[];
  /** The /metrics URL, when served. */
  readonly metricsUrl: string | undefined;
  /** Stops serving /metrics and sends the spans still queued. */
  close(): Promise<void>;
}

/**
 * Installs the Temporal runtime for a worker process: the SDK's log through the worker's logger,
 * and with a metrics port, the SDK's Prometheus exporter on a free loopback port (served again,
 * with pgferry's metrics, on the metrics port). Once per process; later calls change nothing.
 */
export async function installWorkerRuntime(
  config: ObservabilityConfig,
  logger: Logger,
  level: 'WARN' | 'INFO' | 'ERROR' = 'WARN',
): Promise<void> {
  const sdkMetricsPort = config.metricsPort === undefined ? undefined : await freeLoopbackPort();
  installRuntime(level, { logger, ...(sdkMetricsPort === undefined ? {} : { sdkMetricsPort }) });
}

/** Starts /metrics and tracing as the config asks, for a worker on `connection`. */
export async function startObservability(
  config: ObservabilityConfig,
  connection: NativeConnection,
  namespace: string,
  logger: Logger,
): Promise<Observability> {
  let metrics: PgferryMetrics | undefined;
  let server: MetricsServer | undefined;
  if (config.metricsPort !== undefined) {
    metrics = new PgferryMetrics();
    new MigrationCensus(connection.workflowService, namespace).register(metrics.registry);
    const sdkUrl = sdkMetricsUrl();
    if (sdkUrl === undefined) {
      logger.warn("the Temporal runtime was installed without metrics: /metrics serves pgferry's only");
    }
    server = await startMetricsServer({
      port: config.metricsPort,
      host: config.metricsHost,
      registry: metrics.registry,
      sdkUrl,
    });
    logger.info({ url: server.url }, 'serving metrics');
  }
  let tracing: Tracing | undefined;
  if (config.tracing) {
    tracing = startTracing(config.tracing);
    // The endpoint without its query or credentials, where tokens may be.
    const url = new URL(config.tracing.tracesUrl);
    logger.info({ traces: `${url.origin}${url.pathname}` }, 'exporting traces');
  }
  return {
    metrics,
    activityInterceptors: [
      ...(tracing ? [tracing.activityInterceptors] : []),
      ...(metrics ? [metricsInterceptor(metrics)] : []),
    ],
    sinks: tracing?.sinks ?? {},
    workflowInterceptorModules: tracing?.workflowInterceptorModules ?? [],
    metricsUrl: server?.url,
    close: async () => {
      await server?.close();
      await tracing?.shutdown();
    },
  };
}
