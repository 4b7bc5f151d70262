/**
 * What `pgferry cleanup` looks for: the objects one migration may have left on the source and the
 * target, each found by the migration's own names only (the slot, publication and subscription
 * name and the fence's slot carry a hash of its workflow id). Dropping reuses the statements of
 * the steps that made them (replication-sql.ts, fence-sql.ts, ledger-sql.ts, toast-sql.ts).
 */
import { quoteIdent } from './connect';
import { LEDGER_SCHEMA } from './ledger-sql';
import { SNAPSHOTS_TABLE } from './replication-sql';

/** Whether a replication slot of this name exists in this database (of any kind). $1 slot. */
export const SLOT_IN_DATABASE = `
  SELECT EXISTS (SELECT 1 FROM pg_replication_slots
                  WHERE slot_name = $1 AND database = current_database()) AS present`;

/**
 * The columns of a table, among those named, that are stored EXTERNAL: what the copy's as-is
 * loading set and did not set back. A table that is gone has none (to_regclass is NULL). $1 schema,
 * $2 table, $3 columns.
 */
export const EXTERNAL_COLUMNS = `
  SELECT a.attname AS column
    FROM pg_attribute a
   WHERE a.attrelid = to_regclass(format('%I.%I', $1::text, $2::text))
     AND a.attname = ANY($3::text[]) AND a.attnum > 0 AND NOT a.attisdropped AND a.attstorage = 'e'
   ORDER BY a.attnum`;

/** Whether pgferry's schema exists on the target (the ledger and the snapshots table live there). */
export const LEDGER_SCHEMA_EXISTS = `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '${LEDGER_SCHEMA}') AS present`;

/** The ledger's chunks of this migration and of others (LEDGER_EXISTS first). $1 migration. */
export const CHUNK_ROWS = `
  SELECT count(*) FILTER (WHERE migration = $1)::int AS mine, count(*) FILTER (WHERE migration <> $1)::int AS others
    FROM ${quoteIdent(LEDGER_SCHEMA)}.chunks`;

/** The snapshot rows of this migration (or its slot) and of others (SNAPSHOTS_EXIST first). $1 migration, $2 slot. */
export const SNAPSHOT_ROWS = `
  SELECT count(*) FILTER (WHERE migration = $1 OR slot = $2)::int AS mine,
         count(*) FILTER (WHERE migration <> $1 AND slot <> $2)::int AS others
    FROM ${SNAPSHOTS_TABLE}`;

/** A row of CHUNK_ROWS or SNAPSHOT_ROWS. */
export interface LedgerRows {
  readonly mine: number;
  readonly others: number;
}
