import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetStatus } from '../client/fleet';
import { unfenced } from '../activities/roles';
import { ErrorCode } from '../domain/errors';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { runPgferry } from './helpers/processes';
import { databasePrivileges, serverRoles } from './helpers/role-catalog';
import { useTemporalSuite } from './helpers/suite';
import { waitFor } from './helpers/wait';

/** The databases of the source server: twenty, `fs_01` … `fs_20`, made from one template. */
const DATABASES = Array.from({ length: 20 }, (_, i) => `fs_${String(i + 1).padStart(2, '0')}`);
/** With waves of five in the server's (name) order, this one is in wave 2. */
const FAILING = 'fs_08';
const SCHEMAS = ['app', 'reports', 'public'];

/**
 * Six roles: a role-level setting (analyst), memberships (one WITH ADMIN OPTION, one of a
 * predefined role), a NOINHERIT role, a role with CREATEROLE.
 */
const ROLES_SQL = `
  CREATE ROLE app_owner LOGIN CREATEDB;
  CREATE ROLE app_writer NOLOGIN;
  CREATE ROLE app_reader NOLOGIN NOINHERIT;
  CREATE ROLE analyst LOGIN;
  CREATE ROLE ops LOGIN;
  CREATE ROLE admin_group NOLOGIN CREATEROLE;
  GRANT app_reader TO app_writer WITH ADMIN OPTION;
  GRANT app_reader TO analyst;
  GRANT app_writer TO ops;
  GRANT admin_group TO app_owner;
  GRANT pg_read_all_stats TO ops;
  ALTER ROLE analyst SET work_mem = '32MB'`;

/**
 * The template's objects, owned by three roles, with table, column, function and large-object
 * grants and default privileges of two roles; the rows come per database afterwards.
 */
const TEMPLATE_SQL = `
  CREATE SCHEMA app AUTHORIZATION app_owner;
  CREATE SCHEMA reports AUTHORIZATION analyst;
  SET ROLE app_owner;
  ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO app_reader;
  ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT INSERT, UPDATE ON TABLES TO app_writer;
  CREATE TABLE app.customers (id serial PRIMARY KEY, name text NOT NULL, secret text);
  CREATE TABLE app.orders (id bigserial PRIMARY KEY, customer int REFERENCES app.customers, total numeric(10,2));
  CREATE INDEX ON app.orders (customer);
  CREATE FUNCTION app.total() RETURNS numeric LANGUAGE sql AS 'SELECT sum(total) FROM app.orders';
  RESET ROLE;
  GRANT USAGE ON SCHEMA app TO app_reader, app_writer;
  GRANT SELECT (id, name) ON app.customers TO analyst;
  GRANT EXECUTE ON FUNCTION app.total() TO analyst;
  CREATE SEQUENCE app.invoice_no START 1000 OWNED BY NONE;
  ALTER SEQUENCE app.invoice_no OWNER TO app_writer;
  ALTER DEFAULT PRIVILEGES FOR ROLE analyst IN SCHEMA reports GRANT SELECT ON TABLES TO app_reader;
  SET ROLE analyst;
  CREATE TABLE reports.daily (day date PRIMARY KEY, orders int);
  RESET ROLE;
  SELECT lo_from_bytea(424242, convert_to(repeat('large object ', 500), 'UTF8'));
  ALTER LARGE OBJECT 424242 OWNER TO app_owner;
  GRANT SELECT ON LARGE OBJECT 424242 TO analyst`;

/** Each database's own rows: a different count per database, sequences moved on. */
function rowsSql(i: number): string {
  const n = 40 + 7 * i;
  return `INSERT INTO app.customers (name, secret) SELECT 'c' || g, md5(g::text) FROM generate_series(1, ${n}) g;
    INSERT INTO app.orders (customer, total) SELECT 1 + g % ${n}, g * 1.25 FROM generate_series(1, ${n * 3}) g;
    INSERT INTO reports.daily SELECT DATE '2026-01-01' + g, g FROM generate_series(1, ${i + 1}) g;
    SELECT nextval('app.invoice_no') FROM generate_series(1, ${i + 3})`;
}

describe('pgferry fleet --all: a server of twenty databases and six roles into a fresh server', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;

  beforeAll(async () => {
    [source, target] = await Promise.all([startThrowawayCluster(), startThrowawayCluster()]);
    await query(source.url(), ROLES_SQL);
    await query(source.url(), 'CREATE DATABASE fs_template OWNER app_owner');
    await query(source.url('fs_template'), TEMPLATE_SQL);
    // A template: --all leaves it out (and 'postgres').
    await query(source.url(), 'ALTER DATABASE fs_template IS_TEMPLATE true');
    for (const [i, db] of DATABASES.entries()) {
      await query(source.url(), `CREATE DATABASE ${db} TEMPLATE fs_template OWNER app_owner`);
      await query(source.url(), `GRANT CONNECT ON DATABASE ${db} TO app_reader`);
      await query(source.url(db), rowsSql(i));
    }
    // The member that fails: its target already holds another application's table (preflight refuses it).
    await query(target.url(), `CREATE DATABASE ${FAILING}`);
    await query(target.url(FAILING), 'CREATE TABLE public.other_app (id int)');
  }, 300_000);

  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  const suite = useTemporalSuite();

  const fleetStatus = (what: string, test: (s: FleetStatus) => boolean) =>
    waitFor(
      `fleet fs: ${what}`,
      async () => {
        const status = await suite.client.fleetStatus('fs');
        return test(status) ? status : undefined;
      },
      420_000,
      500,
    );

  it('halts wave 2 on its failed member within the budget, completes on retry, and leaves every database, role, membership, ACL and default privilege equal', async () => {
    const started = await runPgferry(
      [
        'fleet',
        '--name',
        'fs',
        '--source-server',
        source.url(),
        '--target-server',
        target.url(),
        '--all',
        '--wave-size',
        '5',
        '--concurrency',
        '4',
        '--failure-budget',
        '0',
        '--approve',
        'auto',
        '--json',
      ],
      suite.env,
    );
    expect(started.code, started.stderr).toBe(0);

    const halted = await fleetStatus('halted at wave 2', (s) => s.awaiting?.kind === 'decision');
    expect(halted.awaiting).toEqual({ kind: 'decision', wave: 2, failed: [FAILING] });
    const state = Object.fromEntries(halted.members.map((m) => [m.database, m.member]));
    // --all: the twenty, not the template nor postgres. Wave 1 completed; wave 2 halts on its failure
    // (the members it had started end, it starts no more); nothing of waves 3 and 4 started.
    expect(Object.keys(state).sort()).toEqual(DATABASES);
    for (const db of DATABASES.slice(0, 5)) expect(state[db], db).toBe('completed');
    expect(state[FAILING]).toBe('failed');
    for (const db of DATABASES.slice(5, 10).filter((d) => d !== FAILING))
      expect(['completed', 'pending'], db).toContain(state[db]);
    for (const db of DATABASES.slice(10)) expect(state[db], db).toBe('pending');
    expect(halted.members.find((m) => m.database === FAILING)?.error?.code).toBe(ErrorCode.PreflightFailed);

    await query(target.url(), `DROP DATABASE ${FAILING}`);
    const retried = await runPgferry(
      ['fleet', 'retry', 'fs', '--member', FAILING, '--as', 'carol'],
      suite.env,
    );
    expect(retried.code, retried.stderr).toBe(0);
    const done = await fleetStatus('completed', (s) => s.state !== 'running' && s.state !== 'waiting');
    expect(done.state).toBe('completed');
    expect(done.members.every((m) => m.member === 'completed')).toBe(true);

    // Roles: created once for the server pair, with memberships and the role-level setting.
    expect(done.roles?.[0]?.created.sort()).toEqual(
      ['admin_group', 'analyst', 'app_owner', 'app_reader', 'app_writer', 'ops'].sort(),
    );
    const [from, to] = await Promise.all([
      serverRoles(source.url(), DATABASES),
      serverRoles(target.url(), DATABASES),
    ]);
    // The moved databases stay frozen on the source (pgferry's fence, in their settings): not copied.
    const settings = (from.settings as { setconfig: string[] }[])
      .map((s) => ({ ...s, setconfig: unfenced(s.setconfig) }))
      .filter((s) => s.setconfig.length > 0);
    expect(to).toEqual({ ...from, settings });
    for (const db of DATABASES) {
      const [a, b] = await Promise.all([
        databaseFingerprint(source.url(db)),
        databaseFingerprint(target.url(db)),
      ]);
      expect(diffFingerprints(a, b), db).toEqual([]);
      expect(await databasePrivileges(target.url(db), SCHEMAS), db).toEqual(
        await databasePrivileges(source.url(db), SCHEMAS),
      );
    }
    // The large object and the sequences came over with their values (the fingerprint compares them too).
    expect(
      await query(
        target.url('fs_20'),
        `SELECT length(lo_get(424242)) AS n, (SELECT last_value FROM app.invoice_no)::int AS seq`,
      ),
    ).toEqual([{ n: 6500, seq: 1021 }]);
  }, 900_000);
});
