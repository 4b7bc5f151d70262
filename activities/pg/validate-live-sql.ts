/**
 * The SQL of validating an online migration while it replicates: a table's range key and size,
 * the bounds of its key ranges, and the lock that holds a table still while both sides are read.
 */
import type { TableRef } from '../../domain/tables';
import { quoteIdent, tableSql } from './connect';

/**
 * A table's range key — the first column of its primary key, NULL without one — and its estimated
 * rows (reltuples; -1 before the first VACUUM or ANALYZE, then the heap's size over 100 bytes a
 * row). $1 schema, $2 table.
 */
export const RANGE_KEY = `
  SELECT a.attname::text AS key,
         CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint
              ELSE pg_relation_size(c.oid) / 100 END AS estimate
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
   WHERE n.nspname = $1 AND c.relname = $2`;

/**
 * Every `$1`-th value of a table's range key in key order, as text: the bounds of ranges of about
 * `$1` rows. Read through the key's index, without a lock.
 */
export function rangeBoundsSql(table: TableRef, key: string): string {
  const k = quoteIdent(key);
  return `
    SELECT b::text AS bound FROM (
      SELECT ${k} AS b, row_number() OVER (ORDER BY ${k}) AS rn FROM ONLY ${tableSql(table)}
    ) AS s WHERE rn % $1 = 0 ORDER BY rn`;
}

/**
 * Holds a table still for the length of the transaction: writers wait, readers do not. SHARE waits
 * for the writers in flight, so the next statement's snapshot holds every write made to the table
 * before, and none can commit until the transaction ends.
 */
export function shareLockSql(table: TableRef): string {
  return `LOCK TABLE ONLY ${tableSql(table)} IN SHARE MODE`;
}

/** How long the lock may be waited for: never a queue of the application's writers behind it. */
export const LOCK_TIMEOUT = "SET LOCAL lock_timeout = '2s'";

/**
 * A tiny WAL record whose commit is flushed (as at the cutover): once the target confirms its LSN,
 * it has applied every transaction that committed on the source before it. Written by another
 * session than the one holding the lock.
 */
export const EMIT_VALIDATION_MESSAGE =
  "SELECT pg_logical_emit_message(true, 'pgferry', 'validation')::text AS lsn";
