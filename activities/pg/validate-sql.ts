/**
 * The SQL of proving a target equal to its source, table by table: counts and checksums. Backup
 * and restore count rows with the same statement, so that every count pgferry reports means one
 * thing.
 */
import type { TableRef } from '../../domain/tables';
import { quoteIdent, tableSql } from './connect';
import { NO_ROW_SECURITY } from './session-sql';

/**
 * The text of a row depends on these settings, and checksums compare text: they are pinned on
 * both sides. row_security = off makes a role subject to row-level security fail loudly instead
 * of counting only the rows its policies show (superusers and BYPASSRLS roles read everything
 * either way). search_path = pg_catalog makes reg* values print schema-qualified the same way on
 * both sides. statement_timeout = 0: a checksum of a large table runs as long as its scan.
 */
export const VALIDATION_SETTINGS: readonly string[] = [
  NO_ROW_SECURITY,
  "SET LOCAL search_path = 'pg_catalog'",
  "SET LOCAL TimeZone = 'UTC'",
  "SET LOCAL DateStyle = 'ISO, YMD'",
  "SET LOCAL IntervalStyle = 'postgres'",
  'SET LOCAL extra_float_digits = 1',
  "SET LOCAL bytea_output = 'hex'",
  "SET LOCAL lc_monetary = 'C'",
  'SET LOCAL statement_timeout = 0',
];

/**
 * A table's live columns by name, and the share of its pages the visibility map marked all-visible
 * at the last VACUUM or ANALYZE (0 when never); no row when the table does not exist (relkinds that
 * hold rows). $1 schema, $2 table.
 */
export const TABLE_COLUMNS = `
  SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attname IS NOT NULL), '{}') AS columns,
         CASE WHEN c.relpages > 0 THEN least(1, c.relallvisible::float8 / c.relpages) ELSE 0 END AS all_visible
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
   WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'm', 'f')
   GROUP BY c.oid`;

/**
 * A count may read an index instead of the table when this share of the table's pages is
 * all-visible: an index-only scan of the primary key reads a fraction of the heap's bytes (a loaded
 * table is all-visible, COPY FREEZE marks it so), and looks into the heap only for pages written
 * since. The planner's costs do not see that a count needs no column, so it is told.
 */
export const INDEX_COUNT_ALL_VISIBLE = 0.8;
export const PREFER_INDEX_SCAN = 'SET LOCAL enable_seqscan = off';
export const ALLOW_SEQ_SCAN = 'SET LOCAL enable_seqscan = on';

/**
 * Every relation that holds rows, by schema and name, with the share of its pages marked
 * all-visible (as TABLE_COLUMNS): what a count of many tables decides its scans by, in one query.
 */
export const TABLES_ALL_VISIBLE = `
  SELECT n.nspname AS schema, c.relname AS table,
         CASE WHEN c.relpages > 0 THEN least(1, c.relallvisible::float8 / c.relpages) ELSE 0 END AS all_visible
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'm', 'f')`;

/**
 * Tables counted per statement: one round trip for many small tables (the online cutover counts
 * every table on both sides while the source is frozen: a round trip per table made thousands of
 * small tables cost seconds), while a statement stays quick to plan.
 */
export const COUNT_BATCH = 100;

/** Several tables' own rows in one statement (countRowsSql each), each row with its index in `tables` (`i`). */
export function countRowsBatchSql(tables: readonly TableRef[]): string {
  return tables.map((t, i) => `SELECT ${i} AS i, c.n FROM (${countRowsSql(t)}) AS c`).join('\nUNION ALL ');
}

/**
 * A table's own rows (ONLY: an inheritance parent's children are tables of their own), as `n`;
 * with `where`, only the rows of a key range (rangePredicate, on the alias `t`).
 */
export function countRowsSql(table: TableRef, where?: string): string {
  return `SELECT count(*) AS n FROM ONLY ${tableSql(table)} AS t${where ? ` WHERE ${where}` : ''}`;
}

/**
 * The rows of a key range, on the alias `t`: `column >= $1` from `lo` (when given) and
 * `column < $n` up to `hi` (when given); the bounds travel as parameters, typed by the column.
 */
export function rangePredicate(
  column: string,
  lo: string | undefined,
  hi: string | undefined,
): { where: string | undefined; params: string[] } {
  const parts: string[] = [];
  const params: string[] = [];
  if (lo !== undefined) parts.push(`t.${quoteIdent(column)} >= $${params.push(lo)}`);
  if (hi !== undefined) parts.push(`t.${quoteIdent(column)} < $${params.push(hi)}`);
  return { where: parts.length > 0 ? parts.join(' AND ') : undefined, params };
}

/**
 * A table's row count `n` and the two sums `hi` and `lo` of its order-independent checksum, over
 * `columns` (sorted by the caller). Each row becomes the text of ROW(col, …) — by name, not the
 * physical order, so dropped columns or columns created in another order on the target do not
 * matter — and md5 of that text is split into two 64-bit integers that are summed (as numeric,
 * so nothing overflows). sum() is an aggregate with constant state: the server reads the table
 * once and never builds a string or a sort of the whole table, as `md5(string_agg(… ORDER BY …))`
 * would for a 10 GB table. A sum, unlike xor, also tells two copies of a row from none (tables
 * without a key can hold duplicates).
 */
export function tableChecksumSql(table: TableRef, columns: readonly string[], where?: string): string {
  const row = `ROW(${columns.map((c) => `t.${quoteIdent(c)}`).join(', ')})`;
  return `
    SELECT count(*) AS n,
           coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint), 0)::text AS hi,
           coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint), 0)::text AS lo
      FROM (SELECT md5(${row}::text) AS h FROM ONLY ${tableSql(table)} AS t${where ? ` WHERE ${where}` : ''}) AS r`;
}
