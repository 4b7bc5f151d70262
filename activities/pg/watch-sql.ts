/**
 * What watching an online migration at its gate reads besides the slot's position
 * (replication-sql.ts SLOT_POSITION, SUBSCRIPTION_PROGRESS): the subscription's apply errors on the
 * target, where the source keeps its data (for its free disk), and the source server's clock.
 */

/**
 * The subscription's error counters on the target (PostgreSQL 15+: pg_stat_subscription_stats):
 * each failed apply (a conflict, a missing table) adds one, then the worker restarts. NULL on an
 * older server, which has no such view. $1 subscription.
 */
export const APPLY_ERRORS = `
  SELECT CASE WHEN to_regclass('pg_catalog.pg_stat_subscription_stats') IS NULL THEN NULL
              ELSE (SELECT (st.apply_error_count + st.sync_error_count)::text
                      FROM pg_catalog.pg_stat_subscription_stats st
                      JOIN pg_subscription s ON s.oid = st.subid
                     WHERE s.subname = $1
                       AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()))
          END AS errors`;

/**
 * The source's data directory, for its free disk when the server runs on the worker's host. Only
 * superusers and pg_read_all_settings see it in pg_settings: otherwise no row (not an error).
 */
export const DATA_DIRECTORY = `SELECT setting AS path FROM pg_settings WHERE name = 'data_directory'`;

/**
 * The server's clock in milliseconds since the epoch (microseconds kept as the fraction): a
 * migration measures its downtime on one clock, the source's, between two such readings.
 */
export const SERVER_CLOCK_MS = 'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms';

/** The port the server listens on, as it says (to match a data directory's postmaster.pid). */
export const SERVER_PORT = `SELECT current_setting('port')::int AS port`;
