import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgferryClient } from '../client/pgferry-client';
import { freePort, query, startThrowawayCluster, uniqueName, type ThrowawayCluster } from './helpers/pg';
import { spawnPgferry, type PgferryProcess } from './helpers/processes';
import { scrape, type Exposition } from './helpers/prometheus';
import { testEnv } from './helpers/temporal';
import { sleep, waitFor, waitForStatus } from './helpers/wait';
import { startWriter } from './helpers/writer';

const DASHBOARD = path.join(__dirname, '..', 'docs', 'grafana-dashboard.json');
const ROWS = 100_000;

/** The metric names an expression names (the families of pgferry, the SDK and the process). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:pgferry|temporal|process|nodejs)_[a-zA-Z0-9_]+)\b/g)].map(
    (m) => m[1] as string,
  );
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string }[];
  panels?: Panel[];
}

describe('the worker serves Prometheus metrics at --metrics-port', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;
  let worker: PgferryProcess;
  let client: PgferryClient;
  let url: string;
  /** Every metric name any scrape of this file saw (families and sample names). */
  const seen = new Set<string>();

  const look = async (): Promise<Exposition> => {
    const found = await scrape(url);
    for (const f of found.families) seen.add(f);
    for (const s of found.samples) seen.add(s.name);
    return found;
  };

  beforeAll(async () => {
    // The worker bundles its workflows while the clusters start and fill.
    const port = await freePort();
    url = `http://127.0.0.1:${port}/metrics`;
    const env = testEnv();
    worker = spawnPgferry(['worker', '--metrics-port', String(port)], env);
    const ready = worker.waitFor(/ready/, 120_000);
    ready.catch(() => undefined); // awaited below, after the cluster work
    [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
    ]);
    await query(source.url(), 'CREATE DATABASE app');
    await query(
      source.url('app'),
      `CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL);
       INSERT INTO big SELECT g, md5(g::text) || repeat('m', 200) FROM generate_series(1, ${ROWS}) g;
       CREATE TABLE live (id bigserial PRIMARY KEY, v text NOT NULL);
       ANALYZE;`,
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
    await source?.stop();
    await target?.stop();
  });

  it("shows the copy, the lag, the slot's WAL, the stage and the SDK's worker metrics during an online migration", async () => {
    const name = uniqueName('metrics');
    const workflowId = `migration-${name}`;
    const byWorkflow = { workflow_id: workflowId };
    // Throughput lasts as long as the copy: scraped all along, its highest value kept.
    let throughput = 0;
    let scraping = true;
    const scraper = (async () => {
      while (scraping) {
        const found = await look().catch(() => undefined);
        for (const v of found?.values('pgferry_copy_throughput_bytes_per_second', byWorkflow) ?? []) {
          throughput = Math.max(throughput, v);
        }
        await sleep(200);
      }
    })();
    const writer = startWriter(source.url('app'), ["INSERT INTO live (v) VALUES ('w' || clock_timestamp())"]);
    try {
      const run = await client.migrate({
        name,
        source: source.url('app'),
        target: target.url('app'),
        mode: 'online',
        validate: 'counts',
      });
      await waitForStatus(client, name, 'the approval gate', (s) => s.state === 'waiting', 120_000);
      // The approval watch looks every two seconds: the lag is there once it has looked.
      const gate = await waitFor(
        'lag, retained WAL and the wait in /metrics',
        async () => {
          const found = await look();
          const ready =
            found.values('pgferry_replication_lag_bytes', byWorkflow).length === 1 &&
            found.values('pgferry_slot_retained_wal_bytes', byWorkflow).length === 1 &&
            found.values('pgferry_approval_wait_seconds', byWorkflow).length === 1;
          return ready ? found : undefined;
        },
        30_000,
        500,
      );
      expect(gate.values('pgferry_replication_lag_bytes', byWorkflow)[0]).toBeGreaterThanOrEqual(0);
      expect(gate.values('pgferry_replication_lag_seconds', byWorkflow)).toHaveLength(1);
      expect(gate.values('pgferry_slot_retained_wal_bytes', byWorkflow)[0]).toBeGreaterThan(0);
      expect(gate.values('pgferry_replication_ready', byWorkflow)).toHaveLength(1);
      expect(gate.values('pgferry_copy_rows_total', byWorkflow)[0]).toBeGreaterThanOrEqual(ROWS);
      expect(gate.values('pgferry_copy_bytes_total', byWorkflow)[0]).toBeGreaterThan(ROWS * 200);
      expect(gate.values('pgferry_copy_chunks_total', byWorkflow)[0]).toBeGreaterThanOrEqual(2);
      expect(
        gate.values('pgferry_migrations', { stage: 'approval', state: 'waiting' })[0],
      ).toBeGreaterThanOrEqual(1);
      expect(gate.values('pgferry_approvals_waiting')[0]).toBeGreaterThanOrEqual(1);
      expect(gate.values('pgferry_approval_wait_seconds', byWorkflow)[0]).toBeGreaterThanOrEqual(0);
      expect(gate.values('pgferry_visibility_up')).toEqual([1]);
      expect(gate.values('pgferry_sdk_metrics_up')).toEqual([1]);
      // The SDK's own worker metrics, on the same endpoint, with Prometheus names.
      expect(
        gate.values('temporal_worker_task_slots_available', { task_queue: 'pgferry-data' }).length,
      ).toBeGreaterThan(0);
      expect(gate.values('temporal_activity_execution_latency_seconds_count').length).toBeGreaterThan(0);
      expect(throughput).toBeGreaterThan(0);

      await client.approve(name, { by: 'alice', reason: 'metrics look fine' });
      expect((await run.result()).outcome).toBe('completed');
      const after = await waitFor(
        'the completed migration counted',
        async () => {
          const found = await look();
          return (found.values('pgferry_migrations_closed', { state: 'completed' })[0] ?? 0) >= 1 &&
            found.values('pgferry_approval_wait_seconds', byWorkflow).length === 0
            ? found
            : undefined;
        },
        30_000,
        500,
      );
      expect(
        after.values('pgferry_migrations', { stage: 'approval', state: 'waiting' }).length,
      ).toBeLessThanOrEqual(
        gate.values('pgferry_migrations', { stage: 'approval', state: 'waiting' }).length,
      );
    } finally {
      scraping = false;
      await scraper;
      await writer.stop();
    }
  });

  it('answers 404 off /metrics', async () => {
    const res = await fetch(url.replace('/metrics', '/'));
    expect(res.status).toBe(404);
  });

  it('has a Grafana dashboard whose every query names a metric the worker exposed', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      title: string;
      uid: string;
      schemaVersion: number;
      panels: Panel[];
      templating: { list: { name: string; type: string; query?: unknown; definition?: string }[] };
    };
    expect(dashboard.title).toMatch(/pgferry/i);
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const queries: string[] = [];
    for (const panel of panels) {
      expect(panel.title, `panel ${panel.id}`).toBeTruthy();
      expect(panel.gridPos.w, panel.title).toBeGreaterThan(0);
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      if (panel.type === 'row') continue;
      expect(['timeseries', 'stat', 'table', 'gauge', 'bargauge'], panel.title).toContain(panel.type);
      expect(panel.datasource?.type, panel.title).toBe('prometheus');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const t of panel.targets ?? []) {
        expect(t.refId, panel.title).toBeTruthy();
        expect(metricNames(t.expr).length, `${panel.title}: ${t.expr}`).toBeGreaterThan(0);
        queries.push(t.expr);
      }
    }
    for (const variable of dashboard.templating.list) {
      if (variable.type === 'query')
        queries.push(String(variable.definition ?? JSON.stringify(variable.query)));
    }
    // Each query must name metrics that a scrape during the migration showed.
    if (process.env.PGFERRY_PRINT_METRICS) console.log([...seen].sort().join('\n'));
    const unknown = queries.flatMap(metricNames).filter((n) => !seen.has(n));
    expect(unknown).toEqual([]);
    // And the dashboard covers what operators asked for.
    const named = new Set(queries.flatMap(metricNames));
    for (const wanted of [
      'pgferry_copy_bytes_total',
      'pgferry_copy_rows_total',
      'pgferry_copy_throughput_bytes_per_second',
      'pgferry_replication_lag_bytes',
      'pgferry_replication_lag_seconds',
      'pgferry_slot_retained_wal_bytes',
      'pgferry_migrations',
      'pgferry_approvals_waiting',
      'pgferry_approval_wait_seconds',
      'pgferry_validation_failures_total',
      'pgferry_activity_retries_total',
    ]) {
      expect(named, wanted).toContain(wanted);
    }
  });
});
