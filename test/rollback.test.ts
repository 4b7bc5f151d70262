import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CleanupResult, Leftover } from '../domain/contracts';
import type { RollbackState } from '../workflows/compensations';
import { pgCtl } from './helpers/pg-ctl';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { runPgferry } from './helpers/processes';
import { useTemporalSuite } from './helpers/suite';
import { waitFor, waitForStatus } from './helpers/wait';

const SCHEMA = `CREATE TABLE public.items (id bigserial PRIMARY KEY, v text NOT NULL);
  INSERT INTO public.items (v) SELECT 'seed ' || g FROM generate_series(1, 2000) g;`;

/** The row of one object in a cleanup's table. */
function row(result: CleanupResult, object: Leftover['object']): Leftover | undefined {
  return result.objects.find((o) => o.object === object);
}

describe('a rollback always finishes', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;

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
  const cli = (...args: string[]) => runPgferry(args, suite.env);

  const replicationOnSource = async (db: string) => ({
    slots: (await query(source.url(), 'SELECT slot_name FROM pg_replication_slots')).length,
    publications: (await query(source.url(db), 'SELECT pubname FROM pg_publication')).length,
  });

  it('with the target stopped drops the source’s slot and publication, keeps retrying the rest, and cleanup finishes it once the target is back', async () => {
    const db = 'shop';
    await query(source.url(), `CREATE DATABASE ${db}`);
    await query(source.url(db), SCHEMA);
    const name = 'rollback-target-down';
    const run = await suite.client.migrate({
      name,
      source: source.url(db),
      target: target.url(db),
      mode: 'online',
      validate: 'none',
    });
    await waitForStatus(
      suite.client,
      run.workflowId,
      'the approval gate',
      (s) => s.state === 'waiting',
      90_000,
    );
    expect(await replicationOnSource(db)).toEqual({ slots: 1, publications: 1 });

    await pgCtl(target, 'stop');
    await suite.client.reject(name, { by: 'bob', reason: 'the target went away' });

    // The source side does not wait for the target: slot and publication go in the first pass.
    await waitFor(
      'the source’s slot and publication to be dropped',
      async () => {
        const left = await replicationOnSource(db);
        return left.slots === 0 && left.publications === 0 ? left : undefined;
      },
      90_000,
      500,
    );
    const [readOnly] = await query<{ v: string }>(
      source.url(db),
      "SELECT current_setting('default_transaction_read_only') AS v",
    );
    expect(readOnly?.v).toBe('off');
    await query(source.url(db), "INSERT INTO public.items (v) VALUES ('written after the rollback')");

    // The target's step stays pending, retried; after a few passes a person is asked to look.
    const stuck = await waitForStatus(
      suite.client,
      run.workflowId,
      'the rollback to need attention',
      (s) => s.state === 'needs_attention',
      240_000,
    );
    expect(stuck.stage).toBe('rollback');
    const rollback = stuck.details?.rollback as RollbackState;
    expect(rollback.done).toContain('dropSourceReplication');
    expect(rollback.pending.map((p) => p.step)).toEqual(['dropSubscription']);
    expect(rollback.pending[0]?.attempts).toBeGreaterThanOrEqual(3);
    expect(rollback.nextRetrySeconds).toBeGreaterThan(0);
    const status = await cli('status', name);
    expect(status.stdout).toMatch(/rollback +dropSubscription failing/);
    expect(status.stdout).toContain(`pgferry cleanup ${name} --terminate`);

    // Cleanup refuses a running migration unless told to give its rollback up.
    const refused = await cli('cleanup', name, '--json');
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      ok: false,
      error: { code: 'InvalidInput', field: 'name' },
    });

    // Given up while the target is still down: the source is clean already, the target cannot be looked at.
    const givenUp = await cli('cleanup', name, '--terminate', '--json');
    expect(givenUp.code).toBe(1);
    const partial = JSON.parse(givenUp.stdout) as CleanupResult;
    expect(partial.ok).toBe(false);
    expect(partial.errors.map((e) => e.where)).toEqual(['target']);
    expect(row(partial, 'slot')).toMatchObject({ found: false, removed: false });
    expect((await suite.client.status(run.workflowId)).state).toBe('failed');

    // The target is back: cleanup finishes what the rollback could not.
    await pgCtl(target, 'start');
    expect((await query(target.url(), 'SELECT subname FROM pg_subscription')).length).toBe(1);
    const finished = await cli('cleanup', name, '--json');
    expect(finished.code).toBe(0);
    const done = JSON.parse(finished.stdout) as CleanupResult;
    expect(done.ok).toBe(true);
    expect(row(done, 'subscription')).toMatchObject({ found: true, removed: true });
    expect(row(done, 'ledger')).toMatchObject({ found: true, removed: true });
    expect(await query(target.url(), 'SELECT subname FROM pg_subscription')).toEqual([]);
    expect(await query(target.url(db), "SELECT nspname FROM pg_namespace WHERE nspname = 'pgferry'")).toEqual(
      [],
    );
    expect(await replicationOnSource(db)).toEqual({ slots: 0, publications: 0 });
    // A pass now includes the step's own retries (ServerUnreachable is retried): ~30 s each.
  }, 300_000);
});
