import { z } from 'zod';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { LogFormat } from './logger';
import type { TracingSettings } from './tracing';

const HttpUrl = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });

const EnvSchema = z.object({
  PGFERRY_METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  PGFERRY_METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  PGFERRY_LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  OTEL_EXPORTER_OTLP_ENDPOINT: HttpUrl.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: HttpUrl.optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: z.string().optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z.string().optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('pgferry-worker'),
});

/** The worker's metrics, tracing and log settings. */
export interface ObservabilityConfig {
  /** Port of /metrics (Prometheus text); no endpoint when undefined. */
  readonly metricsPort: number | undefined;
  /** Address /metrics listens on: every interface unless narrowed. */
  readonly metricsHost: string;
  readonly logFormat: LogFormat;
  /** Where traces go (OTLP/HTTP); no tracing when undefined. */
  readonly tracing: TracingSettings | undefined;
}

/** What command-line flags set over the environment. */
export interface ObservabilityFlags {
  readonly metricsPort?: number | undefined;
  readonly logFormat?: LogFormat | undefined;
}

function invalid(field: string, message: string, fix: string): PgferryError {
  return new PgferryError(ErrorCode.InvalidInput, `${field}: ${message}`, { field, fix });
}

/** The traces URL of the OTLP/HTTP settings, per the OpenTelemetry exporter specification. */
function tracesUrl(e: z.output<typeof EnvSchema>): string | undefined {
  if (e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (!e.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  return `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Parses the worker's observability settings from its environment (PGFERRY_METRICS_PORT,
 * PGFERRY_METRICS_HOST, PGFERRY_LOG_FORMAT, OTEL_EXPORTER_OTLP_ENDPOINT…), flags first; every
 * problem is named by its variable.
 */
export function loadObservabilityConfig(
  env: NodeJS.ProcessEnv = process.env,
  flags: ObservabilityFlags = {},
): ObservabilityConfig {
  const parsed = EnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue?.path[0] ?? 'environment');
    throw invalid(field, issue?.message ?? 'invalid', `correct ${field} in the environment`);
  }
  const e = parsed.data;
  for (const field of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL'] as const) {
    if (e[field]?.startsWith('grpc')) {
      throw invalid(
        field,
        `${e[field]} is not supported: pgferry exports traces over OTLP/HTTP (JSON)`,
        `unset ${field}, and point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's OTLP/HTTP port (4318 by default)`,
      );
    }
  }
  const url = tracesUrl(e);
  return {
    metricsPort: flags.metricsPort ?? e.PGFERRY_METRICS_PORT,
    metricsHost: e.PGFERRY_METRICS_HOST,
    logFormat: flags.logFormat ?? e.PGFERRY_LOG_FORMAT,
    tracing: url === undefined ? undefined : { tracesUrl: url, serviceName: e.OTEL_SERVICE_NAME },
  };
}

/** The URL a scraper on this host reaches /metrics at (loopback for a worker listening on every interface). */
export function metricsEndpoint(host: string, port: number): string {
  const reach = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}/metrics`;
}
