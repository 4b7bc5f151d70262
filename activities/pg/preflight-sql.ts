/**
 * The SQL of preflight, by the question it answers. Every statement only reads catalogs and views,
 * and runs inside a READ ONLY transaction: preflight must never change either server. Statements
 * that the target runs must work on every major from the source's up (the target may be newer), so
 * they only use catalog columns that every supported major has.
 */
import { QUIET_SETTINGS } from './replication-sql';
import { notExtensionMember, userSchema } from './user-objects-sql';

/** Every preflight read runs in a transaction that cannot change the server, even by mistake. */
export const PREFLIGHT_BEGIN = 'BEGIN TRANSACTION READ ONLY';

/** Short timeouts: a lock or a stuck server becomes an error instead of a preflight that never answers. */
export const PREFLIGHT_LIMITS: readonly string[] = [
  "SET LOCAL statement_timeout = '30s'",
  "SET LOCAL lock_timeout = '5s'",
];

/** Which facts of the server and the session the checks need, in one round trip on the source. */
export const SOURCE_FACTS = `
  SELECT current_setting('server_version') AS version,
         current_setting('server_version_num')::int AS version_num,
         current_setting('wal_level') AS wal_level,
         current_setting('max_replication_slots')::int AS max_slots,
         -- Every slot counts, active or not, logical or physical: each holds one of max_replication_slots.
         (SELECT count(*) FROM pg_replication_slots)::int AS used_slots,
         current_setting('max_wal_senders')::int AS max_senders,
         -- In MB, -1 for unbounded: how much WAL a slot may hold back before the server gives it up.
         (SELECT setting::int FROM pg_settings WHERE name = 'max_slot_wal_keep_size') AS max_slot_wal_keep_mb,
         -- backend_type is visible for every session, even to users who may not see the others' queries.
         (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender')::int AS used_senders,
         r.rolsuper AS superuser,
         r.rolreplication AS replication,
         current_database() AS database,
         pg_encoding_to_char(d.encoding) AS encoding,
         -- The pair (system identifier, postmaster start) names one running server whatever host name
         -- reached it; managed services may revoke pg_control_system, so ask for it only when allowed.
         CASE WHEN has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE')
              THEN (SELECT system_identifier::text FROM pg_control_system()) END AS system_id,
         pg_postmaster_start_time()::text AS started_at,
         (SELECT count(*) FROM pg_largeobject_metadata)::bigint AS large_objects
    FROM pg_roles r, pg_database d
   WHERE r.rolname = current_user AND d.datname = current_database()`;

/**
 * Tables whose updates and deletes logical replication cannot carry: no replica identity at all
 * (REPLICA IDENTITY NOTHING), the default identity without a primary key, or USING INDEX whose index
 * is gone. Leaf tables only (partitions included, partitioned parents hold no rows); unlogged and
 * temporary tables are not replicated at all and are reported by their own check.
 */
export const TABLES_WITHOUT_REPLICA_IDENTITY = `
  SELECT format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'r' AND c.relpersistence = 'p'
     AND ${userSchema('n')} AND ${notExtensionMember('pg_class', 'c.oid')}
     AND (c.relreplident = 'n'
          OR (c.relreplident = 'd'
              AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))
          OR (c.relreplident = 'i'
              AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)))
   ORDER BY n.nspname, c.relname`;

/** Unlogged tables: they write no WAL, so logical replication never sees their changes. */
export const UNLOGGED_TABLES = `
  SELECT format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'u'
     AND ${userSchema('n')} AND ${notExtensionMember('pg_class', 'c.oid')}
   ORDER BY n.nspname, c.relname`;

/** The extensions of the source database: pg_dump emits CREATE EXTENSION, which needs the target's files. */
export const SOURCE_EXTENSIONS = `SELECT extname AS name FROM pg_extension ORDER BY extname`;

/**
 * The collations the source's columns, indexes and domains name explicitly. The database default
 * (oid 100) is left out: its locale is the target database's own, chosen when it is created.
 * Collations in pg_catalog must exist on the target by name (the schema restore does not create
 * them); user collations are created by the restore, so what must exist is their provider and
 * locale (the ICU locale column is not read: it moved between majors, and ICU takes any locale).
 */
export const SOURCE_COLLATIONS = `
  WITH used(oid) AS (
    SELECT a.attcollation
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE a.attnum > 0 AND NOT a.attisdropped AND ${userSchema('n')}
    UNION
    SELECT unnest(i.indcollation::oid[])
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ${userSchema('n')}
    UNION
    SELECT t.typcollation
      FROM pg_type t
      JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE ${userSchema('n')}
    UNION
    SELECT co.oid
      FROM pg_collation co
      JOIN pg_namespace n ON n.oid = co.collnamespace
     WHERE ${userSchema('n')}
  )
  SELECT format('%I.%I', n.nspname, co.collname) AS key,
         n.nspname AS schema, co.collname AS name, co.collprovider::text AS provider,
         co.collcollate AS "collate", co.collctype AS ctype,
         n.nspname = 'pg_catalog' AS system
    FROM used
    JOIN pg_collation co ON co.oid = used.oid
    JOIN pg_namespace n ON n.oid = co.collnamespace
   WHERE used.oid NOT IN (0, 100)
   ORDER BY 1, 2`;

/**
 * Of the given collations, those the target has. A collation from pg_catalog is found by name. A
 * user collation (restored with CREATE COLLATION) needs its locale on the target: libc locales are
 * known from pg_collation (initdb imports the host's locales; spellings like UTF-8 and utf8 are
 * the same locale); ICU accepts any locale tag, so any ICU collation proves the provider is built
 * in; C and POSIX exist everywhere.
 */
export const TARGET_COLLATIONS_FOUND = `
  SELECT u.key AS name
    FROM jsonb_to_recordset($1::jsonb)
         AS u(key text, schema text, name text, provider text, "collate" text, ctype text, system boolean)
   WHERE (u.system AND EXISTS (
            SELECT 1 FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
             WHERE n.nspname = u.schema AND co.collname = u.name))
      OR (NOT u.system AND u.provider = 'c' AND u."collate" IN ('C', 'POSIX') AND u.ctype IN ('C', 'POSIX'))
      OR (NOT u.system AND u.provider = 'c' AND EXISTS (
            SELECT 1 FROM pg_collation co
             WHERE co.collprovider = 'c'
               AND lower(replace(co.collcollate, '-', '')) = lower(replace(u."collate", '-', ''))
               AND lower(replace(co.collctype, '-', '')) = lower(replace(u.ctype, '-', ''))))
      OR (NOT u.system AND u.provider <> 'c' AND EXISTS (
            SELECT 1 FROM pg_collation co WHERE co.collprovider::text = u.provider))`;

/**
 * `column` of the rows of a catalog whose objects live in schemas (`prefix`: the catalog's column
 * prefix, as in relnamespace), in the user's schemas; extension members left out unless `withMembers`.
 */
function inUserSchemas(column: string, catalog: string, prefix: string, withMembers = false): string {
  const notMember = withMembers ? '' : ` AND ${notExtensionMember(catalog, 'o.oid')}`;
  return `SELECT o.${column} FROM ${catalog} o JOIN pg_namespace n ON n.oid = o.${prefix}namespace
           WHERE ${userSchema('n')}${notMember}`;
}

/** `column` of every row of a catalog of objects outside schemas that are not extension members. */
function notMembers(column: string, catalog: string): string {
  return `SELECT o.${column} FROM ${catalog} o WHERE ${notExtensionMember(catalog, 'o.oid')}`;
}

/** The ACLs a database's objects carry: each names grantors and grantees. */
const ACL_COLUMNS = [
  inUserSchemas('relacl', 'pg_class', 'rel', true),
  `SELECT a.attacl FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.attacl IS NOT NULL AND ${userSchema('n')}`,
  `SELECT nspacl FROM pg_namespace n WHERE ${userSchema('n')}`,
  inUserSchemas('proacl', 'pg_proc', 'pro', true),
  inUserSchemas('typacl', 'pg_type', 'typ', true),
  'SELECT lomacl FROM pg_largeobject_metadata',
  'SELECT lanacl FROM pg_language',
  'SELECT fdwacl FROM pg_foreign_data_wrapper',
  'SELECT srvacl FROM pg_foreign_server',
  'SELECT defaclacl FROM pg_default_acl',
];

/** Where a database's objects name roles besides ACLs: owners, and the roles of mappings, defaults and policies. */
const ROLE_COLUMNS = [
  `SELECT nspowner FROM pg_namespace n
    WHERE ${userSchema('n')} AND ${notExtensionMember('pg_namespace', 'n.oid')}`,
  ...(
    [
      ['pg_class', 'rel'],
      ['pg_proc', 'pro'],
      ['pg_type', 'typ'],
      ['pg_collation', 'coll'],
      ['pg_conversion', 'con'],
      ['pg_operator', 'opr'],
      ['pg_opclass', 'opc'],
      ['pg_opfamily', 'opf'],
      ['pg_ts_dict', 'dict'],
      ['pg_ts_config', 'cfg'],
    ] as const
  ).map(([catalog, prefix]) => inUserSchemas(`${prefix}owner`, catalog, prefix)),
  inUserSchemas('stxowner', 'pg_statistic_ext', 'stx', true),
  'SELECT lomowner FROM pg_largeobject_metadata',
  notMembers('fdwowner', 'pg_foreign_data_wrapper'),
  notMembers('srvowner', 'pg_foreign_server'),
  notMembers('evtowner', 'pg_event_trigger'),
  'SELECT pubowner FROM pg_publication',
  // The view, not the catalog: pg_user_mapping (it holds passwords) is for superusers only.
  'SELECT umuser FROM pg_user_mappings',
  'SELECT defaclrole FROM pg_default_acl',
  'SELECT unnest(polroles) FROM pg_policy',
];

/**
 * Every role the source database names: owners of its objects (extension members excluded), the
 * grantors and grantees of every ACL, the roles of policies, user mappings and default privileges.
 * pg_dump writes OWNER TO, GRANT and CREATE POLICY … TO with these names, so the restore fails (or
 * silently drops privileges) where they are missing. Grantee 0 is PUBLIC. The database's own owner,
 * ACL and role settings are left out: pgferry provisions the target database itself, and pg_dump
 * without --create does not carry them.
 */
export const SOURCE_ROLES = `
  WITH acls(acl) AS (
    ${ACL_COLUMNS.join('\n    UNION ALL ')}
  ),
  named(oid) AS (
    SELECT (aclexplode(acl)).grantee FROM acls WHERE acl IS NOT NULL
    UNION SELECT (aclexplode(acl)).grantor FROM acls WHERE acl IS NOT NULL
    UNION ${ROLE_COLUMNS.join('\n    UNION ')}
  )
  SELECT DISTINCT r.rolname AS name
    FROM named JOIN pg_roles r ON r.oid = named.oid
   ORDER BY 1`;

/**
 * Transactions open longer than $1 minutes. Client sessions, and any other backend that holds a
 * transaction id (a logical slot waits for every running transaction id to end). Our own session
 * is left out. Users without pg_read_all_stats see only their own sessions' timings.
 */
export const LONG_TRANSACTIONS = `
  SELECT pid, usename AS "user", datname AS database,
         floor(extract(epoch FROM now() - xact_start) / 60)::int AS minutes
    FROM pg_stat_activity
   WHERE xact_start < now() - make_interval(mins => $1::int)
     AND pid <> pg_backend_pid()
     AND (backend_type = 'client backend' OR backend_xid IS NOT NULL)
   ORDER BY xact_start`;

/** Prepared transactions of the whole server: a logical slot cannot be created while any is open. */
export const PREPARED_TRANSACTIONS = `
  SELECT gid, database, owner AS "user" FROM pg_prepared_xacts ORDER BY prepared`;

/**
 * What the target server says about itself and about the target database, asked from another
 * database of that server (the target database may not exist yet). `template1`'s encoding is the
 * one a plain CREATE DATABASE gives the target when pgferry provisions it.
 */
export const TARGET_SERVER_FACTS = `
  SELECT current_setting('server_version') AS version,
         current_setting('server_version_num')::int AS version_num,
         CASE WHEN has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE')
              THEN (SELECT system_identifier::text FROM pg_control_system()) END AS system_id,
         pg_postmaster_start_time()::text AS started_at,
         (SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'template1') AS template_encoding,
         d.datname IS NOT NULL AS database_exists,
         pg_encoding_to_char(d.encoding) AS database_encoding,
         shobj_description(d.oid, 'pg_database') AS database_comment
    FROM (SELECT 1) AS one
    LEFT JOIN pg_database d ON d.datname = $1`;

/** Of the given role names, those the target server has (roles belong to the cluster). */
export const TARGET_ROLES_FOUND = `SELECT rolname AS name FROM pg_roles WHERE rolname = ANY($1::text[])`;

/** Of the given extension names, those the target server could CREATE (its control files exist). */
export const TARGET_EXTENSIONS_AVAILABLE = `
  SELECT name FROM pg_available_extensions WHERE name = ANY($1::text[])`;

/**
 * The settings that could keep the subscription's CREATE statement (it carries the source's
 * password) on the target, as the target user's session sees them, and whether that user may SET
 * each for its session (what createSubscription does). pg_stat_statements' settings are real
 * (vartype bool/enum) only where the module is preloaded, placeholders (string) otherwise; that is
 * how a user who may not read shared_preload_libraries learns that it is loaded.
 * has_parameter_privilege (PostgreSQL 15+) knows GRANT SET ON PARAMETER; older majors let only
 * superusers set these.
 */
export function targetPasswordKeepersSql(major: number): string {
  const maySet =
    major >= 15
      ? `has_parameter_privilege(s.name, 'SET')`
      : '(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)';
  return `
  SELECT s.name, s.setting, s.vartype, (s.context = 'user' OR ${maySet}) AS may_set
    FROM pg_settings s
   WHERE s.name = ANY($1::text[])`;
}

/** The settings targetPasswordKeepersSql asks about: what the subscribing session turns off, and pg_stat_statements.track. */
export const PASSWORD_KEEPER_NAMES: readonly string[] = [
  ...QUIET_SETTINGS.map(([name]) => name),
  'pg_stat_statements.track',
];
