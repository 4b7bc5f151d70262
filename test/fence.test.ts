import { Client } from 'pg';
import { LEDGER_SCHEMA } from '../activities/pg/ledger-sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../activities';
import { SAVED_SETTING } from '../activities/pg/fence-sql';
import { ErrorCode, type PgferryError } from '../domain/errors';
import { fenceSlotName } from '../domain/names';
import { runActivity as run, testActivityDeps } from './helpers/activity-env';
import { expectFailure, failureOf } from './helpers/failure';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { query, quoteIdent, startThrowawayCluster, withClient, type ThrowawayCluster } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { waitFor, waitForStatus } from './helpers/wait';
import { startWriter } from './helpers/writer';

/** A URL of a cluster's database as another user (trust authentication). */
const as = (cluster: ThrowawayCluster, user: string, db: string) =>
  cluster.url(db).replace('postgres@', `${encodeURIComponent(user)}@`);

/** A connected client that tolerates being ended by the server under it. */
async function connect(url: string, applicationName?: string): Promise<Client> {
  const client = new Client({
    connectionString: url,
    ...(applicationName ? { application_name: applicationName } : {}),
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** What one INSERT as this URL's user does: `written`, or the SQLSTATE that refused it. */
async function tryWrite(url: string, sql = "INSERT INTO public.t (v) VALUES ('probe')"): Promise<string> {
  const client = await connect(url);
  try {
    await client.query(sql);
    return 'written';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A session's default_transaction_read_only, as this URL's user. */
const readOnlyAs = async (url: string) =>
  (await query<{ v: string }>(url, "SELECT current_setting('default_transaction_read_only') AS v"))[0]?.v;

/** Every pg_db_role_setting entry of the cluster, by role and database name: to compare exactly. */
const settings = (cluster: ThrowawayCluster) =>
  query<{ role: string; db: string; config: string[] }>(
    cluster.url(),
    `SELECT coalesce(r.rolname, '-') AS role, coalesce(d.datname, '-') AS db, s.setconfig AS config
       FROM pg_db_role_setting s
       LEFT JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase
      ORDER BY 1, 2`,
  );

const slotsOf = async (cluster: ThrowawayCluster) =>
  (await query<{ slot_name: string }>(cluster.url(), 'SELECT slot_name FROM pg_replication_slots')).map(
    (r) => r.slot_name,
  );

const SCHEMA = `CREATE TABLE public.t (id bigserial PRIMARY KEY, v text NOT NULL);
  INSERT INTO public.t (v) SELECT 'seed ' || g FROM generate_series(1, 2000) g;`;

describe('the write fence on a frozen source', () => {
  /** wal_level=logical: the fence has a slot. */
  let logical: ThrowawayCluster;
  /** wal_level=replica: the table counters alone watch the fence. */
  let plain: ThrowawayCluster;
  let acts: Activities;
  let n = 0;

  beforeAll(async () => {
    [logical, plain] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'replica' }),
    ]);
    acts = createActivities(testActivityDeps());
  });

  afterAll(async () => {
    await logical?.stop();
    await plain?.stop();
  });

  const suite = useTemporalSuite();

  /**
   * A source database with table t, and two application roles on every given cluster (so the
   * target restores their grants): `<db>_g` with ALTER ROLE … SET default_transaction_read_only =
   * off (everywhere), `<db>_l` with … IN DATABASE <db> SET … = false; each with another setting
   * the fence must leave alone.
   */
  const fresh = async (source: ThrowawayCluster, tag: string, others: ThrowawayCluster[] = []) => {
    const db = `fence_${tag}_${++n}`;
    const global = `${db}_g`;
    const local = `${db}_l`;
    for (const cluster of [source, ...others]) {
      await query(
        cluster.url(),
        `CREATE ROLE ${quoteIdent(global)} LOGIN; CREATE ROLE ${quoteIdent(local)} LOGIN;
         ALTER ROLE ${quoteIdent(global)} SET default_transaction_read_only = off;
         ALTER ROLE ${quoteIdent(global)} SET work_mem = '8MB'`,
      );
    }
    await query(source.url(), `CREATE DATABASE ${quoteIdent(db)}`);
    await query(
      source.url(),
      `ALTER ROLE ${quoteIdent(local)} IN DATABASE ${quoteIdent(db)} SET default_transaction_read_only = false;
       ALTER ROLE ${quoteIdent(local)} IN DATABASE ${quoteIdent(db)} SET statement_timeout = '1min'`,
    );
    await query(
      source.url(db),
      `${SCHEMA}
       GRANT ALL ON TABLE public.t TO ${quoteIdent(global)}, ${quoteIdent(local)};
       GRANT ALL ON SEQUENCE public.t_id_seq TO ${quoteIdent(global)}, ${quoteIdent(local)};`,
    );
    return { db, global, local, url: source.url(db) };
  };

  describe('freezeSource and unfreezeSource', () => {
    it('fences roles with their own default_transaction_read_only = off, ends every older session and confirms it gone, and restores every setting exactly', async () => {
      const { db, global, local, url } = await fresh(logical, 'roles');
      const before = await settings(logical);
      // Both roles are writable in the database before the freeze, whatever the database says.
      await query(logical.url(), `ALTER DATABASE ${quoteIdent(db)} SET default_transaction_read_only = on`);
      expect(await tryWrite(as(logical, global, db))).toBe('written');
      expect(await tryWrite(as(logical, local, db))).toBe('written');
      await query(logical.url(), `ALTER DATABASE ${quoteIdent(db)} RESET default_transaction_read_only`);

      // Sessions open at the freeze: one named like pgferry's, one idle in a transaction that wrote.
      const named = await connect(as(logical, global, db), 'pgferry');
      const writing = await connect(as(logical, local, db));
      await writing.query("BEGIN; INSERT INTO public.t (v) VALUES ('uncommitted')");
      const pids = [named, writing].map((c) => (c as unknown as { processID: number }).processID);

      const fence = fenceSlotName(`migration-${db}`);
      const frozen = await run(acts.freezeSource, { source: url, fence });
      expect(frozen.terminated).toBeGreaterThanOrEqual(2);
      expect(frozen.fence.roles).toEqual([global, local].sort());
      expect(frozen.fence.slot).toBe(fence);
      expect(frozen.fence.saved).toBe(true);
      expect(frozen.fence.addedMs).toBeLessThan(5_000);
      // Gone when the freeze returns, not some time later.
      expect(
        await query(logical.url(), 'SELECT pid FROM pg_stat_activity WHERE pid = ANY ($1)', [pids]),
      ).toEqual([]);
      await named.end().catch(() => undefined);
      await writing.end().catch(() => undefined);

      for (const role of [global, local]) {
        expect(await readOnlyAs(as(logical, role, db))).toBe('on');
        expect(await tryWrite(as(logical, role, db))).toBe('25006');
      }
      // ALTER ROLE … SET holds everywhere: the fence only adds an entry for this database.
      expect(await readOnlyAs(as(logical, global, 'postgres'))).toBe('off');
      const frozenSettings = await settings(logical);
      expect(frozenSettings).toContainEqual({
        role: global,
        db,
        config: [`${SAVED_SETTING}=${fence}/unset`, 'default_transaction_read_only=on'],
      });
      expect(frozenSettings).toContainEqual({
        role: local,
        db,
        config: [
          'default_transaction_read_only=on',
          'statement_timeout=1min',
          `${SAVED_SETTING}=${fence}/false`,
        ],
      });
      expect(await slotsOf(logical)).toContain(fence);

      // A second freeze (a retry) keeps the originals the first one saved.
      await run(acts.freezeSource, { source: url, fence });
      expect(await settings(logical)).toEqual(frozenSettings);

      expect(await run(acts.unfreezeSource, { source: url, fence })).toMatchObject({ slotDropped: true });
      expect(await settings(logical)).toEqual(before);
      expect(await slotsOf(logical)).not.toContain(fence);
      expect(await tryWrite(as(logical, global, db))).toBe('written');
      expect(await tryWrite(as(logical, local, db))).toBe('written');
      expect(await run(acts.unfreezeSource, { source: url, fence })).toEqual({
        restored: 0,
        slotDropped: false,
      });
      expect(await settings(logical)).toEqual(before);
    });

    it('leaves a fence of another migration in place, and a database that was read-only stays so', async () => {
      const { db, url } = await fresh(logical, 'owners');
      await query(logical.url(), `ALTER DATABASE ${quoteIdent(db)} SET default_transaction_read_only = on`);
      const before = await settings(logical);
      const first = fenceSlotName('migration-first');
      const second = fenceSlotName('migration-second');
      await run(acts.freezeSource, { source: url, fence: first });
      const byFirst = await settings(logical);
      await run(acts.freezeSource, { source: url, fence: second });
      expect(await settings(logical)).toEqual(byFirst);
      // The second migration's rollback undoes nothing of the first's.
      await run(acts.unfreezeSource, { source: url, fence: second });
      expect(await settings(logical)).toEqual(byFirst);
      await run(acts.unfreezeSource, { source: url, fence: first });
      expect(await settings(logical)).toEqual(before);
      expect(await readOnlyAs(url)).toBe('on');
      expect(await slotsOf(logical)).toEqual([]);
    });

    it('freezes one database for two migrations at once: they take turns, so neither ends the other’s watch', async () => {
      const { url } = await fresh(logical, 'turns');
      const before = await settings(logical);
      const fences = [fenceSlotName('migration-left'), fenceSlotName('migration-right')];
      // Each attempt alone ends every session begun before its fence, the other's watch included:
      // without turns, at least one of the two fails on its lost connection.
      const frozen = await Promise.all(fences.map((fence) => run(acts.freezeSource, { source: url, fence })));
      for (const f of frozen) expect(f.fence).toMatchObject({ slot: expect.any(String) });
      expect((await slotsOf(logical)).sort()).toEqual([...fences].sort());
      for (const fence of fences) await run(acts.unfreezeSource, { source: url, fence });
      expect(await settings(logical)).toEqual(before);
      expect(await readOnlyAs(url)).not.toBe('on');
    });

    it('refuses, as a user who cannot save a role’s setting, to fence that role, and changes nothing', async () => {
      const { db, global, url } = await fresh(plain, 'rights');
      const owner = `${db}_owner`;
      await query(plain.url(), `CREATE ROLE ${quoteIdent(owner)} LOGIN CREATEROLE`);
      await query(plain.url(), `ALTER DATABASE ${quoteIdent(db)} OWNER TO ${quoteIdent(owner)}`);
      const before = await settings(plain);
      const failure = await failureOf(run(acts.freezeSource, { source: as(plain, owner, db) }));
      expectFailure(failure, ErrorCode.PermissionDenied, true, 'source');
      expect(failure.message).toContain(`role "${db}_l"`);
      expect((failure.details?.[0] as { fix?: string }).fix).toContain(
        `GRANT SET ON PARAMETER ${SAVED_SETTING}`,
      );
      expect(await settings(plain)).toEqual(before);
      expect(await readOnlyAs(url)).toBe('off');

      // Without such a role, the owner freezes the database as before: unfreeze resets its setting.
      await query(plain.url(), `ALTER ROLE ${quoteIdent(global)} RESET default_transaction_read_only`);
      await query(
        plain.url(),
        `ALTER ROLE ${quoteIdent(`${db}_l`)} IN DATABASE ${quoteIdent(db)} RESET default_transaction_read_only`,
      );
      const plainBefore = await settings(plain);
      const frozen = await run(acts.freezeSource, { source: as(plain, owner, db) });
      expect(frozen.fence.saved).toBe(false);
      expect(await readOnlyAs(url)).toBe('on');
      await run(acts.unfreezeSource, { source: as(plain, owner, db) });
      expect(await settings(plain)).toEqual(plainBefore);
    });
  });

  describe('verifyFence', () => {
    it('passes pgferry’s own cutover and drops the slot; names a write a session let through after the freeze', async () => {
      const { db, url } = await fresh(logical, 'verify');
      const fence = fenceSlotName(`migration-${db}`);
      const clean = await run(acts.freezeSource, { source: url, fence });
      await run(acts.currentLsn, { source: url });
      const verified = await run(acts.verifyFence, {
        source: url,
        slot: clean.fence.slot,
        baseline: clean.fence.baseline,
      });
      expect(verified.methods).toEqual(['logical-slot', 'table-counters']);
      expect(await slotsOf(logical)).not.toContain(fence);
      await run(acts.unfreezeSource, { source: url, fence });

      const frozen = await run(acts.freezeSource, { source: url, fence });
      const rogue = await connect(url, 'rogue');
      try {
        await rogue.query('SET default_transaction_read_only = off');
        await rogue.query("INSERT INTO public.t (v) VALUES ('a'), ('b'), ('c')");
        const failure = await failureOf(
          run(acts.verifyFence, { source: url, slot: frozen.fence.slot, baseline: frozen.fence.baseline }),
        );
        expectFailure(failure, ErrorCode.FenceBreached, true, 'source');
        expect(failure.message).toMatch(/transaction \d+ changed 3 rows of public\.t \(WAL /);
        expect(failure.message).toContain(`pid ${(rogue as unknown as { processID: number }).processID}`);
        expect(failure.message).toContain('(rogue)');
        expect((failure.details?.[0] as { fix?: string }).fix).toContain(
          'SET default_transaction_read_only = off',
        );
      } finally {
        await rogue.end();
      }
      expect(await slotsOf(logical)).not.toContain(fence);
      await run(acts.unfreezeSource, { source: url, fence });
      expect(await readOnlyAs(url)).toBe('off');
    });

    it('without wal_level=logical, catches the write by the tables’ counters and files', async () => {
      const { db, url } = await fresh(plain, 'counters');
      await query(url, 'CREATE TABLE public.other (id int PRIMARY KEY); INSERT INTO public.other VALUES (1)');
      // Another migration's DDL capture table, in pgferry's schema: it drops it at its end.
      await query(
        url,
        `CREATE SCHEMA ${LEDGER_SCHEMA}; CREATE TABLE ${LEDGER_SCHEMA}.other_capture (id int)`,
      );
      const fence = fenceSlotName(`migration-${db}`);
      const clean = await run(acts.freezeSource, { source: url, fence });
      expect(clean.fence.slot).toBeUndefined();
      expect(clean.fence.slotSkipped).toBe('wal_level is replica, not logical');
      // pgferry's own objects are not the application's writes: the other migration's drop passes.
      await query(url, `BEGIN READ WRITE; DROP TABLE ${LEDGER_SCHEMA}.other_capture; COMMIT`);
      expect(
        await run(acts.verifyFence, { source: url, slot: clean.fence.slot, baseline: clean.fence.baseline }),
      ).toMatchObject({ methods: ['table-counters'], notes: [] });

      const rogue = await connect(url);
      await rogue.query('SET default_transaction_read_only = off');
      await rogue.query("UPDATE public.t SET v = 'changed' WHERE id <= 5");
      await rogue.query('TRUNCATE public.other');
      // A backend reports its counters when it exits (or idles a moment).
      await rogue.end();
      const failure = await failureOf(
        run(acts.verifyFence, { source: url, slot: clean.fence.slot, baseline: clean.fence.baseline }),
      );
      expectFailure(failure, ErrorCode.FenceBreached, true, 'source');
      expect(failure.message).toContain('public.t +5 rows written');
      expect(failure.message).toContain('public.other rewritten or truncated');
      await run(acts.unfreezeSource, { source: url, fence });
    });
  });

  describe('migrations', () => {
    const waitForGate = (workflowId: string) =>
      waitForStatus(suite.client, workflowId, 'the approval gate', (s) => s.state === 'waiting', 90_000);

    it('offline: a role with ALTER ROLE … SET default_transaction_read_only = off cannot write after the fence, and stays fenced on the retired source', async () => {
      const { db, global, url } = await fresh(plain, 'offline');
      const target = `${db}_new`;
      const writer = startWriter(as(plain, global, db), ["INSERT INTO public.t (v) VALUES ('app')"], 5);
      await waitFor('the application to write', async () =>
        Number((await query<{ n: string }>(url, 'SELECT count(*) AS n FROM public.t'))[0]?.n) > 2000
          ? true
          : undefined,
      );
      const run = await suite.client.migrate({
        name: db.replace(/_/g, '-'),
        source: url,
        target: plain.url(target),
        autoApprove: true,
      });
      const result = await run.result();
      const seen = await writer.stop();
      expect(result.outcome).toBe('completed');
      expect(seen.refused).toBeGreaterThan(0);
      expect(result.writeFence).toMatchObject({
        methods: ['table-counters'],
        slotSkipped: 'wal_level is replica, not logical',
        roles: expect.arrayContaining([global, `${db}_l`]) as unknown,
      });
      expect(
        diffFingerprints(await databaseFingerprint(url), await databaseFingerprint(plain.url(target))),
      ).toEqual([]);
      expect(await tryWrite(as(plain, global, db))).toBe('25006');
      expect(await readOnlyAs(as(plain, global, 'postgres'))).toBe('off');
    });

    it('offline, rejected: ALTER ROLE … IN DATABASE cannot write while it waits, and every setting comes back exactly', async () => {
      const { db, local, url } = await fresh(logical, 'reject');
      const before = await settings(logical);
      const name = db.replace(/_/g, '-');
      const run = await suite.client.migrate({ name, source: url, target: logical.url(`${db}_new`) });
      await waitForGate(run.workflowId);
      expect(await tryWrite(as(logical, local, db))).toBe('25006');
      expect(await slotsOf(logical)).toContain(fenceSlotName(run.workflowId));
      await suite.client.reject(name, { by: 'bob', reason: 'not today' });
      expect((await run.result()).outcome).toBe('rejected');
      expect(await settings(logical)).toEqual(before);
      expect(await tryWrite(as(logical, local, db))).toBe('written');
      expect(await slotsOf(logical)).toEqual([]);
    });

    it('offline: a write let through at the approval gate fails the migration before the target becomes primary, and it rolls back', async () => {
      const { db, url } = await fresh(logical, 'sneak');
      const before = await settings(logical);
      const name = db.replace(/_/g, '-');
      const run = await suite.client.migrate({ name, source: url, target: logical.url(`${db}_new`) });
      await waitForGate(run.workflowId);
      await withClient(url, async (client) => {
        await client.query('SET default_transaction_read_only = off');
        await client.query("INSERT INTO public.t (v) VALUES ('sneaked')");
      });
      await suite.client.approve(name, { by: 'alice', reason: 'looks fine' });
      const error = (await run.result().catch((e: unknown) => e)) as PgferryError;
      expect(error.code).toBe(ErrorCode.FenceBreached);
      expect(error.field).toBe('source');
      expect(error.message).toMatch(/changed 1 row of public\.t/);
      expect(error.fix).toContain('start the migration again');
      expect((await suite.client.status(name)).state).toBe('rolled_back');
      expect(await settings(logical)).toEqual(before);
      expect(await readOnlyAs(url)).toBe('off');
      expect(await slotsOf(logical)).toEqual([]);
    });

    it('online: the role’s writes stop at the fence, the slot proves it, and the retired source stays fenced', async () => {
      const { db, global, url } = await fresh(logical, 'online', [plain]);
      const name = db.replace(/_/g, '-');
      const writer = startWriter(as(logical, global, db), ["INSERT INTO public.t (v) VALUES ('app')"], 5);
      const run = await suite.client.migrate({
        name,
        source: url,
        target: plain.url(db),
        mode: 'online',
        validate: 'none',
      });
      await waitForGate(run.workflowId);
      await suite.client.approve(name, { by: 'alice', reason: 'caught up' });
      const result = await run.result();
      const seen = await writer.stop();
      expect(result.outcome).toBe('completed');
      expect(seen.written).toBeGreaterThan(0);
      expect(seen.refused).toBeGreaterThan(0);
      expect(result.writeFence?.methods).toEqual(['logical-slot', 'table-counters']);
      // Other tests' roles on this server have their own setting too: every one is fenced here.
      expect(result.writeFence?.roles).toEqual(expect.arrayContaining([global, `${db}_l`]));
      expect(result.writeFence?.addedMs).toBeLessThan(2_000);
      expect(
        diffFingerprints(await databaseFingerprint(url), await databaseFingerprint(plain.url(db))),
      ).toEqual([]);
      expect(await tryWrite(as(logical, global, db))).toBe('25006');
      expect(await slotsOf(logical)).toEqual([]);
      const status = await suite.client.status(run.workflowId);
      expect(status.details?.writeFence).toMatchObject({ methods: ['logical-slot', 'table-counters'] });
    });

    it('online: a session that turns its own default off after the freeze and writes is caught, and the migration rolls back', async () => {
      const { db, url } = await fresh(logical, 'rogue', [plain]);
      const before = await settings(logical);
      const name = db.replace(/_/g, '-');
      const run = await suite.client.migrate({
        name,
        source: url,
        target: plain.url(db),
        mode: 'online',
        validate: 'none',
      });
      await waitForGate(run.workflowId);
      const rogue = startWriter(url, [
        'SET default_transaction_read_only = off',
        "INSERT INTO public.t (v) VALUES ('rogue')",
      ]);
      await suite.client.approve(name, { by: 'alice', reason: 'caught up' });
      const error = (await run.result().catch((e: unknown) => e)) as PgferryError;
      await rogue.stop();
      expect(error.code).toBe(ErrorCode.FenceBreached);
      expect(error.field).toBe('source');
      expect(error.message).toMatch(/transaction \d+ changed 1 row of public\.t/);
      expect((await suite.client.status(name)).state).toBe('rolled_back');
      expect(await settings(logical)).toEqual(before);
      expect(await readOnlyAs(url)).toBe('off');
      expect(await slotsOf(logical)).toEqual([]);
    });
  });
});
