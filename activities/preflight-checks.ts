import {
  LONG_TRANSACTION_MINUTES,
  PGFERRY_MARKER_PREFIX,
  REQUIRED_REPLICATION_SLOTS,
  REQUIRED_WAL_SENDERS,
  type CheckId,
  type CheckOutcome,
} from '../domain/checks';
import { connectionLabel, sameDatabase, type ConnSpec } from '../domain/connection';
import type { PgferryError } from '../domain/errors';
import type { MigrationMode, ServerFacts } from '../domain/migration';
import { formatByteSize } from '../domain/byte-size';
import type { DiskSpace } from './disk';
import type { PasswordKeeper } from './preflight-password-logs';
import type { SourceOwner, SourceRights, TargetRights } from './preflight-privileges';

/** A collation the source names, as the target is asked about it. */
export interface UsedCollation {
  readonly key: string;
  readonly schema: string;
  readonly name: string;
  readonly provider: string;
  readonly collate: string | null;
  readonly ctype: string | null;
  readonly system: boolean;
}

/** What preflight learns from the source database. */
export interface SourceFacts {
  readonly version: string;
  readonly major: number;
  readonly walLevel: string;
  /** Whether the source user's sessions start read-only (the database's or the role's default). */
  readonly readOnly: boolean;
  /** Whether the source is a standby. */
  readonly inRecovery: boolean;
  /** Whether a write fence of pgferry's (a migration's freeze) set the read-only default. */
  readonly fenced: boolean;
  readonly freeSlots: number;
  readonly maxSlots: number;
  readonly freeSenders: number;
  readonly maxSenders: number;
  /** max_slot_wal_keep_size in bytes; -1 when unbounded. */
  readonly maxSlotWalKeepBytes: number;
  /** The free space on the volume of the source's WAL, when the worker can read it. */
  readonly disk: DiskSpace | undefined;
  readonly superuser: boolean;
  readonly replication: boolean;
  readonly encoding: string;
  readonly serverId: string | undefined;
  readonly largeObjects: number;
  readonly withoutIdentity: string[];
  readonly unlogged: string[];
  readonly extensions: string[];
  readonly collations: UsedCollation[];
  readonly roles: string[];
  /** The roles that own the database's objects, and what the source user may do. */
  readonly owners: SourceOwner[];
  readonly rights: SourceRights;
  readonly longTransactions: string[];
  readonly preparedTransactions: string[];
}

/** What preflight learns from the target server (through its maintenance database). */
export interface TargetServerFacts {
  readonly version: string;
  readonly major: number;
  readonly serverId: string | undefined;
  readonly templateEncoding: string;
  readonly databaseExists: boolean;
  readonly databaseEncoding: string | null;
  readonly databaseComment: string | null;
  /** Of the source's roles and extensions, those the target lacks; undefined when the source was not read. */
  readonly missingRoles: string[] | undefined;
  readonly missingExtensions: string[] | undefined;
  /** Of the source's collations, those the maintenance database lacks (a new database is made like it). */
  readonly missingCollations: string[] | undefined;
  /** The settings that could keep the subscription's password on the target, as the target user sees them. */
  readonly passwordKeepers: readonly PasswordKeeper[];
  /** What the target user may do, and how it stands to the source's owners. */
  readonly rights: TargetRights;
}

/** What preflight learns inside the target database, when it exists. */
export interface TargetDatabaseFacts {
  readonly empty: boolean;
  readonly missingCollations: string[] | undefined;
}

/** Joins names for a message, shortening long lists (the items carry all of them). */
function list(items: readonly string[], max = 5): string {
  const head = items.slice(0, max).join(', ');
  return items.length > max ? `${head} and ${items.length - max} more` : head;
}

/** The checks that only need the source: replication readiness, transactions, what replication misses. */
export function sourceChecks(mode: MigrationMode, s: SourceFacts, user: string): [CheckId, CheckOutcome][] {
  return [...(mode === 'online' ? replicationChecks(s, user) : []), ...transactionChecks(s)];
}

/**
 * An online migration creates its publication and slot, and captures schema changes, on the source
 * database: a standby or a read-only default (often the fence of a migration that retired it)
 * would refuse them half way.
 */
function sourceWritable(s: SourceFacts, user: string): CheckOutcome {
  if (s.inRecovery) return { ok: false, message: 'the source server is a standby (in recovery)' };
  if (!s.readOnly) return { ok: true, message: `the source database takes writes from "${user}"` };
  return {
    ok: false,
    message: s.fenced
      ? `the source database is read-only for "${user}": a pgferry write fence set default_transaction_read_only = on (a migration froze this database, and a completed one leaves it so: it was retired)`
      : `the source database is read-only for "${user}" (default_transaction_read_only = on, set on the database or the role)`,
  };
}

/** The checks of an online migration's source: replication readiness, and what replication misses. */
function replicationChecks(s: SourceFacts, user: string): [CheckId, CheckOutcome][] {
  return [
    ['source.writable', sourceWritable(s, user)],
    [
      'wal-level.logical',
      {
        ok: s.walLevel === 'logical',
        message: `the source runs with wal_level = ${s.walLevel}${s.walLevel === 'logical' ? '' : ', and logical replication needs logical'}`,
      },
    ],
    [
      'replication.slots-free',
      {
        ok: s.freeSlots >= REQUIRED_REPLICATION_SLOTS,
        message: `${Math.max(s.freeSlots, 0)} of ${s.maxSlots} replication slots are free on the source; the migration needs ${REQUIRED_REPLICATION_SLOTS}`,
      },
    ],
    [
      'replication.senders-free',
      {
        ok: s.freeSenders >= REQUIRED_WAL_SENDERS,
        message: `${Math.max(s.freeSenders, 0)} of ${s.maxSenders} WAL senders are free on the source; the migration needs ${REQUIRED_WAL_SENDERS}`,
      },
    ],
    [
      'replication.rights',
      {
        ok: s.superuser || s.replication,
        message: s.superuser
          ? `the source user "${user}" is a superuser`
          : s.replication
            ? `the source user "${user}" has the REPLICATION attribute`
            : `the source user "${user}" has neither REPLICATION nor superuser`,
      },
    ],
    ['replication.wal-keep-limit', walKeepLimit(s)],
    [
      'tables.replica-identity',
      {
        ok: s.withoutIdentity.length === 0,
        message:
          s.withoutIdentity.length === 0
            ? 'every table has a primary key or a replica identity'
            : `${s.withoutIdentity.length} table(s) have neither a primary key nor a replica identity, so their updates and deletes cannot replicate: ${list(s.withoutIdentity)}`,
        items: s.withoutIdentity,
      },
    ],
    [
      'large-objects',
      {
        ok: s.largeObjects === 0,
        message:
          s.largeObjects === 0
            ? 'the source database holds no large objects'
            : `the source database holds ${s.largeObjects} large object(s): they are copied at cutover, not replicated`,
      },
    ],
    [
      'tables.unlogged',
      {
        ok: s.unlogged.length === 0,
        message:
          s.unlogged.length === 0
            ? 'the source database holds no unlogged tables'
            : `${s.unlogged.length} unlogged table(s) are copied once but their later changes are not replicated: ${list(s.unlogged)}`,
        items: s.unlogged,
      },
    ],
  ];
}

/**
 * Whether the source gives up a slot that falls too far behind (max_slot_wal_keep_size) rather than
 * keep WAL until its disk fills, with the free disk where the worker can read it.
 */
function walKeepLimit(s: SourceFacts): CheckOutcome {
  const disk = s.disk
    ? `; ${formatByteSize(s.disk.freeBytes)} free of ${formatByteSize(s.disk.totalBytes)} on the source's WAL volume (${s.disk.path})`
    : "; the source's free disk cannot be read from the worker (only a server on the worker's host, seen as a superuser or pg_read_all_settings)";
  if (s.maxSlotWalKeepBytes < 0) {
    return {
      ok: false,
      message: `max_slot_wal_keep_size is -1 (unbounded) on the source: while the target is behind (a stalled apply, a long wait at the gate) the migration's slot holds back WAL until the source's disk fills${disk}`,
    };
  }
  return {
    ok: true,
    message: `max_slot_wal_keep_size is ${formatByteSize(s.maxSlotWalKeepBytes)} on the source: a slot further behind is given up (the migration then waits at its gate for a rejection, to be started again)${disk}`,
  };
}

/** The checks of long-running and prepared transactions on the source, in either mode. */
function transactionChecks(s: SourceFacts): [CheckId, CheckOutcome][] {
  return [
    [
      'transactions.long-running',
      {
        ok: s.longTransactions.length === 0,
        message:
          s.longTransactions.length === 0
            ? `no transaction on the source has been open for more than ${LONG_TRANSACTION_MINUTES} minutes`
            : `${s.longTransactions.length} transaction(s) on the source have been open for more than ${LONG_TRANSACTION_MINUTES} minutes: ${list(s.longTransactions)}`,
        items: s.longTransactions,
      },
    ],
    [
      'transactions.prepared',
      {
        ok: s.preparedTransactions.length === 0,
        message:
          s.preparedTransactions.length === 0
            ? 'the source server holds no prepared transactions'
            : `the source server holds ${s.preparedTransactions.length} prepared transaction(s): ${list(s.preparedTransactions)}`,
        items: s.preparedTransactions,
      },
    ],
  ];
}

/** The checks that compare the source with the target server. */
export function pairChecks(
  s: SourceFacts,
  t: TargetServerFacts,
  targetDb: TargetDatabaseFacts | undefined,
  copiesRoles = false,
): [CheckId, CheckOutcome][] {
  const targetEncoding = t.databaseEncoding ?? t.templateEncoding;
  const encodingOrigin = t.databaseExists
    ? 'the target database'
    : "the target server's template1 (a new database's encoding)";
  // Collations are per database: ask the target database when it exists, else the maintenance
  // database, which like template1 holds what initdb imported.
  const collations = targetDb?.missingCollations ?? t.missingCollations ?? [];
  const roles = t.missingRoles ?? [];
  const extensions = t.missingExtensions ?? [];
  return [
    [
      'version.target-major',
      {
        ok: t.major >= s.major,
        message: `the source runs PostgreSQL ${s.version} and the target ${t.version}${t.major >= s.major ? '' : ': the target is an older major'}`,
      },
    ],
    [
      'extensions.available',
      {
        ok: extensions.length === 0,
        message:
          extensions.length === 0
            ? `every extension of the source database (${list(s.extensions)}) is available on the target server`
            : `the source database uses extension(s) the target server does not have: ${list(extensions)}`,
        items: extensions,
      },
    ],
    [
      'encoding.match',
      {
        ok: targetEncoding === s.encoding,
        message: `the source database is ${s.encoding}; ${encodingOrigin} is ${targetEncoding}`,
      },
    ],
    [
      'collations.available',
      {
        ok: collations.length === 0,
        message:
          collations.length === 0
            ? 'every collation the source names exists on the target'
            : `the source names collation(s) the target does not have: ${list(collations)}`,
        items: collations,
      },
    ],
    [
      'roles.present',
      {
        // With roles copy, the migration creates them before the schema.
        ok: roles.length === 0 || copiesRoles,
        message:
          roles.length === 0
            ? 'every role the source database names exists on the target server'
            : `the source database names role(s) that the target server does not have: ${list(roles)}${copiesRoles ? '; they are copied before the schema (roles copy)' : ''}`,
        items: roles,
      },
    ],
  ];
}

/** The target database check: absent, empty, or ours (a resumed migration) is fine; anything else is someone's data. */
export function targetDatabaseCheck(
  spec: ConnSpec,
  t: TargetServerFacts,
  db: TargetDatabaseFacts | undefined,
): CheckOutcome | undefined {
  const name = `"${spec.database}"`;
  if (!t.databaseExists)
    return { ok: true, message: `the target database ${name} does not exist yet; it will be created` };
  if (t.databaseComment?.startsWith(PGFERRY_MARKER_PREFIX)) {
    return {
      ok: true,
      message: `the target database ${name} was provisioned by pgferry (${t.databaseComment}); the migration resumes into it`,
    };
  }
  // Whether it is empty needs a connection to it; without one the check is skipped, not passed.
  if (db === undefined) return undefined;
  return db.empty
    ? { ok: true, message: `the target database ${name} exists and is empty` }
    : {
        ok: false,
        message: `the target database ${name} already holds objects, and pgferry did not create it`,
        items: [spec.database],
      };
}

/** The failed connect check of a connection error, with that error's own message and fix. */
export function connectFailure(error: PgferryError): CheckOutcome {
  return { ok: false, message: error.message, ...(error.fix === undefined ? {} : { fix: error.fix }) };
}

/** The facts of a server for the report: reached, with its version when it was read. */
export function serverFacts(
  facts: { version: string; major: number; disk?: DiskSpace | undefined } | undefined,
  databaseExists: boolean,
): ServerFacts {
  return facts
    ? {
        reachable: true,
        version: facts.version,
        major: facts.major,
        databaseExists,
        ...(facts.disk ? { disk: { ...facts.disk } } : {}),
      }
    : { reachable: true, databaseExists };
}
/**
 * Whether source and target are one database: the URLs say so, or both lead to the same running
 * server (same system identifier and start time, whatever host name reached it) and name the same
 * database. Undefined when that cannot be known because a server was not reached.
 */
export function sameServerDatabase(
  sourceSpec: ConnSpec,
  targetSpec: ConnSpec,
  s: SourceFacts | undefined,
  t: TargetServerFacts | undefined,
): CheckOutcome | undefined {
  const failed = (why: string): CheckOutcome => ({
    ok: false,
    message: `the source and the target are the same database ${connectionLabel(sourceSpec)}${why}`,
    items: [connectionLabel(targetSpec)],
  });
  if (sameDatabase(sourceSpec, targetSpec)) return failed('');
  if (s === undefined || t === undefined) return undefined;
  if (s.serverId !== undefined && s.serverId === t.serverId && sourceSpec.database === targetSpec.database) {
    return failed(` (${connectionLabel(targetSpec)} reaches the same server)`);
  }
  return { ok: true, message: 'the source and the target are different databases' };
}
