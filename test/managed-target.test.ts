import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckId } from '../domain/checks';
import type { PreflightReport } from '../domain/migration';
import { runActivity } from './helpers/activity-env';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { createManagedAdmin, useManagedPair } from './helpers/managed-admin';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { startPg17Cluster } from './helpers/pg17';
import { waitFor, waitForStatus } from './helpers/wait';

/** The worker's variable holding the source's password (the target server logs in with it too). */
const PASSWORD_ENV = 'PGFERRY_PASSWORD_MANAGED_TARGET';
const PASSWORD = 'managed-source-secret';
// Set before the activities' dependencies are made: they take the worker's environment as it is then.
process.env[PASSWORD_ENV] = PASSWORD;

/** Roles with memberships, owning the database's objects. */
const ROLES_SQL = `
  CREATE ROLE app_owner LOGIN;
  CREATE ROLE app_writer NOLOGIN;
  CREATE ROLE app_reader NOLOGIN;
  CREATE ROLE analyst LOGIN;
  GRANT app_reader TO app_writer;
  GRANT app_reader TO analyst`;

/** Objects owned by several roles, grants on tables, columns, schemas, functions, default privileges. */
function databaseSql(rows: number): string {
  return `
  CREATE SCHEMA app AUTHORIZATION app_owner;
  CREATE SCHEMA reports AUTHORIZATION analyst;
  SET ROLE app_owner;
  ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO app_reader;
  CREATE TABLE app.customers (id int PRIMARY KEY, name text, secret text);
  CREATE TABLE app.orders (id bigserial PRIMARY KEY, customer int REFERENCES app.customers, total numeric);
  CREATE FUNCTION app.total() RETURNS numeric LANGUAGE sql AS 'SELECT sum(total) FROM app.orders';
  RESET ROLE;
  GRANT USAGE ON SCHEMA app TO app_reader, app_writer;
  GRANT CREATE ON SCHEMA app TO app_writer;
  GRANT INSERT, UPDATE ON app.orders TO app_writer;
  GRANT SELECT (id, name) ON app.customers TO analyst;
  GRANT EXECUTE ON FUNCTION app.total() TO analyst;
  CREATE SEQUENCE app.invoice_no;
  ALTER SEQUENCE app.invoice_no OWNER TO app_writer;
  SET ROLE analyst;
  CREATE TABLE reports.daily (day date PRIMARY KEY, orders int);
  GRANT SELECT ON reports.daily TO app_writer WITH GRANT OPTION;
  RESET ROLE;
  INSERT INTO app.customers SELECT g, 'c' || g, 's' FROM generate_series(1, ${rows}) g;
  INSERT INTO app.orders (customer, total) SELECT 1 + g % ${rows}, g * 1.5 FROM generate_series(1, ${rows * 3}) g;
  INSERT INTO reports.daily VALUES ('2026-12-01', ${rows * 3});
  SELECT nextval('app.invoice_no') FROM generate_series(1, 5)`;
}

/** 17 adds MAINTAIN (m) to ALL on a relation: an owner's full privileges read as 15's. */
const as15 = (acl: string | null) => acl?.replace(/=(a\*?r\*?w\*?d\*?D\*?x\*?t\*?)m\*?\//g, '=$1/') ?? null;

/** Owners and ACLs of a database's objects, by name, in 15's spelling. */
async function privileges(url: string): Promise<unknown[]> {
  const rows = await query<{ kind: string; name: string; owner: string; acl: string | null }>(
    url,
    `SELECT 'schema' AS kind, n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner,
            (SELECT string_agg(i::text, ',' ORDER BY i::text) FROM unnest(n.nspacl) i) AS acl
       FROM pg_namespace n WHERE n.nspname IN ('app', 'reports')
     UNION ALL
     SELECT 'relation', n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner),
            (SELECT string_agg(i::text, ',' ORDER BY i::text) FROM unnest(c.relacl) i)
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('app', 'reports')
     UNION ALL
     SELECT 'column', c.relname || '.' || a.attname, '',
            (SELECT string_agg(i::text, ',' ORDER BY i::text) FROM unnest(a.attacl) i)
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname IN ('app', 'reports') AND a.attacl IS NOT NULL
     UNION ALL
     SELECT 'function', p.proname, pg_get_userbyid(p.proowner),
            (SELECT string_agg(i::text, ',' ORDER BY i::text) FROM unnest(p.proacl) i)
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('app', 'reports')
     UNION ALL
     SELECT 'default', pg_get_userbyid(d.defaclrole) || ' ' || coalesce(n.nspname, '') || ' ' || d.defaclobjtype::text, '',
            (SELECT string_agg(i::text, ',' ORDER BY i::text) FROM unnest(d.defaclacl) i)
       FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
     ORDER BY 1, 2`,
  );
  return rows.map((r) => ({ ...r, acl: as15(r.acl) }));
}

/** The copied roles' memberships, by name; the target admin's own (it created the roles) left out. */
const MEMBERS = `
  SELECT r.rolname AS role, m.rolname AS member, a.admin_option
    FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
   WHERE m.rolname IN ('app_owner', 'app_writer', 'app_reader', 'analyst') ORDER BY 1, 2`;

describe('a managed target: PostgreSQL 17 whose admin is not superuser (CREATEDB, CREATEROLE, pg_read_all_data, pg_write_all_data, pg_create_subscription)', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical', auth: 'scram', password: PASSWORD }),
      startPg17Cluster({ walLevel: 'logical' }),
    ]);
    await query(source.url(), ROLES_SQL);
    await createManagedAdmin(target.url());
  }, 180_000);

  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  const { suite, activities, sourceUrl, targetUrl } = useManagedPair(() => ({ source, target }), {
    env: PASSWORD_ENV,
    value: PASSWORD,
  });

  async function createSource(db: string, rows: number): Promise<void> {
    await query(source.url(), `CREATE DATABASE ${db} OWNER app_owner`);
    await query(source.url(db), databaseSql(rows));
  }

  /** Rows, sequences, schema, owners and ACLs of the source and the target are the same. */
  async function expectEqual(db: string): Promise<void> {
    const [a, b] = await Promise.all([
      databaseFingerprint(source.url(db)),
      databaseFingerprint(target.url(db)),
    ]);
    const count = `SELECT (SELECT count(*) FROM app.orders)::int AS orders,
                          (SELECT last_value FROM app.invoice_no)::int AS seq,
                          (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()) AS owner`;
    expect(await query(target.url(db), count), db).toEqual(await query(source.url(db), count));
    expect(await privileges(target.url(db)), db).toEqual(await privileges(source.url(db)));
    expect(await query(target.url(), MEMBERS)).toEqual(await query(source.url(), MEMBERS));
    expect(
      diffFingerprints(a, b).filter((d) => !/acl|MAINTAIN/i.test(JSON.stringify(d))),
      db,
    ).toEqual([]);
  }

  it('migrates offline with --roles copy as the non-superuser admin: rows, owners and ACLs equal', async () => {
    await createSource('m_offline', 40);
    const run = await suite.client.migrate({
      name: 'managed-offline',
      source: sourceUrl('m_offline'),
      target: targetUrl('m_offline'),
      roles: 'copy',
      autoApprove: true,
      validate: 'counts',
    });
    const result = await run.result();
    expect(result.outcome, JSON.stringify(result)).toBe('completed');
    expect(result.roles?.notGranted).toEqual([]);
    await expectEqual('m_offline');
  }, 600_000);

  it('migrates online with --roles copy as the non-superuser admin: the subscription replicates writes made after the copy', async () => {
    await createSource('m_online', 30);
    const run = await suite.client.migrate({
      name: 'managed-online',
      source: sourceUrl('m_online'),
      target: targetUrl('m_online'),
      mode: 'online',
      roles: 'copy',
      validate: 'counts',
    });
    await waitForStatus(
      suite.client,
      run.workflowId,
      'the approval gate',
      (s) => s.state === 'waiting',
      300_000,
    );
    // A write after the snapshot: only the subscription (owned by the admin, applying as app_owner) brings it.
    await query(source.url('m_online'), `INSERT INTO app.orders (customer, total) VALUES (1, 99.5)`);
    // A schema change by the table's owner (not superuser) on the source: captured, and applied on the
    // target by the admin's subscription, which acts as the owner.
    await query(
      source.url('m_online'),
      `SET ROLE app_owner; ALTER TABLE app.orders ADD COLUMN note text DEFAULT 'n'`,
    );
    await waitFor('the write replicated', async () => {
      const rows = await query(targetUrl('m_online'), `SELECT 1 FROM app.orders WHERE total = 99.5`);
      const note = await query(
        targetUrl('m_online'),
        `SELECT 1 FROM pg_attribute WHERE attrelid = 'app.orders'::regclass AND attname = 'note'`,
      );
      return rows.length === 1 && note.length === 1 ? true : undefined;
    });
    await suite.client.approve('managed-online', { by: 'alice', reason: 'managed target' });
    const result = await run.result();
    expect(result.outcome, JSON.stringify(result)).toBe('completed');
    expect(result.roles?.notGranted).toEqual([]);
    await expectEqual('m_online');
    expect(await query(target.url(), 'SELECT subname FROM pg_subscription')).toEqual([]);
  }, 600_000);

  it('rolls a rejected online migration back as the non-superuser admin: subscription, slot and publication gone, the target database dropped', async () => {
    await createSource('m_reject', 10);
    const run = await suite.client.migrate({
      name: 'managed-reject',
      source: sourceUrl('m_reject'),
      target: targetUrl('m_reject'),
      mode: 'online',
      roles: 'copy',
      validate: 'none',
      onRollback: 'drop',
    });
    await waitForStatus(
      suite.client,
      run.workflowId,
      'the approval gate',
      (s) => s.state === 'waiting',
      300_000,
    );
    expect(await query(target.url(), 'SELECT count(*)::int AS n FROM pg_subscription')).toEqual([{ n: 1 }]);
    await suite.client.reject('managed-reject', { by: 'alice', reason: 'not tonight' });
    const result = await run.result();
    expect(result.outcome).toBe('rejected');
    expect(await query(target.url(), 'SELECT subname FROM pg_subscription')).toEqual([]);
    expect(await query(target.url(), `SELECT 1 FROM pg_database WHERE datname = 'm_reject'`)).toEqual([]);
    expect(await query(source.url(), `SELECT slot_name FROM pg_replication_slots`)).toEqual([]);
    expect(await query(source.url('m_reject'), 'SELECT pubname FROM pg_publication')).toEqual([]);
  }, 600_000);

  it('migrates offline from a source user that is not superuser (REPLICATION, pg_read_all_data, pg_signal_backend, a member of the database owner)', async () => {
    await createSource('m_source', 25);
    await query(
      source.url(),
      `CREATE ROLE src_mover LOGIN REPLICATION PASSWORD '${PASSWORD}';
       GRANT pg_read_all_data, pg_signal_backend, app_owner TO src_mover`,
    );
    const run = await suite.client.migrate({
      name: 'managed-source',
      source: `postgres://src_mover@127.0.0.1:${source.port}/m_source?password_env=${PASSWORD_ENV}`,
      target: targetUrl('m_source'),
      roles: 'copy',
      autoApprove: true,
      validate: 'counts',
    });
    const result = await run.result();
    expect(result.outcome, JSON.stringify(result)).toBe('completed');
    // The migration's own source role is copied too: its REPLICATION and predefined roles are the admin's to refuse.
    expect(result.roles?.notGranted.filter((n) => !n.role.startsWith('src_'))).toEqual([]);
    await expectEqual('m_source');
    // Frozen by a user who is not superuser: the source database is read-only after the cutover.
    expect(await query(source.url('m_source'), `SHOW default_transaction_read_only`)).toEqual([
      { default_transaction_read_only: 'on' },
    ]);
  }, 600_000);

  it('names every right the target and source users lack, each with the statement that grants it, and passes once they are granted', async () => {
    await createSource('m_pre', 5);
    // The source's roles made on the target by its admin (whatever ran before): it, not bare_admin, holds ADMIN on them.
    await runActivity(activities.copyRoles, { source: sourceUrl('m_pre'), target: targetUrl('postgres') });
    // An owner the target lacks, an owner without CREATE on its schema, and an object of the superuser's.
    await query(
      source.url(),
      `CREATE ROLE late_owner NOLOGIN; GRANT CREATE, USAGE ON SCHEMA public TO late_owner`,
    );
    await query(
      source.url('m_pre'),
      `GRANT CREATE, USAGE ON SCHEMA public TO late_owner;
       CREATE TABLE public.late (id int PRIMARY KEY); ALTER TABLE public.late OWNER TO late_owner;
       CREATE TABLE app.odd (id int PRIMARY KEY); ALTER TABLE app.odd OWNER TO analyst;
       CREATE TABLE public.by_super (id int PRIMARY KEY)`,
    );
    await query(target.url(), `CREATE ROLE bare_admin LOGIN`);
    await query(source.url(), `CREATE ROLE src_reader LOGIN REPLICATION PASSWORD '${PASSWORD}'`);
    const run = (mode: 'offline' | 'online', sourceUser = 'postgres') =>
      runActivity(activities.runPreflight, {
        source: `postgres://${sourceUser}@127.0.0.1:${source.port}/m_pre?password_env=${PASSWORD_ENV}`,
        target: `postgres://bare_admin@127.0.0.1:${target.port}/m_pre`,
        mode,
        roles: 'copy',
      });
    const items = (report: PreflightReport, id: CheckId) =>
      report.checks.find((c) => c.id === id)?.items ?? [];

    const online = await run('online', 'src_reader');
    expect(online.ok).toBe(false);
    expect(items(online, 'target.privileges')).toEqual([
      'ALTER ROLE "bare_admin" CREATEDB',
      'ALTER ROLE "bare_admin" CREATEROLE',
      'GRANT SET ON PARAMETER session_replication_role TO "bare_admin"',
      'GRANT pg_create_subscription TO "bare_admin"',
      'GRANT "analyst" TO "bare_admin" WITH INHERIT TRUE, SET TRUE',
      'GRANT "app_owner" TO "bare_admin" WITH INHERIT TRUE, SET TRUE',
      'GRANT "app_writer" TO "bare_admin" WITH INHERIT TRUE, SET TRUE',
      expect.stringMatching(/^REASSIGN OWNED BY "postgres" TO another role in the source database/),
      expect.stringMatching(/^GRANT CREATE ON SCHEMA app TO analyst on the source \(relation app\.odd/),
    ]);
    expect(online.checks.find((c) => c.id === 'target.privileges')?.fix).toContain(
      'GRANT pg_create_subscription TO "bare_admin"',
    );
    expect(items(online, 'source.privileges')).toEqual([
      expect.stringMatching(
        /^ALTER ROLE "src_reader" SUPERUSER \(an online migration creates a publication FOR ALL TABLES/,
      ),
      expect.stringMatching(/^GRANT pg_read_all_data TO "src_reader" \(it may not read app\.customers, /),
    ]);
    const offline = await run('offline', 'src_reader');
    expect(items(offline, 'source.privileges')).toEqual([
      expect.stringMatching(/^GRANT pg_read_all_data TO "src_reader"/),
      expect.stringMatching(/^GRANT "app_owner" TO "src_reader" \(the freeze sets/),
      expect.stringMatching(/^GRANT pg_signal_backend TO "src_reader" \(the freeze ends/),
    ]);
    expect(items(offline, 'target.privileges')).not.toContain('GRANT pg_create_subscription TO "bare_admin"');

    // Granted as the report says (the superuser's table given to a role first, the owner given CREATE):
    await query(
      target.url(),
      `ALTER ROLE bare_admin CREATEDB CREATEROLE;
       GRANT SET ON PARAMETER session_replication_role TO bare_admin;
       GRANT pg_create_subscription TO bare_admin;
       GRANT analyst, app_owner, app_writer TO bare_admin WITH INHERIT TRUE, SET TRUE`,
    );
    await query(
      source.url('m_pre'),
      `ALTER TABLE public.by_super OWNER TO app_owner; GRANT CREATE ON SCHEMA app TO analyst`,
    );
    await query(source.url(), `GRANT pg_read_all_data, pg_signal_backend, app_owner TO src_reader`);
    const granted = await run('offline', 'src_reader');
    expect(granted.checks.filter((c) => c.id.endsWith('.privileges'))).toMatchObject([
      { id: 'source.privileges', ok: true },
      { id: 'target.privileges', ok: true },
    ]);
    const again = await run('online');
    expect(again.checks.filter((c) => !c.ok && c.severity === 'error')).toEqual([]);
  }, 300_000);

  // The short version of test/long/managed-fleet.long.ts (npm run test:long: twenty databases in waves).
  it('moves a small fleet online with --roles copy into the managed target: every member completes, identical', async () => {
    const databases = ['mf_one', 'mf_two', 'mf_three'];
    for (const [n, db] of databases.entries()) await createSource(db, 10 + 5 * n);
    const run = await suite.client.fleet({
      name: 'managed-fleet',
      sourceServer: sourceUrl('postgres'),
      targetServer: targetUrl('postgres'),
      databases,
      mode: 'online',
      roles: 'copy',
      waveSize: 2,
      concurrency: 2,
      approve: 'auto',
      validate: 'counts',
    });
    const result = await run.result();
    expect(result.outcome, JSON.stringify(result)).toBe('completed');
    // The source users of the other tests (src_*, when they ran first) have REPLICATION and
    // predefined roles the admin may not give: reported, as they should be.
    expect(result.roles?.[0]?.notGranted.filter((n) => !n.role.startsWith('src_'))).toEqual([]);
    for (const m of result.members) expect(m.record, m.database).toMatchObject({ state: 'completed' });
    for (const db of databases) await expectEqual(db);
  }, 600_000);
});
