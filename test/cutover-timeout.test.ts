import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowStatus } from '../domain/contracts';
import { ErrorCode, type PgferryError } from '../domain/errors';
import type { PreflightReport } from '../domain/migration';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { holdTableLock } from './helpers/lock';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { waitFor, waitForStatus } from './helpers/wait';

const DB = 'orders';

/** The readiness problems of a migration at its gate, by concern (empty when an approval is taken). */
const problems = (s: WorkflowStatus) => (s.details?.readiness ?? {}) as Record<string, string>;

describe('an online cutover whose replay runs past --cutover-timeout', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
    ]);
    await query(source.url(), `CREATE DATABASE ${DB}`);
    await query(
      source.url(DB),
      `CREATE TABLE public.orders (id bigserial PRIMARY KEY, item text NOT NULL);
       INSERT INTO public.orders (item) SELECT 'item ' || g FROM generate_series(1, 2000) g;`,
    );
  });

  afterAll(async () => {
    await source?.stop();
    await target?.stop();
  });

  // After the hooks above: the worker starts once the clusters run, and stops before they stop.
  const suite = useTemporalSuite();

  /** The synchronous_commit of the migration's subscription on the target (the only one there). */
  const applySyncCommit = async () => {
    const rows = await query<{ s: string }>(target.url(DB), 'SELECT subsynccommit AS s FROM pg_subscription');
    return rows[0]?.s;
  };

  it('unfreezes the source at once, goes back to the gate saying why, and completes on a second approval', async () => {
    const name = 'cutover-timeout';
    const run = await suite.client.migrate({
      name,
      source: source.url(DB),
      target: target.url(DB),
      mode: 'online',
      validate: 'none',
      cutoverTimeoutSeconds: 5,
    });
    const ready = await waitForStatus(
      suite.client,
      run.workflowId,
      'the gate, ready for approval',
      (s) =>
        s.state === 'waiting' && (s.details?.replication as { ready?: boolean } | undefined)?.ready === true,
    );

    // This source keeps WAL for a slot without bound: preflight warns.
    const preflight = ready.details?.preflight as PreflightReport;
    expect(preflight.checks.find((c) => c.id === 'replication.wal-keep-limit')).toMatchObject({
      ok: false,
      severity: 'warning',
      message: expect.stringContaining('max_slot_wal_keep_size is -1 (unbounded)') as unknown,
    });

    // While it waits, the apply's commits are left to the target's WAL writer (synchronous_commit off, as created).
    expect(await applySyncCommit()).toBe('off');

    // The apply is blocked right before the approval: the target holds a lock the next change needs.
    const lock = await holdTableLock(target.url(DB), 'public.orders');
    try {
      await query(source.url(DB), "INSERT INTO public.orders (item) VALUES ('written while blocked')");
      await suite.client.approve(name, { by: 'alice', reason: 'lag is low' });
      // The look before the freeze makes them durable at once, so the final LSN is confirmed without waiting for it.
      await waitFor('the apply made durable for the cutover', async () =>
        (await applySyncCommit()) === 'on' ? true : undefined,
      );

      const back = await waitForStatus(
        suite.client,
        run.workflowId,
        'the gate again after the cutover timed out',
        (s) => s.state === 'waiting' && s.stage === 'approval' && problems(s).cutover !== undefined,
      );
      expect(problems(back).cutover).toMatch(/did not replay .* within 5 s/);
      expect(problems(back).cutover).toContain('unfrozen');
      expect(back.details?.cutoverAttempts).toEqual([
        { approvedBy: 'alice', reason: problems(back).cutover },
      ]);
      // The decision is forgotten: the gate waits for a new one.
      expect((back.details?.approval as { decision?: unknown }).decision).toBeUndefined();
      // Unfrozen: a new session on the source writes again.
      const [setting] = await query<{ v: string }>(
        source.url(DB),
        "SELECT current_setting('default_transaction_read_only') AS v",
      );
      expect(setting?.v).toBe('off');
      await query(source.url(DB), "INSERT INTO public.orders (item) VALUES ('written after the unfreeze')");
      // Back at the gate, the apply keeps pace with the source again.
      await waitFor('the apply left to the WAL writer again', async () =>
        (await applySyncCommit()) === 'off' ? true : undefined,
      );

      // While the target has not caught up, an approval is refused, saying why.
      const refused = (await suite.client
        .approve(name, { by: 'alice' })
        .catch((e: unknown) => e)) as PgferryError;
      expect(refused.code).toBe(ErrorCode.ApprovalRefused);
      expect(refused.message).toContain('did not replay');
    } finally {
      await lock.release();
    }

    // The block is gone: the target catches up, the cutover's problem clears, and a second approval completes.
    await waitForStatus(
      suite.client,
      run.workflowId,
      'ready again once the target has caught up',
      (s) => s.state === 'waiting' && Object.keys(problems(s)).length === 0,
      60_000,
    );
    await suite.client.approve(name, { by: 'bob', reason: 'caught up' });
    const result = await run.result();
    expect(result.outcome).toBe('completed');
    expect(result.decision?.by).toBe('bob');
    expect(result.downtimeMs).toBeGreaterThan(0);
    expect(result.downtimeMs).toBeLessThan(30_000);
    const diff = diffFingerprints(
      await databaseFingerprint(source.url(DB)),
      await databaseFingerprint(target.url(DB)),
    );
    expect(diff).toEqual([]);
    const [{ n } = { n: 0 }] = await query<{ n: number }>(
      target.url(DB),
      "SELECT count(*)::int AS n FROM public.orders WHERE item LIKE 'written %'",
    );
    expect(n).toBe(2);
  }, 240_000);
});
