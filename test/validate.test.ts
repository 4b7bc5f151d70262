import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../activities';
import { COUNT_BATCH } from '../activities/pg/validate-sql';
import { MISSING_TABLE_ROWS, type ValidationReport } from '../domain/migration';
import type { ProgressFigures } from '../domain/contracts';
import { activityEnv, runActivity, testActivityDeps } from './helpers/activity-env';
import {
  cloneDatabase,
  createEmptyDatabase,
  createTemplateDatabase,
  dropDatabase,
  query,
  uniqueName,
} from './helpers/pg';

const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');

const activities = createActivities(testActivityDeps());

type ValidateInput = Parameters<Activities['validateTables']>[0];

/** Runs validateTables inside an activity Context (it heartbeats) and keeps the heartbeats it sent. */
async function validate(
  input: ValidateInput,
): Promise<{ report: ValidationReport; beats: ProgressFigures[] }> {
  const env = activityEnv();
  const beats: ProgressFigures[] = [];
  env.on('heartbeat', (details: unknown) => beats.push(details as ProgressFigures));
  const report = await env.run<[ValidateInput], ValidationReport, Activities['validateTables']>(
    activities.validateTables,
    input,
  );
  return { report, beats };
}

/** The report's entry for one table. */
function tableOf(report: ValidationReport, schema: string, table: string) {
  const entry = report.tables.find((t) => t.schema === schema && t.table === table);
  if (!entry) throw new Error(`no entry for ${schema}.${table} in the report`);
  return entry;
}

/** The qualified names of the tables that did not match. */
function failedTables(report: ValidationReport): string[] {
  return report.tables.filter((t) => !t.ok).map((t) => `${t.schema}.${t.table}`);
}

describe('validateTables against a real PostgreSQL', () => {
  const template = uniqueName('pgferry_val_tpl');
  const databases: string[] = [];
  let source: string;

  /** A clone of the fixture, dropped in afterAll. */
  async function clone(label: string): Promise<string> {
    const name = uniqueName(`pgferry_val_${label}`);
    databases.push(name);
    return cloneDatabase(template, name);
  }

  beforeAll(async () => {
    await createTemplateDatabase(template, FIXTURE);
    source = await clone('source');
  }, 60_000);

  afterAll(async () => {
    for (const db of databases) await dropDatabase(db).catch(() => undefined);
    await dropDatabase(template);
  }, 60_000);

  it('finds two clones of the fixture equal at both levels', async () => {
    const target = await clone('same');
    for (const level of ['counts', 'checksums'] as const) {
      const { report, beats } = await validate({ source, target, level });
      expect(failedTables(report)).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.level).toBe(level);
      // Every ordinary table with rows of its own, partitions and inheritance children included.
      expect(report.tables.length).toBeGreaterThan(15);
      expect(tableOf(report, 'inventory', 'trucks')).toMatchObject({ sourceRows: 10, targetRows: 10 });
      // ONLY: the parent's own 20 rows, not its children's 10 on top.
      expect(tableOf(report, 'inventory', 'vehicles')).toMatchObject({ sourceRows: 20, targetRows: 20 });
      // row_security = off: the forced policy hides nothing.
      expect(tableOf(report, 'Sales', 'secrets')).toMatchObject({ sourceRows: 30, ok: true });
      expect(report.sequences.map((s) => s.name)).toContain('inventory.ticket_seq');
      expect(report.sequences.map((s) => s.name)).toContain('"Sales".shared_doc_seq');
      expect(report.sequences.every((s) => s.ok)).toBe(true);
      expect(report.largeObjects).toEqual({ source: 3, target: 3, ok: true });
      const rawLog = tableOf(report, 'public', 'raw_log');
      if (level === 'checksums') {
        expect(rawLog.sourceChecksum).toMatch(/^[0-9a-f]{32}$/);
        expect(rawLog.targetChecksum).toBe(rawLog.sourceChecksum);
      } else {
        expect(rawLog.sourceChecksum).toBeUndefined();
      }
      // It heartbeats from the start (later beats come every second, longer than this run).
      expect(beats.length).toBeGreaterThan(0);
    }
  });

  it('fails checksums but passes counts when one row has changed', async () => {
    const target = await clone('changed');
    await query(target, `UPDATE "Sales".customers SET name = name || '!' WHERE id = 150`);

    const counts = await validate({ source, target, level: 'counts' });
    expect(counts.report.ok).toBe(true);

    const checksums = await validate({ source, target, level: 'checksums' });
    expect(checksums.report.ok).toBe(false);
    expect(failedTables(checksums.report)).toEqual(['Sales.customers']);
    const customers = tableOf(checksums.report, 'Sales', 'customers');
    expect(customers.sourceRows).toBe(customers.targetRows);
    expect(customers.targetChecksum).not.toBe(customers.sourceChecksum);
  });

  it('fails counts when a row was deleted', async () => {
    const target = await clone('deleted');
    // raw_log has duplicate rows and no key: delete exactly one physical row.
    await query(target, `DELETE FROM public.raw_log WHERE ctid = (SELECT min(ctid) FROM public.raw_log)`);
    const { report } = await validate({ source, target, level: 'counts' });
    expect(report.ok).toBe(false);
    expect(failedTables(report)).toEqual(['public.raw_log']);
    expect(tableOf(report, 'public', 'raw_log')).toMatchObject({
      sourceRows: 152,
      targetRows: 151,
      ok: false,
    });
  });

  it('compares the target with source counts read before (countSourceRows), reading only the target’s side', async () => {
    const target = await clone('counted');
    const counted = await activityEnv().run<
      [{ source: string }],
      { tables: { schema: string; table: string; rows: number }[] },
      Activities['countSourceRows']
    >(activities.countSourceRows, { source });
    expect(counted.tables.find((t) => t.schema === 'public' && t.table === 'raw_log')?.rows).toBe(152);
    // Equal as counted.
    const same = await validate({ source, target, level: 'counts', sourceRows: counted.tables });
    expect(failedTables(same.report)).toEqual([]);
    expect(same.report.tables.length).toBe(counted.tables.length);
    // A count given for the source is the one compared: the source is not read again for that table.
    const given = counted.tables.map((t) =>
      t.schema === 'inventory' && t.table === 'trucks' ? { ...t, rows: t.rows + 1 } : t,
    );
    const differs = await validate({ source, target, level: 'counts', sourceRows: given });
    expect(failedTables(differs.report)).toEqual(['inventory.trucks']);
    expect(tableOf(differs.report, 'inventory', 'trucks')).toMatchObject({ sourceRows: 11, targetRows: 10 });
  });

  it('reports a changed sequence and a changed large object', async () => {
    const target = await clone('seq_lo');
    await query(target, `SELECT setval('inventory.ticket_seq', 49, true)`);
    // Same size, other content: only the checksum can tell.
    await query(target, `SELECT lo_put(90002, 100, '\\xdeadbeef'::bytea)`);

    const { report } = await validate({ source, target, level: 'checksums' });
    expect(report.ok).toBe(false);
    expect(failedTables(report)).toEqual([]);
    expect(report.sequences.filter((s) => !s.ok).map((s) => s.name)).toEqual(['inventory.ticket_seq']);
    const ticket = report.sequences.find((s) => s.name === 'inventory.ticket_seq');
    expect(ticket?.source).not.toBe(ticket?.target);
    expect(report.largeObjects).toEqual({ source: 3, target: 3, ok: false });
  });

  it('reports a large object missing on the target at the counts level', async () => {
    const target = await clone('lo_gone');
    await query(target, 'SELECT lo_unlink(90003)');
    const { report } = await validate({ source, target, level: 'counts' });
    expect(report.ok).toBe(false);
    expect(report.largeObjects).toEqual({ source: 3, target: 2, ok: false });
  });

  it('copies a missing large object back, unlinks one the source lacks, and counts the target’s after the copy (the online cutover’s check)', async () => {
    const target = await clone('lo_copy');
    await query(target, 'SELECT lo_unlink(90003)');
    await query(target, "SELECT lo_from_bytea(90099, 'only on the target')");
    const copied = await runActivity(activities.copyLargeObjects, { source, target });
    // The source's three are there again; one the source does not have is unlinked (a target holds
    // none of its own: preflight requires it empty), and the count shows it.
    expect(copied).toMatchObject({ largeObjects: 3, targetLargeObjects: 3, removed: 1 });
  });

  it('counts both sides in one snapshot each (countSourceRows, countTargetRows)', async () => {
    const target = await clone('counts');
    await query(target, 'DELETE FROM public.documents WHERE id IN (SELECT id FROM public.documents LIMIT 2)');
    const [a, b] = await Promise.all([
      runActivity(activities.countSourceRows, { source }),
      runActivity(activities.countTargetRows, { target }),
    ]);
    const documents = (t: { tables: { schema: string; table: string; rows: number }[] }) =>
      t.tables.find((r) => r.schema === 'public' && r.table === 'documents')?.rows;
    expect(documents(a)).toBe(5);
    expect(documents(b)).toBe(3);
    expect(b.tables.length).toBe(a.tables.length);
  });

  it('counts more tables than one statement holds, each its own rows, whether read by index or by scan', async () => {
    const name = uniqueName('pgferry_val_many');
    databases.push(name);
    const url = await createEmptyDatabase(name);
    const tables = 2 * COUNT_BATCH + 17;
    // Table i holds i rows; the even ones are vacuumed (all-visible: counted through their key).
    await query(
      url,
      `DO $$ BEGIN FOR i IN 1..${tables} LOOP
         EXECUTE format('CREATE TABLE public.t%s (id int PRIMARY KEY)', i);
         EXECUTE format('INSERT INTO public.t%s SELECT generate_series(1, %s)', i, i);
       END LOOP; END $$`,
    );
    for (let i = 2; i <= tables; i += 2) await query(url, `VACUUM public.t${i}`);
    // An inheritance child: the parent's own rows are counted apart from the child's.
    await query(
      url,
      'CREATE TABLE public.child () INHERITS (public.t1); INSERT INTO public.child VALUES (100), (101)',
    );
    const { tables: counted } = await runActivity(activities.countSourceRows, { source: url });
    const rows = new Map(counted.map((t) => [`${t.schema}.${t.table}`, t.rows]));
    expect(counted).toHaveLength(tables + 1);
    for (let i = 1; i <= tables; i++) expect(rows.get(`public.t${i}`), `public.t${i}`).toBe(i);
    expect(rows.get('public.child')).toBe(2);
  });

  it('reports a table missing on the target as a mismatch instead of failing', async () => {
    const target = await clone('missing');
    await query(target, 'DROP TABLE public.documents');
    const { report } = await validate({ source, target, level: 'checksums' });
    expect(report.ok).toBe(false);
    expect(failedTables(report)).toEqual(['public.documents']);
    expect(tableOf(report, 'public', 'documents')).toMatchObject({
      sourceRows: 5,
      targetRows: MISSING_TABLE_ROWS,
      ok: false,
    });
  });

  it('validates only the tables it is given', async () => {
    const target = await clone('subset');
    await query(target, `UPDATE "Sales".customers SET name = 'other' WHERE id = 101`);
    const { report } = await validate({
      source,
      target,
      level: 'checksums',
      tables: [{ schema: 'public', table: 'raw_log' }],
    });
    expect(report.tables.map((t) => `${t.schema}.${t.table}`)).toEqual(['public.raw_log']);
    expect(report.ok).toBe(true);
  });

  it('validates copied tables on the index step, and the final pass skips them but still checks sequences and large objects', async () => {
    const target = await clone('early');
    await query(target, `UPDATE public.documents SET title = 'other' WHERE id = 1`);
    await query(target, `SELECT setval('inventory.ticket_seq', 49, true)`);
    // The lanes' step: indexes (rebuilt here), statistics, then the validation of its tables.
    const early = await runActivity(activities.buildTableIndexes, {
      source,
      target,
      analyze: true,
      validate: 'checksums' as const,
      tables: [
        { schema: 'public', table: 'documents' },
        { schema: 'public', table: 'raw_log' },
      ],
    });
    expect(early.validated?.map((t) => [`${t.schema}.${t.table}`, t.ok])).toEqual([
      ['public.documents', false],
      ['public.raw_log', true],
    ]);
    const { report } = await validate({
      source,
      target,
      level: 'checksums',
      skip: ['public.documents', 'public.raw_log'],
    });
    // The changed table was validated already: the rest passes, the sequence does not.
    expect(report.tables.some((t) => t.table === 'documents' || t.table === 'raw_log')).toBe(false);
    expect(report.tables.length).toBeGreaterThan(10);
    expect(failedTables(report)).toEqual([]);
    expect(report.sequences.filter((s) => !s.ok).map((s) => s.name)).toEqual(['inventory.ticket_seq']);
    expect(report.ok).toBe(false);
  });

  it('passes checksums when the target has the same columns in another physical order', async () => {
    const a = uniqueName('pgferry_val_order_a');
    const b = uniqueName('pgferry_val_order_b');
    databases.push(a, b);
    const sourceUrl = await createEmptyDatabase(a);
    const targetUrl = await createEmptyDatabase(b);
    await query(
      sourceUrl,
      `CREATE TABLE public.items (id integer PRIMARY KEY, "Label" text, price numeric(10, 2), tags text[], doc jsonb)`,
    );
    // Other order, plus a dropped column that still occupies a physical slot.
    await query(
      targetUrl,
      `CREATE TABLE public.items (gone integer, doc jsonb, tags text[], price numeric(10, 2), "Label" text,
                                  id integer PRIMARY KEY)`,
    );
    await query(targetUrl, 'ALTER TABLE public.items DROP COLUMN gone');
    const rows = `SELECT g, 'item ' || g, g * 1.5, ARRAY['x' || g, NULL], jsonb_build_object('g', g)
                    FROM generate_series(1, 500) AS g`;
    await query(sourceUrl, `INSERT INTO public.items (id, "Label", price, tags, doc) ${rows}`);
    // Inserted in reverse: physical row order must not matter either.
    await query(
      targetUrl,
      `INSERT INTO public.items (id, "Label", price, tags, doc) ${rows} ORDER BY 1 DESC`,
    );

    const same = await validate({ source: sourceUrl, target: targetUrl, level: 'checksums' });
    expect(same.report.ok).toBe(true);
    expect(same.report.tables).toHaveLength(1);

    // And the same comparison still notices one changed value.
    await query(targetUrl, `UPDATE public.items SET "Label" = 'item 2' WHERE id = 3`);
    const differs = await validate({ source: sourceUrl, target: targetUrl, level: 'checksums' });
    expect(failedTables(differs.report)).toEqual(['public.items']);
  });
});
