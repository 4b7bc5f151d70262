import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unfenced } from '../../activities/roles';
import type { FleetStatus } from '../../client/fleet';
import { runActivity } from '../helpers/activity-env';
import { databaseFingerprint, diffFingerprints } from '../helpers/fingerprint';
import {
  createFleetSource,
  FLEET_DATABASES as DATABASES,
  FLEET_ROLES,
  FLEET_SCHEMAS,
} from '../helpers/fleet-fixture';
import {
  createManagedAdmin,
  MANAGED_ADMIN,
  MANAGED_ADMIN_GRANTS,
  useManagedPair,
} from '../helpers/managed-admin';
import { query, startThrowawayCluster, type ThrowawayCluster } from '../helpers/pg';
import { fingerprint17As15, relationAclAs15, startPg17Cluster } from '../helpers/pg17';
import { runPgferry } from '../helpers/processes';
import { databasePrivileges, serverRoles } from '../helpers/role-catalog';
import { waitFor } from '../helpers/wait';
import { startWriter } from '../helpers/writer';

/** The worker's variable holding the source's password (the target's subscriptions log in with it too). */
const PASSWORD_ENV = 'PGFERRY_PASSWORD_MANAGED_FLEET';
const PASSWORD = 'managed-fleet-secret';
// Set before the worker starts: the activities take the worker's environment as it is then.
process.env[PASSWORD_ENV] = PASSWORD;

const FLEET = 'mfl';
/** The member under an application's writes while it copies and replicates (wave 1). */
const WRITTEN = 'fs_01';

/** A role the managed admin may not grant: it holds no ADMIN on the predefined roles. */
const NOT_GRANTABLE = { role: 'ops', what: 'membership in pg_read_all_stats' };

/**
 * The server's roles by name, as far as a target admin that is not superuser can hold them: the
 * admin itself left out (it created the roles, so it is a member of each), grantors left out (the
 * admin granted every membership on the target), and the source's membership that the admin may
 * not grant (NOT_GRANTABLE, reported by the fleet). The source's frozen databases' fence is not
 * copied. Owners and ACLs of the databases are compared as they are.
 */
async function rolesAsManaged(url: string): Promise<Record<string, unknown>> {
  const all = await serverRoles(url, DATABASES);
  const notAdmin = (r: { rolname?: string; member?: string }) =>
    r.rolname !== MANAGED_ADMIN && r.member !== MANAGED_ADMIN;
  const members = (all.members as { role: string; member: string; admin_option: boolean }[])
    .filter((m) => notAdmin(m) && !(m.member === NOT_GRANTABLE.role && m.role === 'pg_read_all_stats'))
    .map(({ role, member, admin_option }) => ({ role, member, admin_option }));
  const settings = (all.settings as { setconfig: string[] }[])
    .map((s) => ({ ...s, setconfig: unfenced(s.setconfig) }))
    .filter((s) => s.setconfig.length > 0);
  return { ...all, roles: (all.roles as { rolname: string }[]).filter(notAdmin), members, settings };
}

/** The subscriptions' workers and errors on the target, and the source's slots: why a write has not arrived. */
async function replicationSeen(targetDb: string, sourceServer: string): Promise<Record<string, unknown>> {
  const [subscriptions, errors, slots] = await Promise.all([
    query(
      targetDb,
      `SELECT subname, pid, received_lsn::text, latest_end_lsn::text, last_msg_receipt_time::text
         FROM pg_stat_subscription`,
    ),
    query(targetDb, 'SELECT subname, apply_error_count, sync_error_count FROM pg_stat_subscription_stats'),
    query(
      sourceServer,
      `SELECT slot_name, database, active, confirmed_flush_lsn::text, wal_status
         FROM pg_replication_slots`,
    ),
  ]);
  return { subscriptions, errors, slots };
}

/** A database's owners and ACLs (role-catalog), relations' ACLs in 15's spelling (17 adds MAINTAIN). */
async function privilegesAs15(url: string): Promise<Record<string, unknown>> {
  const p = await databasePrivileges(url, FLEET_SCHEMAS);
  const relations = (p.relations as { relacl: string[] | null }[]).map((r) => ({
    ...r,
    relacl: r.relacl?.map(relationAclAs15) ?? null,
  }));
  return { ...p, relations };
}

describe('pgferry fleet --all --mode online: twenty databases and six roles into PostgreSQL 17 whose admin is not superuser', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical', auth: 'scram', password: PASSWORD }),
      // A wave of five subscriptions replicates at once: an apply worker each (17 has four by default,
      // with which the fleet is refused at its plan).
      startPg17Cluster({
        walLevel: 'logical',
        settings: ['max_logical_replication_workers = 8', 'max_worker_processes = 16'],
      }),
    ]);
    await createFleetSource(source);
    // The admin before the service gave it the copy's and the subscription's rights.
    await createManagedAdmin(target.url(), { grants: false });
  }, 300_000);

  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  const { suite, activities, sourceUrl, targetUrl } = useManagedPair(() => ({ source, target }), {
    env: PASSWORD_ENV,
    value: PASSWORD,
  });

  /** The fleet's status once `test` holds; a timeout says where each member stood last. */
  const fleetStatus = (what: string, test: (s: FleetStatus) => boolean) => {
    let last = 'no status yet';
    return waitFor(
      () => `fleet ${FLEET}: ${what}; last ${last}`,
      async () => {
        const status = await suite.client.fleetStatus(FLEET);
        last = JSON.stringify({
          state: status.state,
          awaiting: status.awaiting,
          members: status.members.map((m) => [m.database, m.member, m.stage, m.lagBytes, m.error?.message]),
        });
        return test(status) ? status : undefined;
      },
      300_000,
      500,
    );
  };

  it('preflight names the GRANTs the admin lacks, the fleet the apply workers a wave needs; granted, the fleet moves every database online in waves under writes, each identical, roles equal, no replication left', async () => {
    // Preflight as each member runs it (online, roles copied): the admin's missing rights, each the statement that grants it.
    const preflight = () =>
      runActivity(activities.runPreflight, {
        source: sourceUrl(WRITTEN),
        target: targetUrl(WRITTEN),
        mode: 'online',
        roles: 'copy',
      });
    const before = await preflight();
    expect(before.ok).toBe(false);
    expect(before.checks.filter((c) => !c.ok && c.severity === 'error').map((c) => c.id)).toEqual([
      'target.privileges',
    ]);
    const rights = before.checks.find((c) => c.id === 'target.privileges');
    // The admin's two, and one only a superuser could do on the target: give the sequence to
    // app_writer, which has no CREATE on its schema; the fix is a grant on the source.
    const onSource = /^(GRANT CREATE ON SCHEMA app TO app_writer) on the source \(relation app\.invoice_no/;
    expect(rights?.items).toEqual([...MANAGED_ADMIN_GRANTS, expect.stringMatching(onSource)]);
    for (const grant of MANAGED_ADMIN_GRANTS) expect(rights?.fix).toContain(grant);
    // Granted as the report says: the admin's rights on the target, the schema's in every source database.
    for (const item of rights?.items ?? []) {
      const sourceGrant = onSource.exec(item)?.[1];
      if (sourceGrant === undefined) await query(target.url(), item);
      else for (const db of DATABASES) await query(source.url(db), sourceGrant);
    }
    const after = await preflight();
    expect(after.checks.filter((c) => !c.ok && c.severity === 'error')).toEqual([]);

    // A wave of ten would replicate ten members at once at its gate: the target has eight apply
    // workers, so the fleet is refused before anything starts, naming the setting.
    const fleetArgs = (name: string, waveSize: number) => [
      'fleet',
      '--name',
      name,
      '--source-server',
      sourceUrl('postgres'),
      '--target-server',
      targetUrl('postgres'),
      '--all',
      '--mode',
      'online',
      '--roles',
      'copy',
      '--wave-size',
      String(waveSize),
      '--concurrency',
      '4',
      '--approve',
      'waves',
      '--json',
    ];
    const wide = await runPgferry(fleetArgs(`${FLEET}wide`, 10), suite.env);
    expect(wide.code, wide.stdout + wide.stderr).toBe(2);
    expect(wide.stdout + wide.stderr).toContain(
      "a wave's 10 members replicate at once, but the target server has 8 free logical replication worker(s) (max_logical_replication_workers",
    );
    expect(wide.stdout + wide.stderr).toContain('--wave-size 8 or less');
    expect(await query(target.url(), `SELECT rolname FROM pg_roles WHERE rolname = 'app_owner'`)).toEqual([]);

    // An application writes to one member while it copies, replicates and waits at its gate.
    const writer = startWriter(
      source.url(WRITTEN),
      [
        `INSERT INTO app.orders (customer, total) VALUES (1 + (random() * 39)::int, 9.99)`,
        `UPDATE app.customers SET name = name || '+' WHERE id = 1 + (random() * 39)::int`,
        `DELETE FROM app.orders WHERE id = (SELECT id FROM app.orders WHERE total = 9.99 ORDER BY id LIMIT 1 OFFSET 20)`,
        `SELECT nextval('app.invoice_no')`,
      ],
      50,
    );
    const started = await runPgferry(fleetArgs(FLEET, 5), suite.env);
    expect(started.code, started.stderr).toBe(0);

    let written = 0;
    for (let wave = 1; wave <= 4; wave++) {
      const waiting = await fleetStatus(
        `wave ${wave} at its gate`,
        (s) => s.state !== 'running' || (s.awaiting?.kind === 'approval' && s.awaiting.wave === wave),
      );
      expect(waiting.awaiting, JSON.stringify(waiting.members)).toEqual({ kind: 'approval', wave });
      const members = waiting.members.filter((m) => m.wave === wave);
      expect(members.map((m) => [m.database, m.member])).toEqual(
        DATABASES.slice(5 * (wave - 1), 5 * wave).map((db) => [db, 'at_gate']),
      );
      if (wave === 1) {
        // Replicating: the latest write on the source reaches the target through the admin's subscription.
        const [last] = await query<{ id: string }>(
          source.url(WRITTEN),
          'SELECT max(id)::text AS id FROM app.orders',
        );
        // Under a full test run's load the five members' apply workers share two cores: time enough.
        // What the replication said at the last look, told if the wait runs out.
        let seen = '';
        await waitFor(
          () => `the writes replicated (order ${last?.id}); last seen: ${seen}`,
          async () => {
            const rows = await query(target.url(WRITTEN), 'SELECT 1 FROM app.orders WHERE id = $1', [
              last?.id,
            ]);
            if (rows.length === 1) return true;
            seen = JSON.stringify(await replicationSeen(target.url(WRITTEN), source.url()));
            return undefined;
          },
          120_000,
          500,
        );
      }
      await suite.client.fleetApprove(FLEET, { wave, by: 'alice', reason: `wave ${wave}` });
      if (wave === 1) {
        await fleetStatus(`${WRITTEN} cut over`, (s) =>
          s.members.some((m) => m.database === WRITTEN && m.member === 'completed'),
        );
        const tally = await writer.stop();
        written = tally.written;
      }
    }
    const done = await fleetStatus('completed', (s) => s.state !== 'running' && s.state !== 'waiting');
    expect(done.state, JSON.stringify(done.members)).toBe('completed');
    expect(done.members.map((m) => [m.database, m.member])).toEqual(DATABASES.map((db) => [db, 'completed']));
    expect(written).toBeGreaterThan(0);

    // Roles: created once for the server pair; the only right refused is the predefined role's membership.
    expect([...(done.roles?.[0]?.created ?? [])].sort()).toEqual(FLEET_ROLES);
    expect(done.roles?.[0]?.notGranted.map(({ role, what }) => ({ role, what }))).toEqual([NOT_GRANTABLE]);
    expect(await rolesAsManaged(target.url())).toEqual(await rolesAsManaged(source.url()));

    for (const db of DATABASES) {
      const [a, b] = await Promise.all([
        databaseFingerprint(source.url(db)),
        databaseFingerprint(target.url(db)),
      ]);
      expect(diffFingerprints(a, fingerprint17As15(a, b)), db).toEqual([]);
      expect(await privilegesAs15(target.url(db)), db).toEqual(await privilegesAs15(source.url(db)));
      // No publication left on either side.
      for (const url of [source.url(db), target.url(db)])
        expect(await query(url, 'SELECT pubname FROM pg_publication'), url).toEqual([]);
    }
    // No slot on the source, no subscription (nor its origin) on the target.
    expect(await query(source.url(), 'SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    expect(await query(target.url(), 'SELECT subname FROM pg_subscription')).toEqual([]);
    expect(await query(target.url(), 'SELECT roname FROM pg_replication_origin')).toEqual([]);
    // The written member's writes, the large object and the sequences came over (the fingerprint compares them too).
    const facts = `SELECT (SELECT count(*) FROM app.orders WHERE total = 9.99)::int AS written,
                          length(lo_get(424242)) AS lo, (SELECT last_value FROM app.invoice_no)::int AS seq`;
    const moved = await query<{ written: number; lo: number; seq: number }>(target.url(WRITTEN), facts);
    expect(moved).toEqual(await query(source.url(WRITTEN), facts));
    expect(moved[0]?.written).toBeGreaterThan(0);
  }, 1_200_000);
});
