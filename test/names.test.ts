import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicationObjectName } from '../domain/names';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { waitForStatus } from './helpers/wait';

describe('replication object names', () => {
  it('differ for ids that read alike once lowercased or cut, and fit a slot name', () => {
    const long = 'x'.repeat(70);
    const ids = ['migration-Orders-EU', 'migration-orders_eu', `migration-${long}-a`, `migration-${long}-b`];
    const names = ids.map(replicationObjectName);
    expect(new Set(names).size).toBe(ids.length);
    for (const name of names) expect(name).toMatch(/^[a-z0-9_]{1,63}$/);
    expect(replicationObjectName('migration-Orders-EU')).toBe(replicationObjectName('migration-Orders-EU'));
  });
});

describe('two online migrations of one source database at once', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
    ]);
    await query(source.url(), 'CREATE DATABASE orders');
    await query(
      source.url('orders'),
      `CREATE TABLE orders (id bigserial PRIMARY KEY, v text NOT NULL);
       INSERT INTO orders (v) SELECT 'o' || g FROM generate_series(1, 5000) g;`,
    );
    await query(target.url(), 'CREATE DATABASE orders_a');
    await query(target.url(), 'CREATE DATABASE orders_b');
  });

  afterAll(async () => {
    await source?.stop();
    await target?.stop();
  });

  const suite = useTemporalSuite();

  it('named Orders-EU and orders_eu, both replicate on slots of their own and end identical', async () => {
    const start = (name: string, db: string) =>
      suite.client.migrate({ name, source: source.url('orders'), target: target.url(db), mode: 'online' });
    const [first, second] = [await start('Orders-EU', 'orders_a'), await start('orders_eu', 'orders_b')];
    for (const run of [first, second]) {
      await waitForStatus(suite.client, run.workflowId, 'the approval gate', (s) => s.state === 'waiting');
    }
    const slots = await query<{ slot_name: string }>(
      source.url(),
      'SELECT slot_name FROM pg_replication_slots',
    );
    expect(slots).toHaveLength(2);
    await query(source.url('orders'), "INSERT INTO orders (v) VALUES ('while both wait')");
    await suite.client.approve('Orders-EU', { by: 'alice' });
    await suite.client.approve('orders_eu', { by: 'alice' });
    // Two online cutovers of one source, one after the other (their freezes take turns): on a busy
    // CI machine this takes minutes, and a stall names the stage it stalled at.
    for (const run of [first, second]) {
      await waitForStatus(suite.client, run.workflowId, 'the end', (s) => s.state === 'completed', 180_000);
      expect((await run.result()).outcome).toBe('completed');
    }
    const wanted = await databaseFingerprint(source.url('orders'));
    for (const db of ['orders_a', 'orders_b']) {
      expect(diffFingerprints(wanted, await databaseFingerprint(target.url(db)))).toEqual([]);
    }
    expect(await query(source.url(), 'SELECT slot_name FROM pg_replication_slots')).toEqual([]);
  }, 420_000);
});
