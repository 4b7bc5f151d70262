/**
 * Databases as a server's maintenance connection sees them: looked up, created, stamped, dropped
 * (the freeze of a source is fence-sql.ts). Names go in quoted (quoteIdent): CREATE, DROP, ALTER and COMMENT take no parameters.
 */
import { quoteIdent, quoteLiteral } from './connect';

/** A database by name, from another database of the same server: its comment (pgferry's marker) and owner. $1 name. */
export const DATABASE_INFO = `
  SELECT shobj_description(d.oid, 'pg_database') AS comment, pg_get_userbyid(d.datdba) AS owner
    FROM pg_database d WHERE d.datname = $1`;

/** Creates a database; a re-created one keeps its former owner, so the user's grants still fit. */
export function createDatabaseSql(name: string, owner?: string | null): string {
  return `CREATE DATABASE ${quoteIdent(name)}${owner ? ` OWNER ${quoteIdent(owner)}` : ''}`;
}

/**
 * Stamps a database with the marker of the run that provisioned it: a retry recognises it as its
 * own, and only a database carrying the marker is ever cleared or dropped by pgferry.
 */
export function markDatabaseSql(name: string, marker: string): string {
  return `COMMENT ON DATABASE ${quoteIdent(name)} IS ${quoteLiteral(marker)}`;
}

/** Drops a database; FORCE ends its sessions first, which would otherwise make the drop fail. */
export function dropDatabaseSql(name: string): string {
  return `DROP DATABASE ${quoteIdent(name)} WITH (FORCE)`;
}

/**
 * The databases a fleet may move from a server: not templates, and accepting connections (a
 * database with datallowconn off could be neither dumped nor copied).
 */
export const FLEET_DATABASES = `
  SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname`;

/**
 * What a source server can give more logical replication: free slots (every slot counts, active
 * or not) and free WAL senders (backend_type is visible to every user).
 */
export const SOURCE_REPLICATION_ROOM = `
  SELECT current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots)::int AS slots,
         current_setting('max_wal_senders')::int
           - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender')::int AS senders`;

/**
 * Free logical replication workers on a target server: an enabled subscription takes one apply
 * worker for as long as it lives (subenabled is readable by every user).
 */
export const TARGET_REPLICATION_ROOM = `
  SELECT current_setting('max_logical_replication_workers')::int
           - (SELECT count(*) FROM pg_subscription WHERE subenabled)::int AS workers`;
