import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, type Registry } from 'prom-client';
import { ErrorCode, PgferryError } from '../domain/errors';
import { metricsEndpoint } from './observability-config';

/** The /metrics endpoint of a worker. */
export interface MetricsServer {
  /** http://host:port/metrics */
  readonly url: string;
  close(): Promise<void>;
}

/** Options of the /metrics endpoint. */
export interface MetricsServerOptions {
  readonly port: number;
  readonly host: string;
  /** pgferry's metrics. */
  readonly registry: Registry;
  /** Where the Temporal runtime's Prometheus exporter serves the SDK's metrics (loopback); none when undefined. */
  readonly sdkUrl: string | undefined;
}

/** The SDK exporter's text, or undefined when it cannot be read now. */
async function sdkMetrics(url: string | undefined): Promise<string | undefined> {
  if (url === undefined) return undefined;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Serves Prometheus text at /metrics: the Temporal SDK's worker metrics (the runtime's own
 * exporter, read on a loopback port at each scrape) followed by pgferry's. The two never share a
 * name (temporal_… and pgferry_…), so one exposition holds both.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const sdkUp = new Gauge({
    name: 'pgferry_sdk_metrics_up',
    help: "Whether the Temporal SDK's worker metrics could be read for this scrape.",
    registers: [options.registry],
  });
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    void (async () => {
      try {
        const sdk = await sdkMetrics(options.sdkUrl);
        sdkUp.set(sdk === undefined ? 0 : 1);
        const ours = await options.registry.metrics();
        const body = sdk === undefined ? ours : `${sdk.trimEnd()}\n${ours}`;
        res.writeHead(200, { 'content-type': options.registry.contentType }).end(body);
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics: ${String(err)}\n`);
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new PgferryError(
          ErrorCode.InvalidInput,
          `--metrics-port: cannot listen on ${options.host}:${options.port} (${err.code ?? err.message})`,
          {
            field: 'metrics-port',
            fix: 'choose a free port with --metrics-port or PGFERRY_METRICS_PORT',
            cause: err,
          },
        ),
      );
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: metricsEndpoint(options.host, port),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
