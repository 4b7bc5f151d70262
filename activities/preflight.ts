import type { Client } from 'pg';
import {
  checkResult,
  CHECK_IDS,
  LONG_TRANSACTION_MINUTES,
  PGFERRY_MARKER_PREFIX,
  REQUIRED_REPLICATION_SLOTS,
  REQUIRED_WAL_SENDERS,
  summarize,
  type CheckId,
  type CheckOutcome,
} from '../domain/checks';
import {
  connectionLabel,
  parseConnectionUrl,
  sameDatabase,
  withDatabase,
  type ConnSpec,
} from '../domain/connection';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { CheckResult, MigrationMode, PreflightReport, ServerFacts } from '../domain/migration';
import type { ActivityDeps } from './deps';
import { isDatabaseEmpty, serverVersion } from './pg/catalog';
import { withClient, withTransaction, type Env } from './pg/connect';
import { classifyPgError } from './pg/errors';
import {
  LONG_TRANSACTIONS,
  PREPARED_TRANSACTIONS,
  SOURCE_COLLATIONS,
  SOURCE_EXTENSIONS,
  SOURCE_FACTS,
  SOURCE_ROLES,
  TABLES_WITHOUT_REPLICA_IDENTITY,
  TARGET_COLLATIONS_FOUND,
  TARGET_EXTENSIONS_AVAILABLE,
  TARGET_ROLES_FOUND,
  TARGET_SERVER_FACTS,
  UNLOGGED_TABLES,
} from './pg/preflight-sql';
import { MAINTENANCE_DB } from './provision/local';

// Read only, so that preflight cannot change either server even by mistake; short timeouts, so that
// a lock or a stuck server turns into an error instead of a preflight that never answers.
const READ_ONLY = 'BEGIN TRANSACTION READ ONLY';
const SESSION_LIMITS = ["SET LOCAL statement_timeout = '30s'", "SET LOCAL lock_timeout = '5s'"];

/** A collation the source names, as the target is asked about it. */
interface UsedCollation {
  readonly key: string;
  readonly schema: string;
  readonly name: string;
  readonly provider: string;
  readonly collate: string | null;
  readonly ctype: string | null;
  readonly system: boolean;
}

/** What preflight learns from the source database. */
interface SourceFacts {
  readonly version: string;
  readonly major: number;
  readonly walLevel: string;
  readonly freeSlots: number;
  readonly maxSlots: number;
  readonly freeSenders: number;
  readonly maxSenders: number;
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
  readonly longTransactions: string[];
  readonly preparedTransactions: string[];
}

/** What preflight learns from the target server (through its maintenance database). */
interface TargetServerFacts {
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
}

/** What preflight learns inside the target database, when it exists. */
interface TargetDatabaseFacts {
  readonly empty: boolean;
  readonly missingCollations: string[] | undefined;
}

/** A connection's outcome: the facts read through it, or why it could not be made. */
type Reached<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: PgferryError };

/**
 * Connects, reads, and closes. A failure to connect comes back as a value (it becomes a failed
 * `connect.*` check); a failure after connecting is a real fault and is thrown.
 */
async function reach<T>(
  spec: ConnSpec,
  env: Env,
  field: string,
  read: (client: Client) => Promise<T>,
): Promise<Reached<T>> {
  let connected = false;
  try {
    const value = await withClient(spec, env, field, (client) => {
      connected = true;
      return withTransaction(
        client,
        async () => {
          for (const limit of SESSION_LIMITS) await client.query(limit);
          return read(client);
        },
        READ_ONLY,
      );
    });
    return { ok: true, value };
  } catch (err) {
    if (connected) throw err;
    const error = classifyPgError(err, { field, connecting: spec });
    if (error instanceof PgferryError) return { ok: false, error };
    throw error;
  }
}

/** Runs a query that returns names and gives the names. */
async function names(client: Client, sql: string, params: unknown[] = []): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(sql, params);
  return rows.map((r) => r.name);
}

/** The server's identity: its system identifier and start time, so two URLs can be found to be one server. */
function serverIdentity(systemId: string | null, startedAt: string): string | undefined {
  return systemId === null ? undefined : `${systemId}@${startedAt}`;
}

async function readSource(client: Client): Promise<SourceFacts> {
  const { version, major } = await serverVersion(client);
  const { rows } = await client.query<{
    wal_level: string;
    max_slots: number;
    used_slots: number;
    max_senders: number;
    used_senders: number;
    superuser: boolean;
    replication: boolean;
    encoding: string;
    system_id: string | null;
    started_at: string;
    large_objects: string;
  }>(SOURCE_FACTS);
  const f = rows[0];
  if (f === undefined) throw new Error('the source did not describe itself (no row for current_user)');
  const collations = await client.query<UsedCollation>(SOURCE_COLLATIONS);
  const long = await client.query<{
    pid: number;
    user: string | null;
    database: string | null;
    minutes: number;
  }>(LONG_TRANSACTIONS, [LONG_TRANSACTION_MINUTES]);
  const prepared = await client.query<{ gid: string; database: string; user: string }>(PREPARED_TRANSACTIONS);
  return {
    version,
    major,
    walLevel: f.wal_level,
    freeSlots: f.max_slots - f.used_slots,
    maxSlots: f.max_slots,
    freeSenders: f.max_senders - f.used_senders,
    maxSenders: f.max_senders,
    superuser: f.superuser,
    replication: f.replication,
    encoding: f.encoding,
    serverId: serverIdentity(f.system_id, f.started_at),
    largeObjects: Number(f.large_objects),
    withoutIdentity: await names(client, TABLES_WITHOUT_REPLICA_IDENTITY),
    unlogged: await names(client, UNLOGGED_TABLES),
    extensions: await names(client, SOURCE_EXTENSIONS),
    collations: collations.rows,
    roles: await names(client, SOURCE_ROLES),
    longTransactions: long.rows.map(
      (t) => `pid ${t.pid} (${t.user ?? '?'} on ${t.database ?? '?'}, open ${t.minutes} min)`,
    ),
    preparedTransactions: prepared.rows.map((t) => `${t.gid} (${t.user} on ${t.database})`),
  };
}

/** The source's collations that the connected database does not have. */
async function missingCollations(client: Client, used: readonly UsedCollation[]): Promise<string[]> {
  if (used.length === 0) return [];
  const found = new Set(
    await names(client, `SELECT key AS name FROM (${TARGET_COLLATIONS_FOUND}) AS f`, [JSON.stringify(used)]),
  );
  return used.filter((c) => !found.has(c.key)).map((c) => c.key);
}

async function readTargetServer(
  client: Client,
  database: string,
  source: SourceFacts | undefined,
): Promise<TargetServerFacts> {
  const { version, major } = await serverVersion(client);
  const { rows } = await client.query<{
    system_id: string | null;
    started_at: string;
    template_encoding: string;
    database_exists: boolean;
    database_encoding: string | null;
    database_comment: string | null;
  }>(TARGET_SERVER_FACTS, [database]);
  const f = rows[0];
  if (f === undefined) throw new Error('the target did not describe itself');
  const missing = async (sql: string, wanted: readonly string[]) => {
    if (wanted.length === 0) return [];
    const found = new Set(await names(client, sql, [wanted]));
    return wanted.filter((name) => !found.has(name));
  };
  return {
    version,
    major,
    serverId: serverIdentity(f.system_id, f.started_at),
    templateEncoding: f.template_encoding,
    databaseExists: f.database_exists,
    databaseEncoding: f.database_encoding,
    databaseComment: f.database_comment,
    missingRoles: source && (await missing(TARGET_ROLES_FOUND, source.roles)),
    missingExtensions: source && (await missing(TARGET_EXTENSIONS_AVAILABLE, source.extensions)),
    missingCollations: source && (await missingCollations(client, source.collations)),
  };
}

/** Joins names for a message, shortening long lists (the items carry all of them). */
function list(items: readonly string[], max = 5): string {
  const head = items.slice(0, max).join(', ');
  return items.length > max ? `${head} and ${items.length - max} more` : head;
}

/** The checks that only need the source: replication readiness, transactions, what replication misses. */
function sourceChecks(mode: MigrationMode, s: SourceFacts, user: string): [CheckId, CheckOutcome][] {
  const out: [CheckId, CheckOutcome][] = [];
  if (mode === 'online') {
    out.push(
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
    );
  }
  out.push(
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
  );
  return out;
}

/** The checks that compare the source with the target server. */
function pairChecks(
  s: SourceFacts,
  t: TargetServerFacts,
  targetDb: TargetDatabaseFacts | undefined,
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
        ok: roles.length === 0,
        message:
          roles.length === 0
            ? 'every role the source database names exists on the target server'
            : `the source database names role(s) that the target server does not have: ${list(roles)}`,
        items: roles,
      },
    ],
  ];
}

/** The target database check: absent, empty, or ours (a resumed migration) is fine; anything else is someone's data. */
function targetDatabaseCheck(
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
function connectFailure(error: PgferryError): CheckOutcome {
  return { ok: false, message: error.message, ...(error.fix === undefined ? {} : { fix: error.fix }) };
}

/**
 * Runs every preflight check of the mode against both servers and reports them; changes nothing
 * on either. A server that cannot be reached gives a failed `connect.*` check, and the checks that
 * need it are left out of the report (skipped, not passed).
 */
export async function runPreflight(
  deps: ActivityDeps,
  input: { source: string; target: string; mode: 'offline' | 'online' },
): Promise<PreflightReport> {
  const { mode } = input;
  const sourceSpec = parseConnectionUrl(input.source, 'source');
  const targetSpec = parseConnectionUrl(input.target, 'target');
  const found = new Map<CheckId, CheckOutcome>();

  const source = await reach(sourceSpec, deps.env, 'source', readSource);
  const s = source.ok ? source.value : undefined;
  found.set(
    'connect.source',
    source.ok
      ? {
          ok: true,
          message: `connected to ${connectionLabel(sourceSpec)} (PostgreSQL ${source.value.version})`,
        }
      : connectFailure(source.error),
  );

  // The target database may not exist yet: server-wide facts come from the maintenance database.
  // A server without it (or refusing it) may still let us into the target database itself.
  const readServer = (client: Client) => readTargetServer(client, targetSpec.database, s);
  let target = await reach(withDatabase(targetSpec, MAINTENANCE_DB), deps.env, 'target', readServer);
  if (!target.ok && targetSpec.database !== MAINTENANCE_DB && FALLBACK_CODES.has(target.error.code)) {
    const direct = await reach(targetSpec, deps.env, 'target', readServer);
    if (direct.ok) target = direct;
  }
  const t = target.ok ? target.value : undefined;

  let targetDb: Reached<TargetDatabaseFacts> | undefined;
  if (t?.databaseExists) {
    targetDb = await reach(targetSpec, deps.env, 'target', async (client) => ({
      empty: await isDatabaseEmpty(client),
      missingCollations: s && (await missingCollations(client, s.collations)),
    }));
  }
  const db = targetDb?.ok ? targetDb.value : undefined;
  if (!target.ok) found.set('connect.target', connectFailure(target.error));
  else if (targetDb !== undefined && !targetDb.ok)
    found.set('connect.target', connectFailure(targetDb.error));
  else {
    const where = t?.databaseExists
      ? connectionLabel(targetSpec)
      : connectionLabel(withDatabase(targetSpec, MAINTENANCE_DB));
    found.set('connect.target', {
      ok: true,
      message: `connected to ${where} (PostgreSQL ${t?.version ?? '?'})`,
    });
  }

  const same = sameServerDatabase(sourceSpec, targetSpec, s, t);
  if (same !== undefined) found.set('source.same-as-target', same);
  if (s) for (const [id, outcome] of sourceChecks(mode, s, sourceSpec.user)) found.set(id, outcome);
  if (t) {
    const check = targetDatabaseCheck(targetSpec, t, db);
    if (check) found.set('target.database', check);
  }
  if (s && t) for (const [id, outcome] of pairChecks(s, t, db)) found.set(id, outcome);

  const checks: CheckResult[] = CHECK_IDS.flatMap((id) => {
    const outcome = found.get(id);
    return outcome === undefined ? [] : [checkResult(id, mode, outcome)];
  });
  const summary = summarize(checks);
  deps.logger.info(
    { mode, source: connectionLabel(sourceSpec), target: connectionLabel(targetSpec), ...summary },
    'preflight done',
  );
  return {
    ok: summary.ok,
    mode,
    source: source.ok
      ? serverFacts(s, true)
      : // A missing database is an answer from a server that was reached.
        source.error.code === ErrorCode.DatabaseMissing
        ? { reachable: true, databaseExists: false }
        : { reachable: false },
    target: t ? serverFacts(t, t.databaseExists) : { reachable: false },
    checks,
  };
}

// Errors of the maintenance connection after which the target database itself is worth a try.
const FALLBACK_CODES: ReadonlySet<string> = new Set([
  ErrorCode.DatabaseMissing,
  ErrorCode.PermissionDenied,
  ErrorCode.AuthFailed,
]);

function serverFacts(
  facts: { version: string; major: number } | undefined,
  databaseExists: boolean,
): ServerFacts {
  return facts
    ? { reachable: true, version: facts.version, major: facts.major, databaseExists }
    : { reachable: true, databaseExists };
}

/**
 * Whether source and target are one database: the URLs say so, or both lead to the same running
 * server (same system identifier and start time, whatever host name reached it) and name the same
 * database. Undefined when that cannot be known because a server was not reached.
 */
function sameServerDatabase(
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
