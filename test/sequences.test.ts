import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import { SEQUENCE_BATCH } from '../activities/pg/sequences-sql';
import { ErrorCode } from '../domain/errors';
import { runActivity, testActivityDeps } from './helpers/activity-env';
import { expectFailure, failureOf } from './helpers/failure';
import { adminUrl, createEmptyDatabase, dropDatabase, query, uniqueName } from './helpers/pg';

const SCHEMA = `
  CREATE TABLE public.orders (id serial PRIMARY KEY, note text);
  CREATE SEQUENCE public.invoice_no START 1000;`;

describe('syncSequences and the validation share one definition of the user’s sequences', () => {
  const source = uniqueName('seq_s');
  const target = uniqueName('seq_t');
  const role = uniqueName('seq_reader');
  const activities = createActivities(testActivityDeps());
  const urls = { source: adminUrl(5432, source), target: adminUrl(5432, target) };

  beforeAll(async () => {
    await createEmptyDatabase(source);
    await createEmptyDatabase(target);
    await query(urls.source, SCHEMA);
    await query(urls.target, SCHEMA);
    await query(
      urls.source,
      "INSERT INTO public.orders (note) SELECT 'o' || g FROM generate_series(1, 42) g; SELECT nextval('public.invoice_no')",
    );
    await query(adminUrl(), `CREATE ROLE ${role} LOGIN`);
  });

  afterAll(async () => {
    await dropDatabase(source);
    await dropDatabase(target);
    await query(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
  });

  it('syncs while another session holds a temporary serial table open on the source, and leaves its sequence out', async () => {
    const holder = new Client({ connectionString: urls.source });
    await holder.connect();
    try {
      // The session's temporary schema (pg_temp_N) holds a sequence no other session may read.
      await holder.query(
        "CREATE TEMP TABLE scratch (id serial, v text); INSERT INTO scratch (v) VALUES ('x')",
      );
      const result = await runActivity(activities.syncSequences, urls);
      expect(result.sequences).toBe(2);
      // Read back on the target after setting: what the online cutover's validation reports.
      expect(result.compared).toEqual([
        {
          name: 'public.invoice_no',
          source: '1000 (is_called true)',
          target: '1000 (is_called true)',
          ok: true,
        },
        {
          name: 'public.orders_id_seq',
          source: '42 (is_called true)',
          target: '42 (is_called true)',
          ok: true,
        },
      ]);
      const report = await runActivity(activities.validateTables, { ...urls, level: 'counts' as const });
      expect(report.sequences.map((s) => s.name)).toEqual(['public.invoice_no', 'public.orders_id_seq']);
      expect(report.sequences.every((s) => s.ok)).toBe(true);
      expect(report.sequences[1]?.target).toBe('42 (is_called true)');
    } finally {
      await holder.end();
    }
  });

  it('syncs more sequences than one statement reads or sets, each to its own position and is_called', async () => {
    const many = uniqueName('seq_many');
    const manyUrls = { source: adminUrl(5432, `${many}_s`), target: adminUrl(5432, `${many}_t`) };
    await createEmptyDatabase(`${many}_s`);
    await createEmptyDatabase(`${many}_t`);
    try {
      // More than two batches: positions that differ by sequence, every third never called.
      const count = 2 * SEQUENCE_BATCH + 37;
      const create = `DO $$ BEGIN FOR i IN 1..${count} LOOP
          EXECUTE format('CREATE SEQUENCE public.s%s', i); END LOOP; END $$`;
      await query(manyUrls.source, create);
      await query(manyUrls.target, create);
      await query(
        manyUrls.source,
        `SELECT setval(format('public.s%s', i)::regclass, i * 7, i % 3 <> 0) FROM generate_series(1, ${count}) i`,
      );
      const result = await runActivity(activities.syncSequences, manyUrls);
      expect(result.sequences).toBe(count);
      expect(result.compared.filter((c) => !c.ok)).toEqual([]);
      const positions = (url: string) =>
        query<{ name: string; last_value: string; is_called: boolean }>(
          url,
          `SELECT i::text AS name, (pg_sequence_last_value(format('public.s%s', i)::regclass))::text AS last_value,
                  pg_sequence_last_value(format('public.s%s', i)::regclass) IS NOT NULL AS is_called
             FROM generate_series(1, ${count}) i ORDER BY i`,
        );
      const [onSource, onTarget] = await Promise.all([
        positions(manyUrls.source),
        positions(manyUrls.target),
      ]);
      expect(onTarget).toEqual(onSource);
      expect(onSource.filter((p) => !p.is_called)).toHaveLength(Math.floor(count / 3));
      expect(onSource[40]).toEqual({ name: '41', last_value: '287', is_called: true });
    } finally {
      await dropDatabase(`${many}_s`);
      await dropDatabase(`${many}_t`);
    }
  });

  it('fails with PermissionDenied, not retried, when the target user may not set a sequence', async () => {
    const url = new URL(urls.target);
    url.username = role;
    const failure = await failureOf(
      runActivity(activities.syncSequences, { source: urls.source, target: url.toString() }),
    );
    expectFailure(failure, ErrorCode.PermissionDenied, true, 'target');
    expect(failure.details?.[0]).toMatchObject({ fix: expect.stringMatching(/./) });
  });
});
