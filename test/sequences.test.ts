import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
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
