import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowStatus } from '../domain/contracts';
import { ErrorCode, type PgferryError } from '../domain/errors';
import type { PreflightReport } from '../domain/migration';
import { replicationObjectName } from '../domain/names';
import { holdTableLock } from './helpers/lock';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { plainTemporal } from './helpers/temporal';
import { waitFor, waitForStatus } from './helpers/wait';

const DB = 'ledger';

/** The readiness problems of a migration at its gate, by concern. */
const problems = (s: WorkflowStatus) => (s.details?.readiness ?? {}) as Record<string, string>;

describe('a slot the source gives up while the apply on the target is blocked', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
    ]);
    // A throw-away source that keeps little WAL for a slot behind: 32 MB, then the slot is lost.
    await query(source.url(), "ALTER SYSTEM SET max_slot_wal_keep_size = '32MB'");
    await query(source.url(), 'SELECT pg_reload_conf()');
    await query(source.url(), `CREATE DATABASE ${DB}`);
    await query(
      source.url(DB),
      `CREATE TABLE public.entries (id bigserial PRIMARY KEY, note text NOT NULL);
       INSERT INTO public.entries (note) SELECT 'entry ' || g FROM generate_series(1, 1000) g;`,
    );
  });

  afterAll(async () => {
    await source?.stop();
    await target?.stop();
  });

  // After the hooks above: the worker starts once the clusters run, and stops before they stop.
  const suite = useTemporalSuite();

  it('names the lost slot in status, refuses the approval, and never freezes the source', async () => {
    const name = 'lost-slot';
    const run = await suite.client.migrate({
      name,
      source: source.url(DB),
      target: target.url(DB),
      mode: 'online',
      validate: 'none',
    });
    const slot = replicationObjectName(run.workflowId);
    const ready = await waitForStatus(
      suite.client,
      run.workflowId,
      'the gate, ready for approval',
      (s) =>
        s.state === 'waiting' && (s.details?.replication as { ready?: boolean } | undefined)?.ready === true,
    );

    // Preflight read the bound, and the free disk of this source on the worker's host.
    const preflight = ready.details?.preflight as PreflightReport;
    expect(preflight.checks.find((c) => c.id === 'replication.wal-keep-limit')).toMatchObject({
      ok: true,
      severity: 'warning',
      message: expect.stringContaining('max_slot_wal_keep_size is 32.0 MB') as unknown,
    });
    expect(preflight.source.disk?.freeBytes).toBeGreaterThan(0);

    const lock = await holdTableLock(target.url(DB), 'public.entries');
    try {
      await query(source.url(DB), "INSERT INTO public.entries (note) VALUES ('stuck behind the lock')");
      // Past max_slot_wal_keep_size (in another database: the WAL is the server's), then a checkpoint
      // removes the WAL the slot still needs.
      await waitFor(
        `slot ${slot} lost on the source`,
        async () => {
          await query(
            source.url(),
            `CREATE TABLE IF NOT EXISTS filler (v text);
             INSERT INTO filler SELECT repeat('x', 900) FROM generate_series(1, 20000);
             SELECT pg_switch_wal();
             CHECKPOINT;`,
          );
          const [row] = await query<{ wal_status: string }>(
            source.url(DB),
            'SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1',
            [slot],
          );
          return row?.wal_status === 'lost' ? row : undefined;
        },
        120_000,
        200,
      );

      const lost = await waitForStatus(
        suite.client,
        run.workflowId,
        'status naming the lost slot',
        (s) => (s.details?.replication as { lost?: boolean } | undefined)?.lost === true,
        60_000,
      );
      expect(lost.state).toBe('waiting');
      expect(problems(lost).replication).toContain(`slot ${slot} was lost`);
      expect(problems(lost).replication).toContain('reject the migration');

      const refused = (await suite.client
        .approve(name, { by: 'alice', reason: 'go' })
        .catch((e: unknown) => e)) as PgferryError;
      expect(refused.code).toBe(ErrorCode.ApprovalRefused);
      expect(refused.message).toContain(`slot ${slot} was lost`);

      const temporal = await plainTemporal();
      try {
        const described = await temporal.client.workflow.getHandle(run.workflowId).describe();
        expect(described.searchAttributes.PgferryReady).toEqual(['slot_lost']);
      } finally {
        await temporal.teardown();
      }
    } finally {
      await lock.release();
    }

    // Never frozen: new sessions write, and no fence slot was made.
    const [setting] = await query<{ v: string }>(
      source.url(DB),
      "SELECT current_setting('default_transaction_read_only') AS v",
    );
    expect(setting?.v).toBe('off');
    const slots = await query<{ slot_name: string }>(
      source.url(),
      'SELECT slot_name FROM pg_replication_slots',
    );
    expect(slots.map((s) => s.slot_name)).toEqual([slot]);

    // The person decides: a rejection rolls back, lost slot and all.
    await suite.client.reject(name, { by: 'alice', reason: 'slot lost; start again' });
    expect((await run.result()).outcome).toBe('rejected');
    expect(await query(source.url(), 'SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    expect(await query(target.url(), 'SELECT subname FROM pg_subscription')).toEqual([]);
  }, 300_000);
});
