import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseFingerprint, diffFingerprints, type DatabaseFingerprint } from './helpers/fingerprint';
import {
  adminUrl,
  cloneDatabase,
  createEmptyDatabase,
  createTemplateDatabase,
  dropDatabase,
  query,
  runCommand,
  startThrowawayCluster,
  uniqueName,
  type ThrowawayCluster,
} from './helpers/pg';

const FIXTURE = join(__dirname, 'fixtures', 'complex.sql');

describe('PostgreSQL test helpers', () => {
  const template = uniqueName('pgferry_helpers_tpl');
  const databases: string[] = [];
  const clusters: ThrowawayCluster[] = [];
  const tempDirs: string[] = [];
  let templateFingerprint: DatabaseFingerprint;

  // Clones are recorded before they exist so that afterAll drops them even when a test fails half-way.
  async function clone(label: string): Promise<string> {
    const name = uniqueName(`pgferry_helpers_${label}`);
    databases.push(name);
    return cloneDatabase(template, name);
  }

  beforeAll(async () => {
    const url = await createTemplateDatabase(template, FIXTURE);
    templateFingerprint = await databaseFingerprint(url);
  }, 30_000);

  afterAll(async () => {
    for (const cluster of clusters) await cluster.stop();
    for (const db of databases) await dropDatabase(db);
    await dropDatabase(template);
    for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('loads the fixture into a template database that can be cloned', async () => {
    const url = await clone('clone');
    const [counts] = await query<{ items: string; events: string; trucks: string; los: string }>(
      url,
      `SELECT (SELECT count(*) FROM "données"."Order Items") AS items,
              (SELECT count(*) FROM inventory.events) AS events,
              (SELECT count(*) FROM ONLY inventory.trucks) AS trucks,
              (SELECT count(*) FROM pg_largeobject_metadata) AS los`,
    );
    expect(counts).toEqual({ items: '2000', events: '1000', trucks: '10', los: '3' });
  });

  it('fingerprints the fixture features that migrations get wrong', () => {
    const fp = templateFingerprint;
    expect(fp.schema['relation "Sales".secrets']).toMatchObject({
      rowSecurity: true,
      forceRowSecurity: true,
    });
    expect(fp.schema['relation inventory.cache']).toMatchObject({ persistence: 'u' });
    expect(fp.schema['relation inventory.events_2024_other']).toMatchObject({
      partitionBound: 'DEFAULT',
      parents: ['inventory.events_2024'],
    });
    expect(fp.schema['relation inventory.trucks']).toMatchObject({ parents: ['inventory.vehicles'] });
    expect(fp.schema['trigger "Sales".customers.customers_touch']).toMatchObject({ enabled: 'D' });
    expect(fp.schema['column "données"."Order Items"."prix €"']).toMatchObject({ type: 'numeric(12,2)' });
    expect(fp.schema['column public.legacy_accounts.balance']).toMatchObject({ position: 2 });
    expect(fp.data['inventory.vehicles']).toMatchObject({ rows: 20 });
    expect(fp.data['public.raw_log']).toMatchObject({ rows: 152 });
    expect(fp.data['audit.changes']).toMatchObject({ rows: 20 });
    expect(fp.sequences['"Sales".shared_doc_seq']).toEqual({ lastValue: '7025', isCalled: true });
    expect(fp.sequences['inventory.ticket_seq']).toEqual({ lastValue: '42', isCalled: false });
    expect(Object.keys(fp.largeObjects.objects)).toEqual(['90001', '90002', '90003']);
  });

  it('gives a clone the same fingerprint as its template', async () => {
    const url = await clone('same');
    const fingerprint = await databaseFingerprint(url);
    expect(diffFingerprints(templateFingerprint, fingerprint)).toEqual([]);
    expect(fingerprint).toEqual(templateFingerprint);
  });

  const mutations: readonly { what: string; sql: string; mentions: string }[] = [
    {
      what: 'a changed row',
      sql: `UPDATE "données"."Order Items" SET "prix €" = "prix €" + 0.01 WHERE order_id = 1 AND "ligne n°" = 1`,
      mentions: 'data "données"."Order Items"',
    },
    {
      what: 'a changed sequence value',
      sql: `SELECT setval('"Sales".shared_doc_seq', 7030)`,
      mentions: 'sequence value "Sales".shared_doc_seq',
    },
    {
      what: 'a changed large object',
      sql: `SELECT lo_put(90002, 100, '\\x00')`,
      mentions: 'large object 90002',
    },
    {
      what: 'a dropped index',
      sql: `DROP INDEX "Sales".orders_placed_at_idx`,
      mentions: 'index "Sales".orders_placed_at_idx',
    },
  ];

  it.each(mutations)('detects $what made on its own clone', async ({ sql, mentions }) => {
    const url = await clone('mutated');
    await query(url, sql);
    const diff = diffFingerprints(templateFingerprint, await databaseFingerprint(url));
    expect(diff.length).toBeGreaterThan(0);
    // Only the mutated object may differ, and the message must name it.
    expect(diff.filter((line) => !line.startsWith(mentions))).toEqual([]);
  });

  it('gives an equal fingerprint after a pg_dump -Fd / pg_restore round trip', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'pgferry-dump-'));
    tempDirs.push(workDir);
    // pg_dump -Fd wants to create the directory itself.
    const dumpDir = join(workDir, 'dump');
    await runCommand('pg_dump', ['-Fd', '-j', '2', '-f', dumpDir, '-d', adminUrl(5432, template)]);
    const target = uniqueName('pgferry_helpers_restored');
    databases.push(target);
    const url = await createEmptyDatabase(target);
    await runCommand('pg_restore', ['--exit-on-error', '-j', '2', '-d', url, dumpDir]);
    const restored = await databaseFingerprint(url);
    expect(diffFingerprints(templateFingerprint, restored)).toEqual([]);
  });

  it('starts a throw-away cluster with scram auth that refuses a wrong password and accepts the right one', async () => {
    const cluster = await startThrowawayCluster({ auth: 'scram', password: 'right-Pässword' });
    clusters.push(cluster);
    expect(existsSync(cluster.dataDir)).toBe(true);

    const wrong = new Client({ host: '127.0.0.1', port: cluster.port, user: 'postgres', password: 'wrong' });
    const refusal = await wrong.connect().then(
      () => undefined,
      (error: unknown) => error as { code?: string },
    );
    await wrong.end().catch(() => undefined);
    expect(refusal?.code).toBe('28P01');

    const [row] = await query<{ wal_level: string; ok: number }>(
      cluster.url(),
      `SELECT current_setting('wal_level') AS wal_level, 1 AS ok`,
    );
    expect(row).toEqual({ wal_level: 'logical', ok: 1 });

    await cluster.stop();
    expect(existsSync(cluster.dataDir)).toBe(false);
  }, 30_000);
});
