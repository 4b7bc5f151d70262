/**
 * The write fence on a frozen source: the settings that make every session of the database
 * read-only by default (the database's own, and the roles' that would override it), the sessions
 * ended, and the two watches that prove no write committed after the fence (a logical slot, the
 * tables' write counters). Statements that take no parameters (ALTER DATABASE / ROLE) quote names
 * with quoteIdent and values with quoteLiteral.
 */
import { quoteIdent, quoteLiteral } from './connect';
import { advisoryKey, LEDGER_SCHEMA } from './ledger-sql';

/** The setting the fence changes. */
export const READ_ONLY_SETTING = 'default_transaction_read_only';

/**
 * The custom placeholder that keeps, in the same pg_db_role_setting entry, what the fence replaced:
 * `<owner>/<original>`, the original being the setting's text or UNSET. It survives a worker's crash
 * (it lives on the source), a second freeze finds it and leaves it, and unfreeze puts back exactly
 * what it says. The owner (the migration's fence name) keeps one migration from undoing another's.
 */
export const SAVED_SETTING = 'pgferry.saved_default_transaction_read_only';

/** The original of an entry that had no default_transaction_read_only at all. */
export const UNSET = 'unset';

/** The owner of a fence set up without a name (tests, a bare activity call). */
export const ANONYMOUS_FENCE = 'pgferry';

/** The source database's oid, from another database of the server. $1 database. */
export const DATABASE_OID = 'SELECT oid::int8::text AS oid FROM pg_database WHERE datname = $1';

/**
 * The pg_db_role_setting entries that decide a session's default in the database: the database's
 * own (role 0), each role's in this database, and each role's everywhere (database 0). ALTER ROLE
 * ALL SET (role 0, database 0) ranks below the database's setting, so it cannot undo the freeze.
 * $1 database oid.
 */
export const SETTINGS_ENTRIES = `
  SELECT s.setrole::int8::text AS role_oid, r.rolname AS role, s.setdatabase::int8::text AS database_oid,
         s.setconfig AS config
    FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole
   WHERE s.setdatabase = $1::oid OR (s.setdatabase = 0 AND s.setrole <> 0)`;

/** A row of SETTINGS_ENTRIES. */
export interface SettingsEntry {
  readonly role_oid: string;
  readonly role: string | null;
  readonly database_oid: string;
  readonly config: string[] | null;
}

/** The value of one setting in an entry's setconfig (`name=value` items), or undefined. */
export function settingOf(config: readonly string[] | null, name: string): string | undefined {
  const prefix = `${name}=`;
  return config?.find((item) => item.startsWith(prefix))?.slice(prefix.length);
}

/**
 * Whether a boolean setting's text means true, as PostgreSQL's parse_bool reads it (any unique
 * prefix of true/yes, on, 1). Anything else (off, false, no, 0) leaves sessions writable.
 */
export function meansTrue(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === '') return false;
  return 'true'.startsWith(v) || 'yes'.startsWith(v) || v === 'on' || v === '1';
}

/** What a saved marker says: whose fence, and the original it replaced. */
export function parseSaved(saved: string): { owner: string; original: string } {
  const at = saved.indexOf('/');
  return at < 0
    ? { owner: ANONYMOUS_FENCE, original: saved }
    : { owner: saved.slice(0, at), original: saved.slice(at + 1) };
}

/** One statement of a freeze, with whether it only records the original (the marker). */
export interface FenceStatement {
  readonly sql: string;
  /** A marker: a non-superuser without SET on the placeholder cannot write it (see FreezePlan). */
  readonly marker: boolean;
  /** The role the statement is about; undefined for the database's own entry. */
  readonly role?: string;
}

/** What a freeze changes: its statements, in order, and the roles whose own setting it overrides. */
export interface FreezePlan {
  readonly statements: readonly FenceStatement[];
  /** Roles whose setting (in this database, or everywhere) would have left them writable. */
  readonly roles: readonly string[];
}

/** `ALTER DATABASE d` or `ALTER ROLE r IN DATABASE d`: the entry a statement sets. */
function entryTarget(database: string, role: string | undefined): string {
  return role === undefined
    ? `ALTER DATABASE ${quoteIdent(database)}`
    : `ALTER ROLE ${quoteIdent(role)} IN DATABASE ${quoteIdent(database)}`;
}

function setSql(database: string, role: string | undefined, name: string, value: string): string {
  return `${entryTarget(database, role)} SET ${name} = ${quoteLiteral(value)}`;
}

function resetSql(database: string, role: string | undefined, name: string): string {
  return `${entryTarget(database, role)} RESET ${name}`;
}

/**
 * The freeze, from the entries as they are: the database's entry and every role's entry in this
 * database set default_transaction_read_only = on, each with its original saved beside it first.
 * A role's own setting everywhere (ALTER ROLE … SET, without IN DATABASE) is not touched: an entry
 * for the role in this database ranks above it and is added instead, so the role stays as it was in
 * every other database. An entry already saved (by an earlier attempt) keeps its marker; an entry
 * saved by another migration's fence is left to it. Idempotent: a second plan from the frozen
 * entries only re-asserts `on` where something turned it off since.
 */
export function planFreeze(
  entries: readonly SettingsEntry[],
  databaseOid: string,
  database: string,
  owner: string,
): FreezePlan {
  const statements: FenceStatement[] = [];
  const roles: string[] = [];
  const fence = (role: string | undefined, config: readonly string[] | null) => {
    const current = settingOf(config, READ_ONLY_SETTING);
    const saved = settingOf(config, SAVED_SETTING);
    if (saved === undefined) {
      // The database's entry is always marked (an original `on` must come back as `on`); a role's
      // only when it is changed.
      if (role !== undefined && current !== undefined && meansTrue(current)) return;
      const original = `${owner}/${current ?? UNSET}`;
      statements.push({ sql: setSql(database, role, SAVED_SETTING, original), marker: true, role });
    }
    if (current === undefined || !meansTrue(current)) {
      statements.push({ sql: setSql(database, role, READ_ONLY_SETTING, 'on'), marker: false, role });
    }
  };
  const inDatabase = entries.filter((e) => e.database_oid === databaseOid);
  fence(undefined, inDatabase.find((e) => e.role_oid === '0')?.config ?? null);
  const roleEntries = new Map(inDatabase.filter((e) => e.role_oid !== '0').map((e) => [e.role_oid, e]));
  const everywhere = entries.filter((e) => e.database_oid === '0' && e.role_oid !== '0');
  const writable = (config: readonly string[] | null) => {
    const value = settingOf(config, READ_ONLY_SETTING);
    return value !== undefined && !meansTrue(value);
  };
  for (const entry of roleEntries.values()) {
    if (entry.role === null) continue;
    const here = settingOf(entry.config, READ_ONLY_SETTING);
    const global = everywhere.find((e) => e.role_oid === entry.role_oid);
    const overrides = here !== undefined ? !meansTrue(here) : global !== undefined && writable(global.config);
    const saved = settingOf(entry.config, SAVED_SETTING);
    if (!overrides && saved === undefined) continue;
    if (overrides || (saved !== undefined && parseSaved(saved).owner === owner)) roles.push(entry.role);
    fence(entry.role, entry.config);
  }
  for (const entry of everywhere) {
    if (entry.role === null || roleEntries.has(entry.role_oid) || !writable(entry.config)) continue;
    roles.push(entry.role);
    fence(entry.role, null);
  }
  return { statements, roles: [...new Set(roles)].sort() };
}

/**
 * The unfreeze, from the entries as they are: every entry this fence saved gets its original back
 * (the setting's text, or no setting at all), then loses its marker; an entry left with nothing
 * disappears, as it was before. The database's entry without any marker was frozen by a user who
 * could not write one (or by an older pgferry): its setting is reset, as unfreeze always did.
 */
export function planUnfreeze(
  entries: readonly SettingsEntry[],
  databaseOid: string,
  database: string,
  owner: string,
): string[] {
  const statements: string[] = [];
  for (const entry of entries.filter((e) => e.database_oid === databaseOid)) {
    const role = entry.role_oid === '0' ? undefined : (entry.role ?? undefined);
    if (entry.role_oid !== '0' && role === undefined) continue;
    const saved = settingOf(entry.config, SAVED_SETTING);
    if (saved === undefined) {
      if (role === undefined && settingOf(entry.config, READ_ONLY_SETTING) !== undefined) {
        statements.push(resetSql(database, undefined, READ_ONLY_SETTING));
      }
      continue;
    }
    const { owner: savedBy, original } = parseSaved(saved);
    if (savedBy !== owner) continue;
    statements.push(
      original === UNSET
        ? resetSql(database, role, READ_ONLY_SETTING)
        : setSql(database, role, READ_ONLY_SETTING, original),
      resetSql(database, role, SAVED_SETTING),
    );
  }
  return statements;
}

/** The server's clock, as text (microseconds kept): the moment the fence's settings committed. */
export const CLOCK_NOW = 'SELECT clock_timestamp()::text AS at';

/**
 * Ends the client sessions of the database that began before the fence (they may hold the old,
 * writable default; a session begun after it reads the new one), whatever their application_name,
 * and lists them; walsenders and background workers are not client sessions and stay. Run again
 * until it lists nothing, it also confirms that the ended ones are gone. $1 database, $2 fence time,
 * $3 the pid of pgferry's own watch on the fence, spared.
 */
export const END_SESSIONS_BEFORE = `
  SELECT pid, usename AS "user", application_name AS application, client_addr::text AS address, state,
         pg_terminate_backend(pid) AS signalled
    FROM pg_stat_activity
   WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND pid <> $3
     AND backend_start < $2::timestamptz`;

/**
 * Takes the turn to freeze a database, or finds it taken: two migrations of one source freeze it
 * one after the other, so that neither ends the other's watch (their retries, on the same backoff,
 * would otherwise end each other's every attempt). Session-level, from the maintenance database:
 * it goes with the connection. $1 the key (freezeTurnKey).
 */
export const TRY_FREEZE_TURN = 'SELECT pg_try_advisory_lock($1::bigint) AS taken';

/** The advisory lock key of the freezes of one database. */
export function freezeTurnKey(database: string): string {
  return advisoryKey('freeze', database);
}

/** A row of END_SESSIONS_BEFORE. */
export interface SessionRow {
  readonly pid: number;
  readonly user: string | null;
  readonly application: string | null;
  readonly address: string | null;
  readonly state: string | null;
}

/** The client sessions of the database now, but ours: who might have written, for an error. $1 database. */
export const CLIENT_SESSIONS = `
  SELECT pid, usename AS "user", application_name AS application, client_addr::text AS address, state
    FROM pg_stat_activity
   WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()
   ORDER BY backend_start LIMIT 5`;

/** The watch's session: its pid (spared when the older sessions end), the database, and wal_level (a slot needs `logical`). */
export const WATCH_SESSION =
  "SELECT pg_backend_pid() AS pid, current_database() AS database, current_setting('wal_level') AS wal_level";

/** A row of WATCH_SESSION. */
export interface WatchSessionRow {
  readonly pid: number;
  readonly database: string;
  readonly wal_level: string;
}

/** How long creating the fence slot may wait for the transactions running on the server. */
export const SLOT_CREATE_TIMEOUT = "SET statement_timeout = '5s'";

/** How long peeking the fence slot may decode before the counters alone decide. */
export const SLOT_PEEK_TIMEOUT = "SET statement_timeout = '120s'";

/** Lifts the session's statement timeout again. */
export const NO_STATEMENT_TIMEOUT = 'SET statement_timeout = 0';

/**
 * The fence's logical slot in this database, with test_decoding: every transaction that commits in
 * the database from now on is decoded, its row changes named by table. $1 slot.
 */
export const CREATE_FENCE_SLOT =
  "SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'test_decoding')";

/**
 * A pgferry message, committed with synchronous_commit on before the slot is peeked: decoding reads
 * flushed WAL only, and a write committed with synchronous_commit off may not be flushed yet. Its
 * commit flushes everything written before it. A message changes no row: verifyFence passes it.
 */
export const FLUSH_BEFORE_PEEK: readonly string[] = [
  'BEGIN READ WRITE',
  'SET LOCAL synchronous_commit = on',
  "SELECT pg_logical_emit_message(true, 'pgferry', 'fence')",
  'COMMIT',
];

/** Whether the fence slot exists, as a logical slot of this database. $1 slot. */
export const FENCE_SLOT_EXISTS = `
  SELECT EXISTS (SELECT 1 FROM pg_replication_slots
                  WHERE slot_name = $1 AND database = current_database() AND slot_type = 'logical') AS present`;

/**
 * Drops the fence slot of a database (from any database of the server: dropping needs no decoding).
 * A slot in use is left; the next unfreeze or `pgferry cleanup` drops it. $1 slot, $2 database.
 */
export const DROP_FENCE_SLOT = `
  SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
   WHERE slot_name = $1 AND database = $2 AND NOT active`;

/**
 * The transactions the fence slot decoded that changed rows (pgferry's own cutover is a logical
 * message without any), oldest first: their xid, how many rows, which tables, and when they
 * committed. Peeking leaves the slot where it is, so a retry sees the same. $1 slot.
 */
export const FOREIGN_TRANSACTIONS = `
  WITH decoded AS (
    SELECT lsn, xid::text AS xid, data
      FROM pg_logical_slot_peek_changes($1, NULL, NULL,
             'include-xids', '1', 'skip-empty-xacts', '1', 'include-timestamp', '1')
  ), written AS (
    SELECT xid,
           count(*) FILTER (WHERE data LIKE 'table %') AS changes,
           array_agg(DISTINCT substring(data FROM '^table (.*?): [A-Z]+:'))
             FILTER (WHERE data LIKE 'table %') AS tables,
           max(substring(data FROM '^COMMIT [0-9]+ \\(at (.*)\\)$')) AS committed_at,
           max(lsn)::text AS lsn, min(lsn) AS first_lsn
      FROM decoded GROUP BY xid
  )
  SELECT xid, changes::int8::text AS changes, tables, committed_at, lsn, count(*) OVER ()::int AS transactions
    FROM written WHERE changes > 0 ORDER BY first_lsn LIMIT 10`;

/** A row of FOREIGN_TRANSACTIONS. */
export interface ForeignTransactionRow {
  readonly xid: string;
  readonly changes: string;
  readonly tables: string[] | null;
  readonly committed_at: string | null;
  readonly lsn: string;
  readonly transactions: number;
}

/**
 * Every table of the database that holds rows a session could write (tables, matviews, partitions;
 * unlogged ones too, which no slot sees; not temporary ones, which read-only sessions may use), and
 * the large objects, but not pgferry's own schema (the DDL capture's tables, which another
 * migration of the same database drops at its end while this one is frozen): its file (TRUNCATE,
 * VACUUM FULL and rewrites change it) and its write counters (rows inserted, updated and deleted,
 * committed or not: a session that wrote at all has passed the fence). A backend reports its
 * counters when it goes idle (at most about a second late) and when it exits, so an ended
 * session's writes are all in.
 */
export const TABLE_WRITES = `
  SELECT c.oid::int8::text AS oid, pg_relation_filenode(c.oid)::text AS filenode,
         (coalesce(s.n_tup_ins, 0) + coalesce(s.n_tup_upd, 0) + coalesce(s.n_tup_del, 0))::text AS writes
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
   WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't'
     AND (n.nspname NOT IN ('pg_catalog', 'information_schema', ${quoteLiteral(LEDGER_SCHEMA)})
          AND n.nspname NOT LIKE 'pg\\_toast%'
          OR c.oid IN ('pg_catalog.pg_largeobject'::regclass, 'pg_catalog.pg_largeobject_metadata'::regclass))
   ORDER BY c.oid`;

/** A row of TABLE_WRITES. */
export interface TableWritesRow {
  readonly oid: string;
  readonly filenode: string | null;
  readonly writes: string;
}

/** Tables by oid, as a person reads them. $1 oids (text[]). */
export const TABLE_NAMES = `
  SELECT c.oid::int8::text AS oid, format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = ANY ($1::oid[])`;
