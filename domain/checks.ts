import type { CheckResult, MigrationMode } from './migration';

/** How much a failed check matters: `error` blocks the migration, `warning` only informs. */
export type CheckSeverity = CheckResult['severity'];

/** One rule of the preflight catalog: what it makes sure of, how much it matters, and the fix. */
export interface CheckDefinition {
  /** What a passing check means, as one sentence. */
  readonly title: string;
  /** The severity in each mode where the check runs (a rule can block online and only inform offline). */
  readonly severity: Readonly<Partial<Record<MigrationMode, CheckSeverity>>>;
  /** How to make the check pass, said to the person who reads the report. */
  readonly fix: string;
}

/** The comment prefix pgferry stamps on a database it provisioned: such a target may be resumed. */
export const PGFERRY_MARKER_PREFIX = 'pgferry:';

/** Transactions open longer than this many minutes are reported: a logical slot waits for them to end. */
export const LONG_TRANSACTION_MINUTES = 5;

/** Replication slots an online migration takes on the source: one logical slot, reused by the subscription. */
export const REQUIRED_REPLICATION_SLOTS = 1;

/**
 * WAL senders an online migration needs on the source: the replication connection that creates the
 * slot hands over to the subscription's apply worker, so one free sender is enough at any moment.
 */
export const REQUIRED_WAL_SENDERS = 1;

const both = (severity: CheckSeverity) => ({ offline: severity, online: severity });
const onlineOnly = (severity: CheckSeverity) => ({ online: severity });

/**
 * The catalog of preflight checks, in the order a report lists them. Ids are a stable contract:
 * the CLI, tests and any automation branch on them, never on message text.
 */
export const CHECKS = {
  'connect.source': {
    title: 'pgferry can connect to the source database.',
    severity: both('error'),
    fix: "check the source URL, that the server runs and accepts the worker's connections, and the password",
  },
  'connect.target': {
    title:
      "pgferry can connect to the target server (its maintenance database 'postgres', and the target database when it exists).",
    severity: both('error'),
    fix: "check the target URL, that the server runs and accepts the worker's connections, and the password",
  },
  'source.same-as-target': {
    title: 'The source and the target are different databases.',
    severity: both('error'),
    fix: 'name another target database (or another server): a database cannot be migrated onto itself',
  },
  'version.target-major': {
    title: "The target server's major version is the source's or newer.",
    severity: both('error'),
    fix: 'use a target server of the same or a newer PostgreSQL major version: pg_dump output and logical replication do not go to older majors',
  },
  'source.writable': {
    title:
      "The source database takes an online migration's set-up: it is on a primary server and not read-only for the source user.",
    severity: onlineOnly('error'),
    fix: "migrate from the database's primary. A database that a completed migration retired stays read-only on purpose: its primary is now that migration's target. Otherwise lift the read-only default (ALTER DATABASE … RESET default_transaction_read_only, or ALTER ROLE … RESET it), or migrate offline",
  },
  'wal-level.logical': {
    title: 'The source server runs with wal_level = logical.',
    severity: onlineOnly('error'),
    fix: "set wal_level = logical on the source (ALTER SYSTEM SET wal_level = 'logical') and restart it, or migrate offline",
  },
  'replication.slots-free': {
    title: 'The source server has a free replication slot.',
    severity: onlineOnly('error'),
    fix: 'raise max_replication_slots on the source (needs a restart), or drop replication slots that are no longer used',
  },
  'replication.senders-free': {
    title: 'The source server has a free WAL sender.',
    severity: onlineOnly('error'),
    fix: 'raise max_wal_senders on the source (needs a restart), or end replication connections that are no longer needed',
  },
  'replication.rights': {
    title: 'The source user may replicate: it has the REPLICATION attribute or is a superuser.',
    severity: onlineOnly('error'),
    fix: 'ALTER ROLE <source user> REPLICATION on the source (or connect as a superuser), or migrate offline',
  },
  'source.privileges': {
    title:
      'The source user may do what the migration asks of the source: read every table and sequence; offline with the source frozen, own the database (through membership) and end its sessions (pg_signal_backend); online, be a superuser (a publication FOR ALL TABLES and the event triggers that capture schema changes).',
    severity: both('error'),
    fix: 'run the statements the check names on the source, as a superuser or the service admin; or connect to the source as a superuser',
  },
  'replication.wal-keep-limit': {
    title:
      'The source gives up a replication slot that falls too far behind (max_slot_wal_keep_size is set), rather than keep WAL until its disk fills.',
    severity: onlineOnly('warning'),
    fix: "set max_slot_wal_keep_size on the source to what its disk can spare (ALTER SYSTEM SET max_slot_wal_keep_size = '50GB'; SELECT pg_reload_conf()): a slot left that far behind is then lost instead of the server; pgferry warns at half of it (--max-retained-wal)",
  },
  'tables.replica-identity': {
    title: 'Every source table has a primary key or a replica identity, so updates and deletes replicate.',
    severity: onlineOnly('error'),
    fix: 'add a primary key to each named table, or ALTER TABLE … REPLICA IDENTITY USING INDEX <unique index> (or FULL, slower), or migrate offline',
  },
  'extensions.available': {
    title: 'Every extension the source database uses is available on the target server.',
    severity: both('error'),
    fix: 'install the named extensions on the target server (the OS package that ships them) before migrating',
  },
  'target.database': {
    title: 'The target database is absent, empty, or one pgferry provisioned (so a migration can resume).',
    severity: both('error'),
    fix: 'name a target database that does not exist yet or is empty, or drop this one first',
  },
  'transactions.long-running': {
    title: `No transaction on the source has been open for more than ${LONG_TRANSACTION_MINUTES} minutes.`,
    severity: both('warning'),
    fix: 'let the named transactions finish or end them (pg_terminate_backend): they hold back vacuum, and a logical slot waits for them before it can be created',
  },
  'transactions.prepared': {
    title: 'The source server holds no prepared (two-phase) transactions.',
    severity: { offline: 'warning', online: 'error' },
    fix: 'COMMIT PREPARED or ROLLBACK PREPARED the named transactions: a logical slot cannot be created while they are open, and their changes are not yet visible to a copy',
  },
  'encoding.match': {
    title: "The target database's encoding is the source database's.",
    severity: both('error'),
    fix: "create the target database with the source's encoding (CREATE DATABASE … ENCODING … TEMPLATE template0), or let pgferry create it on a server whose template1 has that encoding",
  },
  'collations.available': {
    title: "Every collation the source's columns, indexes and domains use exists on the target server.",
    severity: both('error'),
    fix: 'install the named locales on the target host (or use a PostgreSQL build with the same ICU) and import them (pg_import_system_collations), or change those columns to an available collation first',
  },
  'large-objects': {
    title: 'The source database holds no large objects (logical replication does not carry them).',
    severity: onlineOnly('warning'),
    fix: 'nothing to do before the migration: large objects are copied at cutover, so changes to them between copy and cutover are not replicated',
  },
  'tables.unlogged': {
    title: 'The source database holds no unlogged tables (logical replication does not carry them).',
    severity: onlineOnly('warning'),
    fix: 'changes to the named tables after the copy are not replicated: make them logged (ALTER TABLE … SET LOGGED) if their changes matter, or accept their snapshot',
  },
  'target.password-logs': {
    title:
      "The subscription's password stays out of the target's logs and statistics: the target user may turn off, for its session, whatever would keep the CREATE SUBSCRIPTION statement (pg_stat_statements.track_utility, log_statement, log_min_duration_statement and the sampled and error statement logs).",
    severity: onlineOnly('warning'),
    fix: 'connect to the target as a superuser, or (PostgreSQL 15+) GRANT SET ON PARAMETER on the named settings to the target user; or let the target server reach the source without a password (a pg_hba.conf cert rule, or a password file of its OS user) so the statement carries none. Otherwise, after the migration, remove the statement from pg_stat_statements (SELECT pg_stat_statements_reset()) and the server log, and change the source password. (auto_explain logs plans of planned statements only, never this one.)',
  },
  'roles.present': {
    title:
      'Every role that owns objects or appears in grants or policies of the source database exists on the target server.',
    severity: both('error'),
    fix: 'give --roles copy to let pgferry copy them (without passwords unless --role-passwords), or create the named roles on the target server first (roles belong to the cluster, not the database; pg_dumpall --roles-only shows their definitions)',
  },
  'target.privileges': {
    title:
      'The target user may do what the migration asks of the target: create the database (CREATEDB) or CREATE in it, create roles (CREATEROLE, with roles copy), SET session_replication_role, act as (SET and INHERIT) every role that owns objects of the source database, and, online, create a subscription (pg_create_subscription).',
    severity: both('error'),
    fix: 'run the statements the check names on the target, as a superuser or the service admin; or connect to the target as a superuser',
  },
} as const satisfies Record<string, CheckDefinition>;

/** The stable id of a preflight check, e.g. `wal-level.logical`. */
export type CheckId = keyof typeof CHECKS;

/** Every check id, in catalog order. */
export const CHECK_IDS = Object.keys(CHECKS) as CheckId[];

/** The severity of a check in a mode; undefined when the check does not run in that mode. */
export function checkSeverity(id: CheckId, mode: MigrationMode): CheckSeverity | undefined {
  const severity: CheckDefinition['severity'] = CHECKS[id].severity;
  return severity[mode];
}

/** True when the check runs in the mode (online-only checks say nothing about an offline migration). */
export function appliesTo(id: CheckId, mode: MigrationMode): boolean {
  return checkSeverity(id, mode) !== undefined;
}

/** What a check found, before the catalog adds its id, severity and fix. */
export interface CheckOutcome {
  readonly ok: boolean;
  readonly message: string;
  readonly items?: readonly string[];
  /** A fix more precise than the catalog's (e.g. the one a classified connection error carries). */
  readonly fix?: string;
}

/**
 * Builds a report entry from the catalog: the fix is given only for a failed check, so a report
 * reads as a to-do list. A check used in a mode where it does not apply is a programming error.
 */
export function checkResult(id: CheckId, mode: MigrationMode, outcome: CheckOutcome): CheckResult {
  const severity = checkSeverity(id, mode);
  if (severity === undefined) throw new Error(`check ${id} does not apply to ${mode} migrations`);
  const result: CheckResult = { id, severity, ok: outcome.ok, message: outcome.message };
  if (!outcome.ok) result.fix = outcome.fix ?? CHECKS[id].fix;
  if (outcome.items !== undefined && outcome.items.length > 0) result.items = [...outcome.items];
  return result;
}

/** Counts the failed checks by severity; `ok` is false when any error-severity check failed. */
export function summarize(checks: readonly CheckResult[]): { ok: boolean; errors: number; warnings: number } {
  let errors = 0;
  let warnings = 0;
  for (const check of checks) {
    if (check.ok) continue;
    if (check.severity === 'error') errors += 1;
    else warnings += 1;
  }
  return { ok: errors === 0, errors, warnings };
}
