import type { ConnSpec } from '../../domain/connection';
import { quoteIdent, quoteLiteral } from './connect';
import { LEDGER_SCHEMA } from './ledger-sql';

/** The table on the target where the snapshot holder publishes its slot and snapshot. */
export const SNAPSHOTS_TABLE = `${quoteIdent(LEDGER_SCHEMA)}.snapshots`;

/**
 * Creates pgferry.snapshots unless it exists. It lives in the ledger's schema so that dropLedger
 * (finalize) removes it with the rest of pgferry's bookkeeping. holder_pid is the walsender that
 * holds the snapshot: a later holder ends it, so that nothing keeps reading under a snapshot whose
 * slot has been replaced.
 */
export const CREATE_SNAPSHOTS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(LEDGER_SCHEMA)}`,
  `CREATE TABLE IF NOT EXISTS ${SNAPSHOTS_TABLE} (
     migration text PRIMARY KEY,
     slot text NOT NULL,
     snapshot text NOT NULL,
     lsn pg_lsn NOT NULL,
     token text NOT NULL,
     holder_pid integer,
     created_at timestamptz NOT NULL DEFAULT now()
   )`,
];

/** True when pgferry.snapshots exists (to_regclass returns NULL instead of raising). */
export const SNAPSHOTS_EXIST = `SELECT to_regclass(${quoteLiteral(SNAPSHOTS_TABLE)}) IS NOT NULL AS present`;

/** Publishes a holder's snapshot; a new holder replaces the row of the one before. */
export const UPSERT_SNAPSHOT = `
  INSERT INTO ${SNAPSHOTS_TABLE} (migration, slot, snapshot, lsn, token, holder_pid)
  VALUES ($1, $2, $3, $4::pg_lsn, $5, $6)
  ON CONFLICT (migration) DO UPDATE
     SET slot = EXCLUDED.slot, snapshot = EXCLUDED.snapshot, lsn = EXCLUDED.lsn,
         token = EXCLUDED.token, holder_pid = EXCLUDED.holder_pid, created_at = now()`;

/** The migration's published snapshot, if any. $1 migration. */
export const FIND_SNAPSHOT = `
  SELECT slot, snapshot, lsn::text AS lsn, token, holder_pid FROM ${SNAPSHOTS_TABLE} WHERE migration = $1`;

/** Forgets the snapshots of a migration or of a slot. $1 migration (or NULL), $2 slot. */
export const DELETE_SNAPSHOTS = `DELETE FROM ${SNAPSHOTS_TABLE} WHERE migration = $1 OR slot = $2`;

/**
 * Ends an earlier holder of the migration's snapshot, should it still live (a worker cut off from
 * Temporal but not from the source): its snapshot must die with its slot, so that no chunk is
 * copied under it. Only a pgferry walsender of this database with that pid. $1 pid.
 */
export const END_EARLIER_HOLDER = `
  SELECT pg_terminate_backend(pid) FROM pg_stat_activity
   WHERE pid = $1 AND backend_type = 'walsender' AND datname = current_database()
     AND application_name = 'pgferry' AND pid <> pg_backend_pid()`;

/**
 * Drops a slot left by a holder that died: its snapshot died with it, so the slot's start no
 * longer matches anything a copy can read. An active slot (something streams from it) is kept.
 */
export const DROP_INACTIVE_SLOT = `
  SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
   WHERE slot_name = $1 AND database = current_database() AND NOT active`;

/** A subscription of this database that streams from a slot: then the slot is replication's, not the copy's. $1 slot. */
export const SUBSCRIPTION_OF_SLOT = `
  SELECT subname FROM pg_subscription
   WHERE subslotname = $1 AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;

/**
 * The walsender command that creates the slot and exports the snapshot it starts at. The legacy
 * option syntax is the one every version from 10 to 17 accepts. The snapshot stays valid only
 * until the connection runs its next command, so nothing may follow on that connection.
 */
export function createSlotCommand(slot: string): string {
  return `CREATE_REPLICATION_SLOT ${quoteIdent(slot)} LOGICAL pgoutput EXPORT_SNAPSHOT`;
}

/** The replication connection's own pid, asked before the slot is created (afterwards it would end the snapshot). */
export const BACKEND_PID = 'SELECT pg_backend_pid() AS pid';

/** Whether a publication exists in this database. $1 publication. */
export const PUBLICATION_EXISTS =
  'SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1) AS present';

/** Publishes every table, present and future, so tables created after the snapshot replicate too. */
export function createPublicationSql(publication: string): string {
  return `CREATE PUBLICATION ${quoteIdent(publication)} FOR ALL TABLES`;
}

/** Lets this session write on a frozen source (freezeSource only changes the default). */
export const READ_WRITE_SESSION = 'SET default_transaction_read_only = off';

/** Drops a publication; IF EXISTS keeps a repeated rollback quiet. */
export function dropPublicationSql(publication: string): string {
  return `DROP PUBLICATION IF EXISTS ${quoteIdent(publication)}`;
}

/** A subscription of this database by name: whether it is enabled and the slot it streams from. $1 subscription. */
export const SUBSCRIPTION_STATE = `
  SELECT subenabled AS enabled, subslotname AS slot FROM pg_subscription
   WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;

/**
 * Quotes one value of a libpq connection string: single quotes, with backslash and quote
 * escaped by a backslash (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING).
 */
export function conninfoValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The conninfo by which the target server reaches the source; the password only when the worker
 * resolved one. The URL's sslmode goes as it is (unset is libpq's `prefer` there as on the
 * worker); its sslrootcert does not, being a file on the worker: the target server's libpq
 * verifies with its own CA file (~/.postgresql/root.crt of the server's OS user).
 */
export function sourceConninfo(spec: ConnSpec, password: string | undefined): string {
  const parts: [string, string][] = [
    ['host', spec.host],
    ['port', String(spec.port)],
    ['dbname', spec.database],
    ['user', spec.user],
  ];
  if (spec.sslmode !== undefined) parts.push(['sslmode', spec.sslmode]);
  if (password !== undefined) parts.push(['password', password]);
  return parts.map(([key, value]) => `${key}=${conninfoValue(value)}`).join(' ');
}

/**
 * A string literal that means the same whatever standard_conforming_strings says: a value with a
 * backslash (a conninfo escapes with them) goes as an E'' literal with the backslashes doubled.
 */
export function stringLiteral(value: string): string {
  if (!value.includes('\\')) return quoteLiteral(value);
  return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * The subscription that replays the source from the slot. copy_data = false: the copy under the
 * slot's snapshot has the rows already; create_slot = false: the slot exists, created with that
 * snapshot, and replication must start exactly there.
 */
export function createSubscriptionSql(options: {
  subscription: string;
  conninfo: string;
  publication: string;
  slot: string;
}): string {
  return `CREATE SUBSCRIPTION ${quoteIdent(options.subscription)}
    CONNECTION ${stringLiteral(options.conninfo)}
    PUBLICATION ${quoteIdent(options.publication)}
    WITH (copy_data = false, create_slot = false, slot_name = ${quoteLiteral(options.slot)}, enabled = true)`;
}

/**
 * Keeps the statement that carries the source's password out of the target's server log and
 * statistics, where log_statement = ddl, a failing statement (log_min_error_statement), a slow or
 * sampled one (log_min_duration_statement, log_min_duration_sample, log_transaction_sample_rate)
 * or pg_stat_statements (track_utility; auto_explain logs no utility statement) would keep it.
 * Superuser settings mostly: a role that cannot set one gets the server's own configuration
 * (preflight warns about that: `target.password-logs`).
 */
export const QUIET_SETTINGS: readonly (readonly [name: string, value: string])[] = [
  ['log_statement', 'none'],
  ['log_min_error_statement', 'panic'],
  ['log_min_duration_statement', '-1'],
  ['log_min_duration_sample', '-1'],
  ['log_transaction_sample_rate', '0'],
  // A placeholder when the module is not loaded: setting it then changes nothing, and fails for no one.
  ['pg_stat_statements.track_utility', 'off'],
];

/** The SET statements of QUIET_SETTINGS, run by the session that creates the subscription. */
export const QUIET_STATEMENT_LOG: readonly string[] = QUIET_SETTINGS.map(
  ([name, value]) => `SET ${name} = ${value}`,
);

/** Points a subscription that a half-done rollback detached (slot_name = NONE) back at its slot. */
export function setSubscriptionSlotSql(subscription: string, slot: string): string {
  return `ALTER SUBSCRIPTION ${quoteIdent(subscription)} SET (slot_name = ${quoteLiteral(slot)})`;
}

/**
 * The subscription's synchronous_commit: 'off' (as created) lets the apply worker's commits wait
 * for the WAL writer; 'on' flushes each at once. $1 subscription.
 */
export const SUBSCRIPTION_SYNC_COMMIT = `
  SELECT subsynccommit FROM pg_subscription
   WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;

/**
 * Sets the subscription's synchronous_commit. The apply worker takes it at its next transaction,
 * without a restart; the statement's own commit flushes the WAL of everything applied before it.
 */
export function subscriptionSyncCommitSql(subscription: string, on: boolean): string {
  return `ALTER SUBSCRIPTION ${quoteIdent(subscription)} SET (synchronous_commit = '${on ? 'on' : 'off'}')`;
}

/** Enables a subscription that a half-done rollback left disabled. */
export function enableSubscriptionSql(subscription: string): string {
  return `ALTER SUBSCRIPTION ${quoteIdent(subscription)} ENABLE`;
}

/**
 * Drops a subscription without touching the source: disabled first (a subscription's slot can be
 * detached only then), then detached from its slot, so DROP does not reach over the network to
 * drop the remote slot (the source may be unreachable; dropReplication drops the slot itself).
 */
export function dropSubscriptionSql(subscription: string): string[] {
  const name = quoteIdent(subscription);
  return [
    `ALTER SUBSCRIPTION ${name} DISABLE`,
    `ALTER SUBSCRIPTION ${name} SET (slot_name = NONE)`,
    `DROP SUBSCRIPTION IF EXISTS ${name}`,
  ];
}

/** Ends the walsender streaming from a slot, so that the slot can be dropped. $1 slot. */
export const END_SLOT_WALSENDER = `
  SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
   WHERE slot_name = $1 AND database = current_database()
     AND active_pid IS NOT NULL AND active_pid <> pg_backend_pid()`;

/**
 * Drops a slot if it exists in this database; an active one raises ObjectInUse and is tried
 * again. Slot names carry a hash of the migration's workflow id, so the slot is this
 * migration's own. $1 slot.
 */
export const DROP_SLOT = `
  SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
   WHERE slot_name = $1 AND database = current_database()`;

/**
 * Where the source is and where the slot's consumer has confirmed it is, in bytes apart. The
 * walsender's replay_lag is the time the subscriber took to apply what it was last sent; NULL
 * once it is caught up (or when nothing streams). The slot's health beside it: wal_status
 * (reserved, extended, unreserved, lost), safe_wal_size (NULL when max_slot_wal_keep_size is -1),
 * and the WAL it holds back from restart_lsn (NULL once lost); max_slot_wal_keep_size in bytes, -1
 * for unbounded. $1 slot.
 */
export const SLOT_POSITION = `
  SELECT s.active,
         pg_current_wal_lsn()::text AS source_lsn,
         s.confirmed_flush_lsn::text AS confirmed_lsn,
         greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn), 0)::bigint AS lag_bytes,
         extract(epoch FROM r.replay_lag)::float8 AS replay_lag_seconds,
         s.wal_status,
         s.safe_wal_size::text AS safe_wal_size,
         greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn), 0)::bigint::text AS retained_bytes,
         (SELECT CASE WHEN setting::bigint < 0 THEN -1 ELSE setting::bigint * 1024 * 1024 END
            FROM pg_settings WHERE name = 'max_slot_wal_keep_size')::text AS keep_bytes
    FROM pg_replication_slots s
    LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
   WHERE s.slot_name = $1`;

/** A row of SLOT_POSITION. */
export interface SlotPosition {
  readonly active: boolean;
  readonly source_lsn: string;
  readonly confirmed_lsn: string | null;
  readonly lag_bytes: string | null;
  readonly replay_lag_seconds: number | null;
  readonly wal_status: string | null;
  readonly safe_wal_size: string | null;
  readonly retained_bytes: string | null;
  readonly keep_bytes: string | null;
}

/**
 * How far the slot's consumer has confirmed, and whether that reaches an LSN. NULL (no slot row)
 * and a NULL confirmed_flush_lsn (a physical slot) both mean the slot is not the one to wait on.
 * $1 slot, $2 lsn.
 */
export const SLOT_REACHED = `
  SELECT confirmed_flush_lsn::text AS confirmed_lsn, confirmed_flush_lsn >= $2::pg_lsn AS reached
    FROM pg_replication_slots WHERE slot_name = $1`;

/**
 * The subscription's apply worker on the target: running or not, and the seconds since it last
 * heard from the source (the fallback lag when the source measures none). $1 subscription.
 */
export const SUBSCRIPTION_PROGRESS = `
  SELECT st.pid IS NOT NULL AS receiving, s.subenabled AS enabled,
         extract(epoch FROM now() - coalesce(st.latest_end_time, st.last_msg_receipt_time))::float8 AS silent_seconds
    FROM pg_subscription s
    LEFT JOIN pg_stat_subscription st ON st.subid = s.oid AND st.relid IS NULL
   WHERE s.subname = $1 AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;

/** A row of SUBSCRIPTION_PROGRESS. */
export interface SubscriptionProgress {
  readonly receiving: boolean;
  readonly enabled: boolean;
  readonly silent_seconds: number | null;
}

/** Opens the cutover message's transaction: READ WRITE, since the frozen source defaults to read-only. */
export const CUTOVER_BEGIN = 'BEGIN READ WRITE';

/**
 * The commit of the cutover message waits for its flush: the walsender decodes only flushed WAL,
 * and a non-transactional message on a half-filled page can sit unflushed indefinitely.
 */
export const CUTOVER_SYNC = 'SET LOCAL synchronous_commit = on';

/**
 * Writes a tiny WAL record at cutover and returns the LSN where it ends: every transaction
 * committed before it ends below that, and decoding the message's commit moves the slot past it
 * even when nothing else is written.
 */
export const EMIT_CUTOVER_MESSAGE = "SELECT pg_logical_emit_message(true, 'pgferry', 'cutover')::text AS lsn";
