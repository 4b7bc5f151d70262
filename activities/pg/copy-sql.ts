import type { Chunk } from '../../domain/chunks';
import { quoteIdent, quoteLiteral, tableSql } from './connect';
import { LEDGER_SCHEMA } from './ledger-sql';
import { NO_ROW_SECURITY, READ_ONLY_SNAPSHOT_BEGIN } from './session-sql';
import { notExtensionMember, userSchema } from './user-objects-sql';

/**
 * Ordinary tables with rows of their own: relkind 'r' takes in partitions and inheritance
 * children and leaves out partitioned parents (no rows), views, matviews (refreshed post-data) and
 * foreign tables; extension members are left to CREATE EXTENSION, as pg_dump does; and pgferry's
 * own ledger is never copied, should the source once have been a target. Columns in attnum order,
 * without dropped ones (they hold nothing) and generated ones (the target computes them, and COPY
 * refuses to load them). Pages come from the main fork's size, not relpages, which is only as
 * fresh as the last VACUUM or ANALYZE (0 for a table loaded and never analyzed).
 */
export function listCopyTablesSql(major: number): string {
  // attgenerated arrived in PostgreSQL 12; before that no column is generated.
  const notGenerated = major >= 12 ? "a.attgenerated = ''" : 'true';
  return `
    SELECT n.nspname AS schema, c.relname AS table,
           ARRAY(SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND ${notGenerated}
                  ORDER BY a.attnum) AS columns,
           coalesce(pg_table_size(c.oid), 0) AS bytes,
           coalesce(pg_relation_size(c.oid, 'main'), 0) / current_setting('block_size')::bigint AS pages,
           greatest(c.reltuples, 0)::bigint AS rows_estimate,
           coalesce(pg_relation_size(nullif(c.reltoastrelid, 0)), 0) AS toast_bytes
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND n.nspname <> ${quoteLiteral(LEDGER_SCHEMA)}
       AND ${userSchema('n')} AND ${notExtensionMember('pg_class', 'c.oid')}
     ORDER BY 1, 2`;
}

/**
 * The types inside a type (`types` row `t`): a domain's base type, an array's element type, a
 * range's subtype, a composite's columns; the portability queries follow them down.
 */
const INNER_TYPES = `CROSS JOIN LATERAL (
        SELECT t.typbasetype WHERE t.typtype = 'd'
        UNION ALL SELECT t.typelem WHERE t.typelem <> 0
        UNION ALL SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid
        UNION ALL SELECT ca.atttypid FROM pg_attribute ca
                   WHERE t.typtype = 'c' AND ca.attrelid = t.typrelid AND ca.attnum > 0 AND NOT ca.attisdropped
      ) AS inner_type(oid)`;

/**
 * True when every column's binary form means the same on another database of the same major, and
 * the server can send and receive it at all: built-in types (fixed OIDs) and enums (sent as
 * labels), through domains, array elements, range subtypes and the columns of (built-in)
 * composites. Arrays and composites of user types carry their element and column type OIDs, which
 * differ between databases, and older minor releases reject such data ("wrong element type");
 * extension types may have no binary I/O at all; and some built-in types have none either
 * (aclitem, gtsvector: typsend or typreceive 0), so that a binary COPY of them fails with
 * "no binary output function available". Those tables go as text. Asked of both sides, since
 * receiving is the target's part. $1 schema, $2 table, $3 columns.
 */
export const BINARY_PORTABLE = `
  WITH RECURSIVE types(oid) AS (
    SELECT a.atttypid
      FROM pg_attribute a
     WHERE a.attrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = $1 AND c.relname = $2)
       AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY ($3::text[])
    UNION
    SELECT inner_type.oid
      FROM types
      JOIN pg_type t ON t.oid = types.oid
      ${INNER_TYPES}
  )
  SELECT coalesce(bool_and((t.typtype IN ('d', 'e') OR t.oid < 16384)
                           AND t.typsend <> 0 AND t.typreceive <> 0), true) AS portable
    FROM types JOIN pg_type t ON t.oid = types.oid`;

/**
 * BINARY_PORTABLE for many tables at once ($1 schemas, $2 names, side by side): one catalog read
 * per batch of chunks instead of one per chunk. A fresh session plans the recursive query in about
 * 20 ms, which thousands of small tables would otherwise pay once each. Every stored column counts.
 */
export const BINARY_PORTABLE_TABLES = `
  WITH RECURSIVE rels AS (
    SELECT c.oid AS relid, w.schema, w.table
      FROM unnest($1::text[], $2::text[]) AS w(schema, "table")
      JOIN pg_namespace n ON n.nspname = w.schema
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.table
  ), types(relid, oid) AS (
    SELECT a.attrelid, a.atttypid
      FROM pg_attribute a JOIN rels r ON r.relid = a.attrelid
     WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION
    SELECT types.relid, inner_type.oid
      FROM types
      JOIN pg_type t ON t.oid = types.oid
      ${INNER_TYPES}
  )
  SELECT r.schema, r.table,
         coalesce(bool_and((t.typtype IN ('d', 'e') OR t.oid < 16384)
                           AND t.typsend <> 0 AND t.typreceive <> 0), true) AS portable
    FROM rels r
    LEFT JOIN types ON types.relid = r.relid
    LEFT JOIN pg_type t ON t.oid = types.oid
   GROUP BY r.schema, r.table`;

/**
 * The source side of a chunk's transaction. REPEATABLE READ so the whole COPY sees one snapshot;
 * READ ONLY because the copy must never change the source.
 */
export const SOURCE_BEGIN = READ_ONLY_SNAPSHOT_BEGIN;

/** Adopts an exported snapshot; must be the first statement after SOURCE_BEGIN. */
export function setSnapshotSql(snapshot: string): string {
  return `SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`;
}

/**
 * Source settings for one chunk. row_security = off: a role subject to a policy gets an error
 * instead of silently fewer rows. The output styles make text COPY unambiguous whatever the
 * servers' defaults: ISO dates read the same under any DateStyle, postgres-style intervals carry
 * a sign per field, and extra_float_digits = 3 keeps every bit of a float on any version.
 * statement_timeout = 0: a large chunk legitimately runs longer than an interactive timeout.
 */
export const SOURCE_SETTINGS: readonly string[] = [
  NO_ROW_SECURITY,
  "SET LOCAL DateStyle = 'ISO'",
  "SET LOCAL IntervalStyle = 'postgres'",
  'SET LOCAL extra_float_digits = 3',
  'SET LOCAL statement_timeout = 0',
];

/** Triggers (user and foreign-key ones) do not fire in the transaction: see targetSettings. */
export const REPLICA_ROLE = 'SET LOCAL session_replication_role = replica';

/**
 * Target settings for one chunk. session_replication_role = replica: user triggers and the
 * triggers that check foreign keys do not fire, so rows load in any order and audit or guard
 * triggers see nothing (only ENABLE ALWAYS triggers still run, by the user's own choice). It needs
 * a superuser, or on PostgreSQL 15+ a role granted SET on it. IntervalStyle = postgres so that
 * text input reads intervals the way the source wrote them.
 *
 * The rest is about a worker that dies mid-chunk: its uncommitted rows are safe, but the backend
 * holds the chunk's lock, and the retry waits on it, until the server notices the client is gone.
 * Keepalives find a vanished host in about two minutes instead of the kernel's two hours, and
 * client_connection_check_interval (PostgreSQL 14+) notices even while the COPY waits on a lock.
 */
export function targetSettings(major: number): string[] {
  return [
    REPLICA_ROLE,
    "SET LOCAL IntervalStyle = 'postgres'",
    'SET LOCAL statement_timeout = 0',
    'SET LOCAL tcp_keepalives_idle = 60',
    'SET LOCAL tcp_keepalives_interval = 10',
    'SET LOCAL tcp_keepalives_count = 6',
    ...(major >= 14 ? ["SET LOCAL client_connection_check_interval = '10s'"] : []),
  ];
}

/** COPY's wire format: binary between servers of one major, text otherwise. */
export type CopyFormat = 'binary' | 'text';

function formatClause(format: CopyFormat): string {
  return format === 'binary' ? ' WITH (FORMAT binary)' : '';
}

/** A tid literal for the first tuple of a page; the page is checked to be an integer first. */
function pageStart(page: number): string {
  if (!Number.isSafeInteger(page) || page < 0) throw new RangeError(`not a page number: ${page}`);
  return `${quoteLiteral(`(${page},0)`)}::tid`;
}

/**
 * The source's COPY for a chunk. ONLY: an inheritance parent's rows without its children's, which
 * are chunks of their own. Columns by name, since the target's physical order may differ (dropped
 * columns, restored inheritance). A range is a ctid range: a TID range scan since PostgreSQL 14,
 * and every row version visible to the snapshot sits on exactly one page, so ranges never overlap.
 */
export function copyOutSql(chunk: Chunk, format: CopyFormat): string {
  const columns = chunk.columns.map(quoteIdent).join(', ');
  const conditions: string[] = [];
  if (chunk.range) {
    conditions.push(`ctid >= ${pageStart(chunk.range.fromPage)}`);
    if (chunk.range.toPage !== undefined) conditions.push(`ctid < ${pageStart(chunk.range.toPage)}`);
  }
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  return `COPY (SELECT ${columns} FROM ONLY ${tableSql(chunk)}${where}) TO STDOUT${formatClause(format)}`;
}

/**
 * The target's COPY for a chunk, naming the same columns in the same order as the source's. A
 * table without copyable columns (only generated ones, or none) names none: COPY then fills none,
 * and an empty list would be a syntax error.
 */
export function copyInSql(chunk: Chunk, format: CopyFormat, options: { freeze?: boolean } = {}): string {
  const columns = chunk.columns.length > 0 ? ` (${chunk.columns.map(quoteIdent).join(', ')})` : '';
  if (!options.freeze) return `COPY ${tableSql(chunk)}${columns} FROM STDIN${formatClause(format)}`;
  const settings = [...(format === 'binary' ? ['FORMAT binary'] : []), 'FREEZE'].join(', ');
  return `COPY ${tableSql(chunk)}${columns} FROM STDIN WITH (${settings})`;
}

/**
 * Whether the target's user may TRUNCATE the chunk's table, which a frozen load needs: COPY
 * FREEZE writes rows already frozen and visible to all (no hint bits to set, no vacuum to freeze
 * them later), but only into a table created or truncated in the same transaction.
 */
export const CAN_TRUNCATE = `
  SELECT has_table_privilege(c.oid, 'TRUNCATE')
         -- A table that a foreign key references cannot be truncated alone (the copy's own
         -- targets have none yet: foreign keys come with post-data).
         AND NOT EXISTS (SELECT 1 FROM pg_constraint AS fk WHERE fk.confrelid = c.oid AND fk.contype = 'f') AS ok
    FROM pg_class AS c
   WHERE c.oid = format('%I.%I', $1::text, $2::text)::regclass`;

/** Empties the chunk's table, its own rows only (ONLY: children of an inheritance parent are chunks of their own). */
export function truncateOnlySql(chunk: Chunk): string {
  return `TRUNCATE ONLY ${tableSql(chunk)}`;
}
