import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTimeline } from '../client/history';
import { renderReportHtml } from '../client/report/html';
import { renderReportMarkdown } from '../client/report/markdown';
import { copyThroughput, reportFromTimeline, type MigrationReport } from '../client/report/model';
import { browserSkipReason, launchChromium, saveScreenshot } from './helpers/browser';
import { historyCodec, loadHistories } from './helpers/histories';
import { query, runCommand, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { runPgferry } from './helpers/processes';
import { useTemporalSuite } from './helpers/suite';
import { waitForStatus } from './helpers/wait';
import { startWriter } from './helpers/writer';

const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');
const CTX = { generatedAt: '2026-01-01T00:00:00.000Z', version: 'test' };

/** The report of a recorded history (test/histories), rebuilt as `pgferry report` does. */
async function recordedReport(name: string): Promise<MigrationReport> {
  const recorded = (await loadHistories()).find((h) => h.name === name);
  if (!recorded) throw new Error(`no recorded history ${name}`);
  return reportFromTimeline(
    await buildTimeline(recorded.workflowId, recorded.history.events, historyCodec()),
  );
}

describe('the report model and its renderers, on recorded histories', () => {
  it('adds up the throughput of batches that ran side by side, and ends at zero', () => {
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const batch = (from: number, to: number, bytes: number) => ({
      startedAt: at(from),
      endedAt: at(to),
      bytes,
      rows: 1,
      copied: 1,
      skipped: 0,
    });
    expect(copyThroughput([batch(0, 4, 400), batch(2, 4, 400), batch(4, 5, 50)])).toEqual([
      { at: at(0), bytesPerSecond: 100 },
      { at: at(2), bytesPerSecond: 300 },
      { at: at(4), bytesPerSecond: 50 },
      { at: at(5), bytesPerSecond: 0 },
    ]);
  });

  it('reports an online migration: stages, copy batches, lag samples, both validations, the decision, the downtime', async () => {
    const report = await recordedReport('migration-online-approved');
    expect(report).toMatchObject({ outcome: 'completed', mode: 'online' });
    expect(report.stages.map((s) => s.stage)).toEqual(
      expect.arrayContaining(['preflight', 'copy', 'replicate', 'approval', 'cutover']),
    );
    expect(report.copy.batches.length).toBeGreaterThan(0);
    expect(report.lag.samples.length).toBeGreaterThanOrEqual(2);
    expect(report.liveValidation?.level).toBe('checksums');
    expect(report.validation?.ok).toBe(true);
    expect(report.decisions).toMatchObject([{ outcome: 'approved', by: 'alice' }]);
    expect(report.downtimeMs).toBeGreaterThan(0);
    expect(report.freezeAt).toBeDefined();
    const html = renderReportHtml(report, CTX);
    // Self-contained: nothing is fetched, no script runs.
    expect(html).not.toMatch(/<script|<link rel="stylesheet"|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html).toContain('id="chart-lag"');
    const md = renderReportMarkdown(report, CTX);
    expect(md).toContain('## Replication lag');
    expect(md).toMatch(/\| .* \| approved \| alice \| recorded online \| update \|/);
  });

  it('reports a rejected migration as rejected, with who rejected it and why, and no lag section offline', async () => {
    const report = await recordedReport('migration-rejected');
    expect(report.outcome).toBe('rejected');
    expect(report.decisions[0]).toMatchObject({ outcome: 'rejected' });
    expect(report.downtimeMs).toBeUndefined();
    const md = renderReportMarkdown(report, CTX);
    expect(md).not.toContain('## Replication lag');
    expect(md).toMatch(/\| rejected \|/);
  });

  it('escapes what the history says: a reason with markup stays text', async () => {
    const report = await recordedReport('migration-online-approved');
    const tampered = {
      ...report,
      decisions: [{ ...report.decisions[0]!, reason: '<img src=x onerror=alert(1)> | pipe' }],
    };
    expect(renderReportHtml(tampered, CTX)).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(renderReportMarkdown(tampered, CTX)).toContain('<img src=x onerror=alert(1)> \\| pipe');
  });
});

describe('pgferry report on a real online migration', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;
  let dir: string;
  const name = 'report-shop';

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-report-'));
    [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
    ]);
    await query(source.url(), 'CREATE DATABASE shop');
    await runCommand('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', FIXTURE, source.url('shop')]);
    // Replica identities for online; a live table for the writer; a bulk table the copy splits into batches.
    await query(
      source.url('shop'),
      `ALTER TABLE public.raw_log REPLICA IDENTITY FULL;
       ALTER TABLE inventory.stock_p0 REPLICA IDENTITY FULL;
       ALTER TABLE inventory.stock_p1 REPLICA IDENTITY FULL;
       CREATE TABLE public.live (id bigserial PRIMARY KEY, v text NOT NULL);
       CREATE TABLE public.bulk (id bigint PRIMARY KEY, payload text NOT NULL);
       INSERT INTO public.bulk SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 85000) g;
       ANALYZE public.bulk;`,
    );
  });

  afterAll(async () => {
    await source?.stop();
    await target?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const suite = useTemporalSuite();

  /** The migration, run once: under a write load, stopped at the gate, approved by alice, cut over. */
  let migrated: Promise<void> | undefined;
  const migrate = () =>
    (migrated ??= (async () => {
      const writer = startWriter(source.url('shop'), [
        "INSERT INTO public.live (v) VALUES ('w' || clock_timestamp())",
      ]);
      try {
        const run = await suite.client.migrate({
          name,
          source: source.url('shop'),
          target: target.url('shop'),
          mode: 'online',
          validate: 'checksums',
          splitLargerThan: 4 * 1024 * 1024,
        });
        await waitForStatus(suite.client, run.workflowId, 'the gate', (s) => s.state === 'waiting', 120_000);
        await suite.client.approve(name, { by: 'alice', reason: 'lag is low, validation equal' });
        expect((await run.result()).outcome).toBe('completed');
      } finally {
        await writer.stop();
      }
    })());

  it.skipIf(browserSkipReason())(
    'writes a self-contained HTML page that renders in chromium with its charts and tables, and nothing else loaded',
    async () => {
      await migrate();
      const file = path.join(dir, 'report.html');
      const result = await runPgferry(['report', name, '--html', file, '--json'], suite.env);
      expect(result.code, result.stderr).toBe(0);
      const body = JSON.parse(result.stdout) as {
        ok: boolean;
        files: { html: string };
        report: MigrationReport;
      };
      expect(body).toMatchObject({ ok: true, files: { html: file } });
      expect(body.report.copy.batches.length).toBeGreaterThanOrEqual(2);

      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
        const problems: string[] = [];
        const requests: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') problems.push(`console: ${m.text()}`);
        });
        page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
        page.on('request', (r) => requests.push(r.url()));
        await page.goto(`file://${file}`);
        await saveScreenshot(page, 'report.png');
        expect(problems).toEqual([]);
        expect(requests).toEqual([`file://${file}`]);
        expect(await page.locator('#outcome').innerText()).toBe('completed');
        expect(await page.locator('#chart-stages rect.bar').count()).toBeGreaterThanOrEqual(8);
        expect(await page.locator('#chart-throughput circle.point').count()).toBeGreaterThanOrEqual(3);
        expect(await page.locator('#chart-lag circle.point').count()).toBeGreaterThanOrEqual(2);
        // The charts are drawn: their boxes have a size on the page.
        const box = await page.locator('#chart-throughput').boundingBox();
        expect(box?.width).toBeGreaterThan(300);
        expect(await page.locator('#validation tbody tr').count()).toBeGreaterThan(10);
        expect(await page.locator('#validation-live tbody tr').count()).toBeGreaterThan(10);
        expect(await page.locator('#preflight tbody tr').count()).toBeGreaterThan(5);
        const decisions = page.locator('#decision-table tbody tr');
        expect(await decisions.count()).toBe(1);
        expect(await decisions.first().innerText()).toMatch(
          /approved\s+alice\s+lag is low, validation equal/,
        );
        expect(await page.locator('main').innerText()).toMatch(/Downtime\s+[\d,]+ ms/);
      } finally {
        await browser.close();
      }
    },
  );

  it('writes the same report as Markdown, and refuses a file in a folder that does not exist', async () => {
    await migrate();
    const file = path.join(dir, 'report.md');
    const result = await runPgferry(['report', name, '--md', file], suite.env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(`wrote ${file}`);
    const md = await readFile(file, 'utf8');
    expect(md).toMatch(/^# pgferry report: migration-report-shop/);
    expect(md).toMatch(/- \*\*downtime\*\*: [\d,]+ ms/);
    expect(md).toMatch(/\| public\.live \| [\d,]+ \| [\d,]+ \| — \| equal \|/);
    expect(md).toMatch(/\| approved \| alice \| lag is low, validation equal \| update \|/);
    expect(md).toContain('## Copy throughput');
    expect(md).toContain('## Replication lag');

    const bad = await runPgferry(
      ['report', name, '--html', path.join(dir, 'nope', 'r.html'), '--json'],
      suite.env,
    );
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({
      ok: false,
      error: { code: 'InvalidInput', field: 'html' },
    });
  });
});
