import type { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import { unfenced } from '../activities/roles';
import { ErrorCode } from '../domain/errors';
import { rejectionOf, runActivity, testActivityDeps } from './helpers/activity-env';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { databasePrivileges, serverRoles } from './helpers/role-catalog';
import { useTemporalSuite } from './helpers/suite';

const DB = 'roles_db';

/** Six roles with attributes, memberships (one with ADMIN OPTION, one in a predefined role) and settings. */
const SERVER_SQL = `
  CREATE ROLE app_owner LOGIN CREATEDB CONNECTION LIMIT 20 PASSWORD 'owner-secret';
  CREATE ROLE app_writer NOLOGIN;
  CREATE ROLE app_reader NOLOGIN NOINHERIT;
  CREATE ROLE analyst LOGIN VALID UNTIL '2031-01-01 00:00:00+00' PASSWORD 'analyst-secret';
  CREATE ROLE ops LOGIN REPLICATION BYPASSRLS;
  CREATE ROLE admin_group CREATEROLE NOLOGIN;
  GRANT app_reader TO app_writer WITH ADMIN OPTION;
  GRANT app_reader TO analyst;
  GRANT app_writer TO ops;
  GRANT admin_group TO app_owner WITH ADMIN OPTION;
  GRANT pg_read_all_stats TO ops;
  ALTER ROLE analyst SET work_mem = '64MB';
  ALTER ROLE analyst SET search_path = reports, "$user", public`;

/** The database (CREATE DATABASE runs alone: not in a multi-statement transaction), its settings and grants. */
const DATABASE_GRANTS_SQL = `
  ALTER ROLE app_writer IN DATABASE ${DB} SET statement_timeout = '30s';
  ALTER DATABASE ${DB} SET lock_timeout = '5s';
  REVOKE CONNECT, TEMPORARY ON DATABASE ${DB} FROM PUBLIC;
  GRANT CONNECT ON DATABASE ${DB} TO app_reader, app_writer;
  GRANT CONNECT ON DATABASE ${DB} TO analyst WITH GRANT OPTION`;

/** Objects owned by several roles, grants on tables, columns, schemas, functions, and default privileges. */
const DATABASE_SQL = `
  CREATE SCHEMA app AUTHORIZATION app_owner;
  CREATE SCHEMA reports AUTHORIZATION analyst;
  SET ROLE app_owner;
  ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO app_reader;
  ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT INSERT, UPDATE, DELETE ON TABLES TO app_writer;
  ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
  ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO app_reader;
  CREATE TABLE app.customers (id int PRIMARY KEY, name text, secret text);
  CREATE TABLE app.orders (id int PRIMARY KEY, customer int REFERENCES app.customers, total numeric);
  CREATE FUNCTION app.total() RETURNS numeric LANGUAGE sql AS 'SELECT sum(total) FROM app.orders';
  RESET ROLE;
  GRANT USAGE ON SCHEMA app TO app_reader, app_writer;
  GRANT SELECT (id, name) ON app.customers TO analyst;
  GRANT EXECUTE ON FUNCTION app.total() TO analyst;
  CREATE SEQUENCE app.invoice_no;
  ALTER SEQUENCE app.invoice_no OWNER TO app_writer;
  ALTER DEFAULT PRIVILEGES FOR ROLE analyst IN SCHEMA reports GRANT SELECT ON TABLES TO app_reader;
  SET ROLE analyst;
  CREATE TABLE reports.daily (day date PRIMARY KEY, orders int);
  GRANT SELECT ON reports.daily TO app_writer WITH GRANT OPTION;
  RESET ROLE;
  INSERT INTO app.customers SELECT g, 'c' || g, 's' FROM generate_series(1, 20) g;
  INSERT INTO app.orders SELECT g, 1 + g % 20, g * 1.5 FROM generate_series(1, 60) g;
  INSERT INTO reports.daily VALUES ('2026-12-01', 60)`;

describe('roles and privileges: copied to a fresh server, with ownership, ACLs and default privileges', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;
  let managed: ThrowawayCluster;
  let fleetTarget: ThrowawayCluster;
  const activities = createActivities(testActivityDeps());

  beforeAll(async () => {
    [source, target, managed, fleetTarget] = await Promise.all([
      startThrowawayCluster(),
      startThrowawayCluster(),
      startThrowawayCluster(),
      startThrowawayCluster(),
    ]);
    await query(source.url(), SERVER_SQL);
    await query(source.url(), `CREATE DATABASE ${DB} OWNER app_owner`);
    await query(source.url(), DATABASE_GRANTS_SQL);
    await query(source.url(DB), DATABASE_SQL);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop(), managed?.stop(), fleetTarget?.stop()]);
  });

  const suite = useTemporalSuite();

  it('migrates a database with --roles copy: roles, memberships, settings, owners, ACLs and default privileges equal; no password copied; a second copy changes nothing', async () => {
    const run = await suite.client.migrate({
      name: 'roles-copy',
      source: source.url(DB),
      target: target.url(DB),
      roles: 'copy',
      autoApprove: true,
      validate: 'counts',
    });
    const result = await run.result();
    expect(result.outcome).toBe('completed');
    expect(result.roles?.created.sort()).toEqual(
      ['admin_group', 'analyst', 'app_owner', 'app_reader', 'app_writer', 'ops'].sort(),
    );
    expect(result.roles?.notGranted).toEqual([]);
    expect(result.roles?.passwords).toEqual([]);
    // The source database stays frozen after the cutover (pgferry's fence, in its settings): not copied.
    const frozen = await serverRoles(source.url(), DB);
    const settings = (frozen.settings as { setconfig: string[] }[]).map((s) => ({
      ...s,
      setconfig: unfenced(s.setconfig),
    }));
    expect(await serverRoles(target.url(), DB)).toEqual({ ...frozen, settings });
    expect(await databasePrivileges(target.url(DB), ['app', 'reports', 'public'])).toEqual(
      await databasePrivileges(source.url(DB), ['app', 'reports', 'public']),
    );
    // Without --role-passwords, no password came over.
    expect(await query(target.url(), `SELECT rolname FROM pg_authid WHERE rolpassword IS NOT NULL`)).toEqual(
      [],
    );
    const again = await runActivity(activities.copyRoles, {
      source: source.url(DB),
      target: target.url(DB),
      database: true,
    });
    expect(again).toMatchObject({ created: [], changed: [], memberships: [], settings: [], notGranted: [] });
  });

  it('copies passwords only when asked, and refuses them (naming rolePasswords) when the source user may not read them', async () => {
    const copied = await runActivity(activities.copyRoles, {
      source: source.url(DB),
      target: target.url(DB),
      passwords: true,
    });
    expect(copied.passwords.sort()).toEqual(['analyst', 'app_owner']);
    const hashes = `SELECT rolname, rolpassword FROM pg_authid WHERE rolpassword IS NOT NULL ORDER BY 1`;
    expect(await query(target.url(), hashes)).toEqual(await query(source.url(), hashes));
    // A role that may log in and read the catalog's views, not pg_authid (pg_read_all_data could).
    await query(source.url(), `CREATE ROLE reader_only LOGIN`);
    try {
      const refused = (await rejectionOf(
        runActivity(activities.copyRoles, {
          // Its own database: roles_db lets only the roles it names connect.
          source: source.url().replace('postgres@', 'reader_only@'),
          target: target.url(DB),
          passwords: true,
        }),
      )) as ApplicationFailure;
      expect(refused.type).toBe(ErrorCode.PermissionDenied);
      expect(refused.message).toContain('rolePasswords');
      // Nothing was changed before the refusal: reader_only is still only the source's.
      expect(await query(target.url(), `SELECT 1 FROM pg_roles WHERE rolname = 'reader_only'`)).toEqual([]);
    } finally {
      await query(source.url(), `DROP ROLE reader_only`);
    }
  });

  it('reports the attributes a non-superuser target user cannot grant, and creates the roles without them', async () => {
    await query(managed.url(), `CREATE ROLE migrator LOGIN CREATEROLE CREATEDB`);
    const report = await runActivity(activities.copyRoles, {
      source: source.url(DB),
      target: managed.url().replace('postgres@', 'migrator@'),
    });
    expect(report.created.sort()).toEqual(
      ['admin_group', 'analyst', 'app_owner', 'app_reader', 'app_writer', 'ops'].sort(),
    );
    expect(report.notGranted.map((n) => `${n.role} ${n.what}`).sort()).toEqual([
      'ops BYPASSRLS',
      'ops REPLICATION',
    ]);
    expect(report.notGranted[0]?.why).toContain('superuser');
    const ops = await query(
      managed.url(),
      `SELECT rolreplication, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = 'ops'`,
    );
    expect(ops).toEqual([{ rolreplication: false, rolbypassrls: false, rolcanlogin: true }]);
    // Everything else is as on the source.
    const { roles, members, settings } = await serverRoles(source.url(), DB);
    const there = await serverRoles(managed.url(), DB);
    expect(there.settings).toEqual((settings as { database: string }[]).filter((s) => s.database === ''));
    // The target user granted itself the roles it created (to act as their owner): its own memberships aside.
    expect(report.memberships.filter((m) => m.startsWith('migrator in ')).length).toBe(6);
    const copied = (there.members as { member: string }[]).filter((m) => m.member !== 'migrator');
    expect((copied as { grantor?: string }[]).map(({ grantor: _, ...m }) => m)).toEqual(
      (members as { grantor?: string }[]).map(({ grantor: _, ...m }) => m),
    );
    expect(
      (there.roles as { rolname: string }[]).filter((r) => r.rolname !== 'migrator' && r.rolname !== 'ops'),
    ).toEqual((roles as { rolname: string }[]).filter((r) => r.rolname !== 'ops'));
  });

  it('copies the roles of a server pair with fleet --roles only, and moves no database', async () => {
    const run = await suite.client.fleet({
      name: 'roles-only',
      sourceServer: source.url(),
      targetServer: fleetTarget.url(),
      roles: 'only',
    });
    const result = await run.result();
    expect(result).toMatchObject({ outcome: 'completed', waves: 0, members: [] });
    expect(result.roles).toHaveLength(1);
    expect(result.roles?.[0]?.created.sort()).toEqual(
      ['admin_group', 'analyst', 'app_owner', 'app_reader', 'app_writer', 'ops'].sort(),
    );
    const [from, to] = await Promise.all([serverRoles(source.url(), DB), serverRoles(fleetTarget.url(), DB)]);
    expect(to.roles).toEqual(from.roles);
    expect(to.members).toEqual(from.members);
    // The database's own settings come with its member, not with the server's roles.
    expect(to.settings).toEqual((from.settings as { database: string }[]).filter((s) => s.database === ''));
    expect(await query(fleetTarget.url(), `SELECT 1 FROM pg_database WHERE datname = $1`, [DB])).toEqual([]);
    const status = await suite.client.fleetStatus('roles-only');
    expect(status.roles?.[0]?.created).toHaveLength(6);
  });
});
