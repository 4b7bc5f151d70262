import * as path from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { query, runCommand, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { pgCtl } from './helpers/pg-ctl';
import { waitFor, waitForStatus } from './helpers/wait';
import { startWriter } from './helpers/writer';

const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');

/** The writes of the online tests' application, one round of them. */
const LIVE_WRITES = [
  "INSERT INTO public.live (v) VALUES ('w' || clock_timestamp())",
  "UPDATE public.live SET v = v || '+' WHERE id = (SELECT max(id) - 3 FROM public.live)",
  'DELETE FROM public.live WHERE id = (SELECT min(id) FROM public.live) AND id % 5 = 0',
];

describe('online migrations between two servers with wal_level=logical', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;
  let db = 0;

  const freshSource = async () => {
    const name = `shop${++db}`;
    await query(source.url(), `CREATE DATABASE ${name}`);
    await runCommand('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', FIXTURE, source.url(name)]);
    // Online replication needs a replica identity on every table: preflight names the ones without.
    await query(
      source.url(name),
      `ALTER TABLE public.raw_log REPLICA IDENTITY FULL;
       ALTER TABLE inventory.stock_p0 REPLICA IDENTITY FULL;
       ALTER TABLE inventory.stock_p1 REPLICA IDENTITY FULL;
       CREATE TABLE public.live (id bigserial PRIMARY KEY, v text NOT NULL);
       INSERT INTO public.live (v) SELECT 'seed ' || g FROM generate_series(1, 1000) g;`,
    );
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

  // After the hooks above: the worker starts once the clusters run, and stops before they stop.
  const suite = useTemporalSuite();

  /** Waits until a migration waits for a person at its approval gate. */
  const waitForGate = (workflowId: string) =>
    waitForStatus(suite.client, workflowId, 'the approval gate', (s) => s.state === 'waiting', 60_000);

  /** Starts an online migration without validation and waits until it waits for a person. */
  const startAtGate = async (name: string) => {
    const run = await suite.client.migrate({
      name: `online-${name}`,
      source: source.url(name),
      target: target.url(name),
      mode: 'online',
      validate: 'none',
    });
    await waitForGate(run.workflowId);
    return run;
  };

  /** The source database's default_transaction_read_only: `on` while frozen. */
  const readOnlyDefault = (name: string) =>
    query<{ v: string }>(source.url(name), "SELECT current_setting('default_transaction_read_only') AS v");

  const replicationLeft = async (name: string) => ({
    slots: await query(source.url(), 'SELECT slot_name FROM pg_replication_slots'),
    publications: await query(source.url(name), 'SELECT pubname FROM pg_publication'),
    subscriptions: await query(target.url(), 'SELECT subname FROM pg_subscription'),
  });

  it('copies under the slot snapshot, replicates a steady write load, and cuts over to an identical target', async () => {
    const name = await freshSource();
    const writer = startWriter(source.url(name), LIVE_WRITES);
    const run = await suite.client.migrate({
      name: `online-${name}`,
      source: source.url(name),
      target: target.url(name),
      mode: 'online',
      validate: 'checksums',
    });
    const waiting = await waitForGate(run.workflowId);
    expect(waiting).toMatchObject({ state: 'waiting', stage: 'approval' });
    expect((waiting.details as { lag?: { lagBytes: number } }).lag?.lagBytes).toBeLessThan(1024 * 1024);
    // The same lag in the progress figures that status prints; no throughput while a person decides.
    expect(waiting.progress.lagBytes).toBeLessThan(1024 * 1024);
    expect(waiting.progress.bytes).toBeGreaterThan(0);
    expect(waiting.progress.bytesPerSecond).toBeUndefined();
    await suite.client.approve(`online-${name}`, { by: 'alice', reason: 'lag is low' });
    const result = await run.result();
    const { written } = await writer.stop();
    expect(written).toBeGreaterThan(10);
    expect(result.outcome).toBe('completed');
    expect(result.validation?.ok).toBe(true);
    expect(result.downtimeMs).toBeGreaterThan(0);

    const diff = diffFingerprints(
      await databaseFingerprint(source.url(name)),
      await databaseFingerprint(target.url(name)),
    );
    expect(diff).toEqual([]);
    const readOnly = await readOnlyDefault(name);
    expect(readOnly[0]?.v).toBe('on');
    expect(await replicationLeft(name)).toEqual({ slots: [], publications: [], subscriptions: [] });
  });

  it('leaves the source as it was, with no slot or publication, when the migration is rejected', async () => {
    const name = await freshSource();
    const run = await startAtGate(name);
    await suite.client.reject(`online-${name}`, { by: 'bob', reason: 'not today' });
    expect((await run.result()).outcome).toBe('rejected');
    expect((await suite.client.status(run.workflowId)).state).toBe('rolled_back');
    const readOnly = await readOnlyDefault(name);
    expect(readOnly[0]?.v).toBe('off');
    expect(await replicationLeft(name)).toEqual({ slots: [], publications: [], subscriptions: [] });
  });

  it('leaves the source as it was, with no slot or publication, when the migration is cancelled while replicating', async () => {
    const name = await freshSource();
    const run = await startAtGate(name);
    expect((await replicationLeft(name)).slots).toHaveLength(1);
    await suite.client.cancel(run.workflowId);
    await run.result().catch(() => undefined);
    expect((await suite.client.status(run.workflowId)).state).toBe('rolled_back');
    const readOnly = await readOnlyDefault(name);
    expect(readOnly[0]?.v).toBe('off');
    expect(await replicationLeft(name)).toEqual({ slots: [], publications: [], subscriptions: [] });
  });

  it('copies under a snapshot even when its holder dies before publishing it and the target restarts while it publishes', async () => {
    const name = await freshSource();
    // A transaction with an xid holds the slot's creation back: the holder waits on the source.
    const blocker = new Client({ connectionString: source.url(name) });
    // The cutover's freeze ends the source's other sessions: an idle one must not throw.
    blocker.on('error', () => undefined);
    await blocker.connect();
    let pgCtlStopped = false;
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT pg_current_xact_id()');
      const run = await suite.client.migrate({
        name: `online-${name}`,
        source: source.url(name),
        target: target.url(name),
        mode: 'online',
        validate: 'none',
      });
      const holderPid = async () => {
        const [row] = await query<{ pid: number }>(
          source.url(),
          `SELECT pid FROM pg_stat_activity
            WHERE backend_type = 'walsender' AND query ILIKE 'CREATE_REPLICATION_SLOT%'`,
        );
        return row?.pid;
      };
      // 1. The holder dies before it has published its snapshot: a new holder takes over.
      const first = await waitFor('a holder creating its slot', holderPid, 90_000);
      await query(source.url(), 'SELECT pg_terminate_backend($1)', [first]);
      const second = await waitFor(
        'a second holder',
        async () => {
          const pid = await holderPid();
          return pid !== undefined && pid !== first ? pid : undefined;
        },
        60_000,
      );
      expect(second).not.toBe(first);
      // 2. The target goes down, the slot is made, the holder publishes once the target is back.
      await pgCtl(target, 'stop');
      pgCtlStopped = true;
      await blocker.query('COMMIT');
      await blocker.end();
      await waitFor('the slot', async () =>
        (await query(source.url(), 'SELECT slot_name FROM pg_replication_slots')).length > 0
          ? true
          : undefined,
      );
      await pgCtl(target, 'start');
      pgCtlStopped = false;
      await waitForGate(run.workflowId);
      await suite.client.approve(`online-${name}`, { by: 'alice', reason: 'after a holder died' });
      expect((await run.result()).outcome).toBe('completed');
      const diff = diffFingerprints(
        await databaseFingerprint(source.url(name)),
        await databaseFingerprint(target.url(name)),
      );
      expect(diff).toEqual([]);
      const holders = (await suite.client.history(`online-${name}`)).steps.filter(
        (s) => s.step === 'holdSlotSnapshot',
      );
      expect(holders.length).toBe(2);
    } finally {
      if (pgCtlStopped) await pgCtl(target, 'start');
      await blocker.end().catch(() => undefined);
    }
  }, 240_000);
});
