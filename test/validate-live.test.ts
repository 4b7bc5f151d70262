import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValidationReport } from '../domain/migration';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { waitForStatus } from './helpers/wait';
import { startWriter } from './helpers/writer';

/** A table of 120,000 rows (three key ranges and a bit), a table without a key, and one the application writes. */
const SCHEMA = `
  CREATE TABLE public.accounts (id integer PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL);
  INSERT INTO public.accounts SELECT g, 'owner ' || g, g * 1.5 FROM generate_series(1, 120000) g;
  CREATE TABLE public.events (at timestamptz NOT NULL, what text);
  ALTER TABLE public.events REPLICA IDENTITY FULL;
  INSERT INTO public.events SELECT now() - g * interval '1 minute', 'e' || g FROM generate_series(1, 500) g;
  CREATE TABLE public.live (id bigserial PRIMARY KEY, v text NOT NULL);
  INSERT INTO public.live (v) SELECT 'seed ' || g FROM generate_series(1, 1000) g;
  ANALYZE;`;

const LIVE_WRITES = [
  "INSERT INTO public.live (v) VALUES ('w' || clock_timestamp())",
  "UPDATE public.live SET v = v || '+' WHERE id = (SELECT max(id) - 3 FROM public.live)",
  'UPDATE public.accounts SET balance = balance + 1 WHERE id = 1 + (extract(microseconds FROM clock_timestamp())::int % 120000)',
];

describe('validation of an online migration while it replicates, before the approval', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;
  let db = 0;

  const freshSource = async () => {
    const name = `live${++db}`;
    await query(source.url(), `CREATE DATABASE ${name}`);
    await query(source.url(name), SCHEMA);
    return name;
  };

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
    ]);
  });

  afterAll(async () => {
    await source?.stop();
    await target?.stop();
  });

  const suite = useTemporalSuite();

  it('finds a target row changed behind replication’s back before the approval, names its table and refuses the approval', async () => {
    const name = await freshSource();
    // The application holds public.accounts (a writer's lock): the validation waits for it, and
    // meanwhile a row is changed on the target directly.
    const app = new Client({ connectionString: source.url(name) });
    await app.connect();
    await app.query('BEGIN');
    await app.query('LOCK TABLE public.accounts IN ROW EXCLUSIVE MODE');
    const writer = startWriter(source.url(name), LIVE_WRITES.slice(0, 2));
    try {
      const run = await suite.client.migrate({
        name: `tamper-${name}`,
        source: source.url(name),
        target: target.url(name),
        mode: 'online',
      });
      await waitForStatus(
        suite.client,
        run.workflowId,
        'the validate stage',
        (s) => s.stage === 'validate',
        90_000,
      );
      await query(target.url(name), "UPDATE public.accounts SET owner = 'mallory' WHERE id = 77777");
      await app.query('COMMIT');

      const gate = await waitForStatus(
        suite.client,
        run.workflowId,
        'the approval gate',
        (s) => s.state === 'waiting',
        120_000,
      );
      const validation = gate.details?.validation as ValidationReport;
      expect(validation.ok).toBe(false);
      expect(validation.level).toBe('checksums');
      const bad = validation.tables.filter((t) => !t.ok);
      expect(bad.map((t) => `${t.schema}.${t.table}`)).toEqual(['public.accounts']);
      // The difference is narrowed to the key range that holds the row.
      expect(bad[0]?.note).toMatch(/where id in \[\d+, \d+\)/);
      expect(bad[0]?.sourceRows).toBe(120000);
      expect(bad[0]?.targetRows).toBe(120000);
      expect(validation.tables.find((t) => t.table === 'live')?.ok).toBe(true);
      expect(JSON.stringify(gate.details?.readiness)).toContain('public.accounts');

      await expect(
        suite.client.approve(`tamper-${name}`, { by: 'alice', reason: 'looks fine' }),
      ).rejects.toThrow(/not ready for approval.*public\.accounts/);
      await suite.client.reject(`tamper-${name}`, { by: 'alice', reason: 'the target was changed' });
      expect((await run.result()).outcome).toBe('rejected');
    } finally {
      await writer.stop();
      await app.end().catch(() => undefined);
    }
  });

  it('proves a target equal while the application writes to the tables being compared, and approves it', async () => {
    const name = await freshSource();
    const writer = startWriter(source.url(name), LIVE_WRITES);
    try {
      const run = await suite.client.migrate({
        name: `busy-${name}`,
        source: source.url(name),
        target: target.url(name),
        mode: 'online',
      });
      const gate = await waitForStatus(
        suite.client,
        run.workflowId,
        'the approval gate',
        (s) => s.state === 'waiting',
        120_000,
      );
      const validation = gate.details?.validation as ValidationReport;
      expect(validation.tables.filter((t) => !t.ok)).toEqual([]);
      expect(validation.tables.map((t) => t.table).sort()).toEqual(['accounts', 'events', 'live']);
      expect(validation.tables.find((t) => t.table === 'accounts')?.sourceChecksum).toMatch(/^[0-9a-f]{32}$/);
      await suite.client.approve(`busy-${name}`, { by: 'alice', reason: 'validated' });
      const result = await run.result();
      expect(result.outcome).toBe('completed');
      expect(result.validationWhileReplicating?.ok).toBe(true);
      // At the cutover, on the frozen source: counts, sequences, large objects.
      expect(result.validation).toMatchObject({ ok: true, level: 'counts' });
    } finally {
      const { written } = await writer.stop();
      expect(written).toBeGreaterThan(10);
    }
  });
});
