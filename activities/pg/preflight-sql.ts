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
         -- The session's default: the database's and the role's settings included.
         current_setting('default_transaction_read_only') = 'on' AS read_only,
         pg_is_in_recovery() AS in_recovery,
         -- A write fence of pgferry's saves the setting it replaced under this placeholder.
         EXISTS (SELECT 1 FROM pg_db_role_setting s
                  WHERE s.setdatabase IN (0, d.oid)
                    AND s.setconfig::text LIKE '%pgferry.saved_default_transaction_read_only=%') AS fenced,
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

/**
 * The roles a database's objects are owned by, and those whose default privileges it holds: a
 * restore gives objects to them (ALTER … OWNER TO) and alters their defaults (… FOR ROLE).
 */
const OWNER_COLUMNS = [
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
  'SELECT defaclrole FROM pg_default_acl',
];

/** Where a database's objects name roles besides ACLs: owners, and the roles of mappings, defaults and policies. */
const ROLE_COLUMNS = [
  ...OWNER_COLUMNS,
  // The view, not the catalog: pg_user_mapping (it holds passwords) is for superusers only.
  'SELECT umuser FROM pg_user_mappings',
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

/** The roles that own the source database's objects or hold its default privileges (predefined roles aside). */
export const SOURCE_OWNERS = `
  SELECT DISTINCT r.rolname AS name, r.rolsuper AS superuser
    FROM (${OWNER_COLUMNS.join('\n    UNION ')}) AS owned(oid)
    JOIN pg_roles r ON r.oid = owned.oid
   WHERE r.rolname !~ '^pg_'
   ORDER BY 1`;

/**
 * Objects owned by a role without CREATE on their schema (not its owner): a state only a superuser
 * can make (ALTER … OWNER TO checks the new owner's CREATE for everyone else), so a restore by a
 * user who is not superuser cannot make it again.
 */
export const OWNED_WITHOUT_CREATE = `
  SELECT format('%s %I.%I (owner %I)', o.kind, n.nspname, o.name, pg_get_userbyid(o.owner)) AS name,
         format('GRANT CREATE ON SCHEMA %I TO %I', n.nspname, pg_get_userbyid(o.owner)) AS fix
    FROM (SELECT 'relation' AS kind, c.relname AS name, c.relnamespace AS nsp, c.relowner AS owner,
                 c.oid, 'pg_class'::regclass AS catalog
            FROM pg_class c WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
          UNION ALL
          SELECT 'function', p.proname, p.pronamespace, p.proowner, p.oid, 'pg_proc'::regclass FROM pg_proc p
          UNION ALL
          SELECT 'type', t.typname, t.typnamespace, t.typowner, t.oid, 'pg_type'::regclass
            FROM pg_type t WHERE t.typtype IN ('d', 'e', 'r')) o
    JOIN pg_namespace n ON n.oid = o.nsp
   WHERE ${userSchema('n')} AND o.owner <> n.nspowner
     AND NOT has_schema_privilege(o.owner, n.oid, 'CREATE')
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.catalog AND d.objid = o.oid AND d.deptype = 'e')
   ORDER BY 1`;

/**
 * What a source user who is not superuser may do: own the database through a membership (a freeze
 * sets its default_transaction_read_only), end other sessions (pg_signal_backend). pg_read_all_data
 * exists since PostgreSQL 14 (to_regrole is NULL before).
 */
export const SOURCE_USER_RIGHTS = `
  SELECT pg_get_userbyid(d.datdba) AS database_owner,
         pg_has_role(current_user, d.datdba, 'USAGE') AS owns_database,
         pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS signal_backend,
         to_regrole('pg_read_all_data') IS NOT NULL AS read_all_role
    FROM pg_database d WHERE d.datname = current_database()`;

/** The source's tables and sequences the user may not read (no USAGE on the schema, or no SELECT). */
export const UNREADABLE_RELATIONS = `
  SELECT format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'S', 'm') AND ${userSchema('n')}
     AND ${notExtensionMember('pg_class', 'c.oid')}
     AND NOT (has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT'))
   ORDER BY 1`;

/**
 * What a target user who is not superuser may do, server-wide ($1: the target database, which may
 * not exist): CREATEDB, CREATEROLE, CREATE in the database, SET session_replication_role (GRANT SET
 * ON PARAMETER since 15, superusers only before) and create subscriptions (pg_create_subscription
 * since 16, superusers only before).
 */
export function targetUserRightsSql(major: number): string {
  const replicaRole =
    major >= 15 ? `has_parameter_privilege('session_replication_role', 'SET')` : 'r.rolsuper';
  const subscribe =
    major >= 16 ? `pg_has_role(current_user, 'pg_create_subscription', 'USAGE')` : 'r.rolsuper';
  return `
  SELECT current_user AS name, r.rolsuper AS superuser, r.rolcreatedb AS createdb,
         r.rolcreaterole AS createrole, ${replicaRole} AS replica_role, ${subscribe} AS subscribe,
         (SELECT has_database_privilege(d.oid, 'CREATE') FROM pg_database d WHERE d.datname = $1) AS create_in_database
    FROM pg_roles r WHERE r.rolname = current_user`;
}

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
