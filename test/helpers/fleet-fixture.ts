import { query, type ThrowawayCluster } from './pg';

/** The databases of the fleet's source server: twenty, `fs_01` … `fs_20`, made from one template. */
export const FLEET_DATABASES = Array.from({ length: 20 }, (_, i) => `fs_${String(i + 1).padStart(2, '0')}`);

/** The schemas whose owners and privileges the fleet's databases hold. */
export const FLEET_SCHEMAS = ['app', 'reports', 'public'];

/** The roles the fleet's source server has (pgferry copies them). */
export const FLEET_ROLES = ['admin_group', 'analyst', 'app_owner', 'app_reader', 'app_writer', 'ops'];

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

/**
 * Makes the fleet's source server: its six roles, then its twenty databases from one template
 * (left as a template: `--all` leaves it out, and 'postgres'), each with its own rows, a CONNECT
 * grant and the template's large object. The last one holds 6,500 bytes of large object and
 * invoice_no at 1021.
 */
export async function createFleetSource(source: ThrowawayCluster): Promise<void> {
  await query(source.url(), ROLES_SQL);
  await query(source.url(), 'CREATE DATABASE fs_template OWNER app_owner');
  await query(source.url('fs_template'), TEMPLATE_SQL);
  await query(source.url(), 'ALTER DATABASE fs_template IS_TEMPLATE true');
  for (const [i, db] of FLEET_DATABASES.entries()) {
    await query(source.url(), `CREATE DATABASE ${db} TEMPLATE fs_template OWNER app_owner`);
    await query(source.url(), `GRANT CONNECT ON DATABASE ${db} TO app_reader`);
    await query(source.url(db), rowsSql(i));
  }
}
