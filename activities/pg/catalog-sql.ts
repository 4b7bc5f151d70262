import { quoteLiteral } from './connect';
import { LEDGER_SCHEMA } from './ledger-sql';

/**
 * What pgferry asks of a database's catalog about the database itself: the server's version, the
 * tables whose rows a dump carries, and whether anything a user made is there at all.
 */

/** The server's version, as text (`15.20`) and as a number (`150020`, for comparing majors). */
export const SERVER_VERSION =
  "SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n";

/**
 * Tables whose rows a dump carries: ordinary tables (partitions included, partitioned parents
 * excluded since they hold no rows of their own) outside system schemas and pgferry's own schema
 * (its ledger, its capture of schema changes) and not owned by an extension (pg_dump skips
 * extension members' data).
 */
export const LIST_TABLES = `
  SELECT n.nspname AS schema, c.relname AS table
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'r'
     AND n.nspname NOT IN ('pg_catalog', 'information_schema', ${quoteLiteral(LEDGER_SCHEMA)})
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
     AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
   ORDER BY 1, 2`;

/**
 * How many things a user made the database holds: tables, sequences, views, functions or types
 * outside the system schemas, schemas but public, extensions but plpgsql, large objects. Zero is
 * an empty database, one pgferry may restore or copy into.
 */
export const USER_OBJECTS = `
  SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%')
       + (SELECT count(*) FROM pg_namespace
           WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public')
             AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%')
       + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')
       + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
       + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg\\_toast%' AND t.typrelid = 0 AND t.typelem = 0)
       + (SELECT count(*) FROM pg_largeobject_metadata) AS n`;
