/**
 * A read-only transaction that sees one snapshot throughout: what the copy, the validation and
 * the backup read the source under, so that every table is read as of one moment.
 */
export const READ_ONLY_SNAPSHOT_BEGIN = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';

/** A role subject to row-level security then fails loudly instead of reading only the rows its policies show. */
export const NO_ROW_SECURITY = 'SET LOCAL row_security = off';

/** NO_ROW_SECURITY for the whole session, where the reads run outside one transaction. */
export const NO_ROW_SECURITY_SESSION = 'SET row_security = off';

/**
 * What pg_dump and pg_restore set first: no schema is searched, so every name in a definition
 * printed or run is written qualified (and no object of the user's can capture an unqualified one).
 */
export const EMPTY_SEARCH_PATH = "SELECT pg_catalog.set_config('search_path', '', false)";

/** Exports the transaction's snapshot, for pg_dump --snapshot to read the same moment. */
export const EXPORT_SNAPSHOT = 'SELECT pg_export_snapshot() AS id';
