import type { TableRef } from '../../domain/tables';
import { quoteIdent, tableSql } from './connect';

/** The compression method a column's new values get: its own, or the session's default. */
const METHOD = `CASE a.attcompression WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4'
                  ELSE current_setting('default_toast_compression') END`;

/**
 * Source side (PostgreSQL 14+): the columns of a table worth checking, with the compression method
 * their values were stored under. Only variable-length columns of storage EXTENDED (compress, then
 * move out of line), of a table whose TOAST holds at least $4 bytes and at least as much as the
 * table itself, so the check (a scan of the table) costs less than what it can save.
 * $1 schema, $2 table, $3 the columns copied, $4 AS_IS_MIN_TOAST_BYTES.
 */
export const SOURCE_TOASTED_COLUMNS = `
  SELECT a.attname AS column, ${METHOD} AS method
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid
   WHERE n.nspname = $1 AND c.relname = $2
     AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY ($3::text[])
     AND a.attlen = -1 AND a.attstorage = 'x'
     AND c.reltoastrelid <> 0
     AND pg_relation_size(c.reltoastrelid) >= greatest($4::bigint, pg_relation_size(c.oid))
   ORDER BY a.attnum`;

/**
 * Source side: for each column, whether any of the chunk's rows holds a compressed value
 * (pg_column_compression reads a value's header, never its data). Run in the chunk's own
 * transaction, so it sees exactly the rows the COPY sends.
 */
export function anyCompressedSql(table: TableRef, columns: readonly string[]): string {
  const checks = columns.map(
    (c, i) =>
      `coalesce(bool_or(pg_catalog.pg_column_compression(${quoteIdent(c)}) IS NOT NULL), false) AS c${i}`,
  );
  return `SELECT ${checks.join(', ')} FROM ONLY ${tableSql(table)}`;
}

/**
 * Target side: of the given columns, those stored EXTENDED (or EXTERNAL already: setAsIsStorage
 * retried, the source holding them EXTENDED) under the compression method given beside them, in a
 * table the session may ALTER (its owner's rights). $1 schema, $2 table, $3 columns, $4 their
 * source methods (same order).
 */
export const TARGET_SAME_COLUMNS = `
  SELECT a.attname AS column
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN unnest($3::text[], $4::text[]) AS s(name, method) ON s.name = a.attname
   WHERE c.oid = format('%I.%I', $1::text, $2::text)::regclass
     AND a.attnum > 0 AND NOT a.attisdropped AND a.attstorage IN ('x', 'e')
     AND ${METHOD} = s.method
     AND pg_has_role(c.relowner, 'USAGE')
   ORDER BY a.attnum`;

/** Sets the storage of a table's columns (ONLY: children and partitions are chunks of their own). */
export function setStorageSql(
  table: TableRef,
  columns: readonly string[],
  storage: 'EXTERNAL' | 'EXTENDED',
): string {
  const actions = columns.map((c) => `ALTER COLUMN ${quoteIdent(c)} SET STORAGE ${storage}`);
  return `ALTER TABLE ONLY ${tableSql(table)} ${actions.join(', ')}`;
}
