import type { Client } from 'pg';
import {
  checkResult,
  CHECK_IDS,
  LONG_TRANSACTION_MINUTES,
  summarize,
  type CheckId,
  type CheckOutcome,
} from '../domain/checks';
import type { PreflightRunInput } from '../domain/activity-inputs';
import { connectionLabel, withDatabase, type ConnSpec } from '../domain/connection';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { CheckResult, PreflightReport } from '../domain/migration';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { serverDisk } from './disk';
import {
  connectFailure,
  pairChecks,
  sameServerDatabase,
  serverFacts,
  sourceChecks,
  targetDatabaseCheck,
  type SourceFacts,
  type TargetDatabaseFacts,
  type TargetServerFacts,
  type UsedCollation,
} from './preflight-checks';
import { passwordLogsCheck } from './preflight-password-logs';
import {
  readSourceRights,
  readTargetRights,
  sourcePrivilegesCheck,
  targetPrivilegesCheck,
} from './preflight-privileges';
import { isDatabaseEmpty, serverVersion } from './pg/catalog';
import { withClient, withTransaction, type Env } from './pg/connect';
import { classifyPgError } from './pg/errors';
import {
  LONG_TRANSACTIONS,
  PREFLIGHT_BEGIN,
  PREFLIGHT_LIMITS,
  PREPARED_TRANSACTIONS,
  SOURCE_COLLATIONS,
  SOURCE_EXTENSIONS,
  SOURCE_FACTS,
  SOURCE_ROLES,
  TABLES_WITHOUT_REPLICA_IDENTITY,
  TARGET_COLLATIONS_FOUND,
  TARGET_EXTENSIONS_AVAILABLE,
  TARGET_ROLES_FOUND,
  PASSWORD_KEEPER_NAMES,
  TARGET_SERVER_FACTS,
  targetPasswordKeepersSql,
  UNLOGGED_TABLES,
} from './pg/preflight-sql';
import { MAINTENANCE_DB } from './provision/local';

/** A connection's outcome: the facts read through it, or why it could not be made. */
type Reached<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: PgferryError };

/**
 * Connects, reads, and closes. A failure to connect comes back as a value (it becomes a failed
 * `connect.*` check); a failure after connecting, or a URL refused before connecting, is thrown.
 */
async function reach<T>(
  spec: ConnSpec,
  env: Env,
  field: string,
  read: (client: Client) => Promise<T>,
): Promise<Reached<T>> {
  let connected = false;
  try {
    // First contact: an unreachable server is the URL's fault here (a failed connect check).
    const value = await withClient(spec, env, { field, firstContact: true }, (client) => {
      connected = true;
      return withTransaction(
        client,
        async () => {
          for (const limit of PREFLIGHT_LIMITS) await client.query(limit);
          return read(client);
        },
        PREFLIGHT_BEGIN,
      );
    });
    return { ok: true, value };
  } catch (err) {
    if (connected) throw err;
    const error = classifyPgError(err, { field, connecting: spec, firstContact: true });
    // A URL the worker refuses before connecting (password_env, sslrootcert) is bad input, not a failed check.
    if (error instanceof PgferryError && error.code !== ErrorCode.InvalidInput) return { ok: false, error };
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

async function readSource(client: Client, spec: ConnSpec): Promise<SourceFacts> {
  const { version, major } = await serverVersion(client);
  const { rows } = await client.query<{
    wal_level: string;
    read_only: boolean;
    in_recovery: boolean;
    fenced: boolean;
    max_slots: number;
    used_slots: number;
    max_senders: number;
    used_senders: number;
    max_slot_wal_keep_mb: number;
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
    readOnly: f.read_only,
    inRecovery: f.in_recovery,
    fenced: f.fenced,
    freeSlots: f.max_slots - f.used_slots,
    maxSlots: f.max_slots,
    freeSenders: f.max_senders - f.used_senders,
    maxSenders: f.max_senders,
    maxSlotWalKeepBytes: f.max_slot_wal_keep_mb < 0 ? -1 : f.max_slot_wal_keep_mb * 1024 * 1024,
    disk: await serverDisk(client, spec),
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
    ...(await readSourceRights(client)),
    longTransactions: long.rows.map(
      (t) => `pid ${t.pid} (${t.user ?? '?'} on ${t.database ?? '?'}, open ${t.minutes} min)`,
    ),
    preparedTransactions: prepared.rows.map((t) => `${t.gid} (${t.user} on ${t.database})`),
  };
}

/** The source's collations that the connected database does not have. */
async function missingCollations(client: Client, used: readonly UsedCollation[]): Promise<string[]> {
  if (used.length === 0) return [];
  const found = new Set(await names(client, TARGET_COLLATIONS_FOUND, [JSON.stringify(used)]));
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
    passwordKeepers: (
      await client.query<{ name: string; setting: string; vartype: string; may_set: boolean }>(
        targetPasswordKeepersSql(major),
        [PASSWORD_KEEPER_NAMES],
      )
    ).rows.map((r) => ({ name: r.name, setting: r.setting, vartype: r.vartype, maySet: r.may_set })),
    rights: await readTargetRights(client, major, database, source?.owners.map((o) => o.name) ?? []),
  };
}

/**
 * Runs every preflight check of the mode against both servers and reports them; changes nothing
 * on either. A server that cannot be reached gives a failed `connect.*` check, and the checks that
 * need it are left out of the report (skipped, not passed).
 */
export async function runPreflight(deps: ActivityDeps, input: PreflightRunInput): Promise<PreflightReport> {
  // Up to four connections, each allowed its 10 s to connect, and catalog reads on a loaded server.
  return withHeartbeat('running the preflight checks', async () => {
    const { mode, source: sourceSpec, target: targetSpec } = input;
    const found = new Map<CheckId, CheckOutcome>();

    const source = await reach(sourceSpec, deps.env, 'source', (client) => readSource(client, sourceSpec));
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

    const { t, db, connect } = await reachTarget(deps.env, targetSpec, s);
    found.set('connect.target', connect);

    const same = sameServerDatabase(sourceSpec, targetSpec, s, t);
    if (same !== undefined) found.set('source.same-as-target', same);
    if (s) for (const [id, outcome] of sourceChecks(mode, s, sourceSpec.user)) found.set(id, outcome);
    if (t) {
      const check = targetDatabaseCheck(targetSpec, t, db);
      if (check) found.set('target.database', check);
    }
    if (s && t)
      for (const [id, outcome] of pairChecks(s, t, db, input.roles === 'copy')) found.set(id, outcome);
    if (t && mode === 'online')
      found.set('target.password-logs', passwordLogsCheck(t.passwordKeepers, targetSpec.user));
    if (s) {
      const freeze = input.freeze ?? true;
      found.set(
        'source.privileges',
        sourcePrivilegesCheck(mode, s.superuser, s.rights, sourceSpec.user, freeze),
      );
    }
    if (t) {
      const owners = { owners: s?.owners ?? [], rights: s?.rights };
      const copies = input.roles === 'copy';
      const missing = t.missingRoles ?? [];
      found.set(
        'target.privileges',
        targetPrivilegesCheck(mode, t.rights, targetSpec.database, owners, missing, copies),
      );
    }

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
  });
}

// Errors of the maintenance connection after which the target database itself is worth a try.
const FALLBACK_CODES: ReadonlySet<string> = new Set([
  ErrorCode.DatabaseMissing,
  ErrorCode.PermissionDenied,
  ErrorCode.AuthFailed,
]);

/**
 * The target's facts and its connect check. The target database may not exist yet: server-wide
 * facts come from the maintenance database. A server without it (or refusing it) may still let
 * us into the target database itself.
 */
async function reachTarget(
  env: Env,
  targetSpec: ConnSpec,
  s: SourceFacts | undefined,
): Promise<{ t: TargetServerFacts | undefined; db: TargetDatabaseFacts | undefined; connect: CheckOutcome }> {
  const readServer = (client: Client) => readTargetServer(client, targetSpec.database, s);
  let target = await reach(withDatabase(targetSpec, MAINTENANCE_DB), env, 'target', readServer);
  if (!target.ok && targetSpec.database !== MAINTENANCE_DB && FALLBACK_CODES.has(target.error.code)) {
    const direct = await reach(targetSpec, env, 'target', readServer);
    if (direct.ok) target = direct;
  }
  if (!target.ok) return { t: undefined, db: undefined, connect: connectFailure(target.error) };
  const t = target.value;
  let targetDb: Reached<TargetDatabaseFacts> | undefined;
  if (t.databaseExists) {
    targetDb = await reach(targetSpec, env, 'target', async (client) => ({
      empty: await isDatabaseEmpty(client),
      missingCollations: s && (await missingCollations(client, s.collations)),
    }));
  }
  if (targetDb !== undefined && !targetDb.ok)
    return { t, db: undefined, connect: connectFailure(targetDb.error) };
  const where = t.databaseExists
    ? connectionLabel(targetSpec)
    : connectionLabel(withDatabase(targetSpec, MAINTENANCE_DB));
  return {
    t,
    db: targetDb?.value,
    connect: { ok: true, message: `connected to ${where} (PostgreSQL ${t.version})` },
  };
}
