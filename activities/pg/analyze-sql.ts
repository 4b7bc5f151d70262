/**
 * Planner statistics on the target. A freshly loaded database has none, and the applications
 * switched onto it would get poor plans until autovacuum catches up.
 */
import type { TableRef } from '../../domain/tables';
import { tableSql } from './connect';

/** Every relation of the database, when no table was analyzed during the copy. */
export const ANALYZE_DATABASE = 'ANALYZE';

/**
 * The user's tables, partitioned tables and materialized views (not the system catalogs, which
 * the load did not fill, nor the copy's ledger, dropped at the end). $1 the ledger's schema.
 */
export const ANALYZABLE = `
  SELECT n.nspname AS schema, c.relname AS table
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'm') AND c.relpersistence <> 't'
     AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1)
   ORDER BY 1, 2`;

/** Some tables, in one statement. */
export function analyzeTablesSql(tables: readonly TableRef[]): string {
  return `ANALYZE ${tables.map(tableSql).join(', ')}`;
}
