import { createHash } from 'node:crypto';
import type { TableRef } from '../../domain/tables';
import { quoteIdent, quoteLiteral, tableSql } from './connect';

/** The schema of pgferry's own bookkeeping on a target; never copied from a source. */
export const LEDGER_SCHEMA = 'pgferry';

/** A signed 64-bit advisory lock key for a text, from sha256: stable across servers and versions. */
export function advisoryKey(...parts: readonly string[]): string {
  // JSON keeps the parts apart: ("a", "b#1") and ("a\u0000b", "#1") hash differently.
  const digest = createHash('sha256')
    .update(JSON.stringify(['pgferry', ...parts]))
    .digest();
  return digest.readBigInt64BE(0).toString();
}

/** The advisory lock key of the ledger's DDL, the same for every migration. */
export const LEDGER_DDL_KEY = advisoryKey('ledger-ddl');

/**
 * Takes a transaction-scoped advisory lock, so a dead connection can never leave it held. With
 * LEDGER_DDL_KEY it serialises ensureLedger and dropLedger (concurrent CREATE … IF NOT EXISTS can
 * still collide); with advisoryKey('chunk', migration, chunk) the attempts at one chunk. $1 the key.
 */
export const ADVISORY_XACT_LOCK = 'SELECT pg_advisory_xact_lock($1::bigint)';

/** Creates the ledger; IF NOT EXISTS makes it safe to run at every attempt. */
export const CREATE_LEDGER: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(LEDGER_SCHEMA)}`,
  `CREATE TABLE IF NOT EXISTS ${quoteIdent(LEDGER_SCHEMA)}.chunks (
     migration text NOT NULL,
     chunk_id text NOT NULL,
     rows bigint NOT NULL,
     bytes bigint NOT NULL,
     copied_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (migration, chunk_id)
   )`,
  `COMMENT ON SCHEMA ${quoteIdent(LEDGER_SCHEMA)} IS 'pgferry: which copy chunks are committed; dropped when the migration is finalized'`,
];

/** Drops the ledger and anything else pgferry kept in its schema. */
export const DROP_LEDGER = `DROP SCHEMA IF EXISTS ${quoteIdent(LEDGER_SCHEMA)} CASCADE`;

/** True when the ledger table exists (to_regclass returns NULL instead of raising). */
export const LEDGER_EXISTS = `SELECT to_regclass(${quoteLiteral(`${quoteIdent(LEDGER_SCHEMA)}.chunks`)}) IS NOT NULL AS present`;

/** A chunk's ledger row, if it was committed. $1 migration, $2 chunk id. */
export const FIND_CHUNK = `SELECT rows, bytes FROM ${quoteIdent(LEDGER_SCHEMA)}.chunks WHERE migration = $1 AND chunk_id = $2`;

/** Records a chunk as committed, in the same transaction as its rows. */
export const RECORD_CHUNK = `INSERT INTO ${quoteIdent(LEDGER_SCHEMA)}.chunks (migration, chunk_id, rows, bytes) VALUES ($1, $2, $3, $4)`;

/** The ids of a migration's committed chunks. $1 migration. */
export const LIST_CHUNKS = `SELECT chunk_id FROM ${quoteIdent(LEDGER_SCHEMA)}.chunks WHERE migration = $1 ORDER BY chunk_id`;

/** The tables of a list that exist on this server. $1 schemas, $2 tables (parallel arrays). */
export const EXISTING_TABLES = `
  SELECT s AS schema, t AS table FROM unnest($1::text[], $2::text[]) AS x(s, t)
   WHERE to_regclass(format('%I.%I', s, t)) IS NOT NULL`;

/** Empties the copied tables. ONLY: inheritance children are in the list on their own. */
export function truncateTablesSql(tables: readonly TableRef[]): string {
  return `TRUNCATE TABLE ${tables.map((t) => `ONLY ${tableSql(t)}`).join(', ')}`;
}

/** Forgets a migration's committed chunks. $1 migration. */
export const DELETE_CHUNKS = `DELETE FROM ${quoteIdent(LEDGER_SCHEMA)}.chunks WHERE migration = $1`;
