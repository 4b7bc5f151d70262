import { randomUUID } from 'node:crypto';
import { Client, type ClientConfig } from 'pg';
import { parseConnectionUrl, type ConnSpec } from '../domain/connection';
import { ErrorCode, PgferryError } from '../domain/errors';
import { listCopyTables } from './copy';
import type { ActivityDeps } from './deps';
import { startHeartbeat } from './heartbeat';
import {
  classifyConnectError,
  clientConfig,
  quoteIdent,
  resolvePassword,
  withClient,
  withTransaction,
  type Env,
} from './pg/connect';
import { advisoryKey, LEDGER_EXISTS, LOCK_LEDGER_DDL } from './pg/copy-sql';
import {
  BACKEND_PID,
  CREATE_SNAPSHOTS,
  createPublicationSql,
  createSlotCommand,
  createSubscriptionSql,
  CUTOVER_BEGIN,
  CUTOVER_SYNC,
  DELETE_CHUNKS,
  DELETE_SNAPSHOTS,
  DROP_INACTIVE_SLOT,
  DROP_SLOT,
  dropPublicationSql,
  dropSubscriptionSql,
  EMIT_CUTOVER_MESSAGE,
  enableSubscriptionSql,
  END_EARLIER_HOLDER,
  END_SLOT_WALSENDER,
  EXISTING_TABLES,
  FIND_SNAPSHOT,
  PUBLICATION_EXISTS,
  QUIET_STATEMENT_LOG,
  READ_WRITE_SESSION,
  ReplicationSqlState,
  SLOT_POSITION,
  SLOT_REACHED,
  SNAPSHOTS_EXIST,
  sourceConninfo,
  SUBSCRIPTION_OF_SLOT,
  SUBSCRIPTION_PROGRESS,
  SUBSCRIPTION_STATE,
  setSubscriptionSlotSql,
  truncateTablesSql,
  UPSERT_SNAPSHOT,
} from './pg/replication-sql';
import { SqlState, UNREACHABLE_ERRNOS } from './pg/sqlstate';

/** Input of holdSlotSnapshot. */
export interface HoldSlotSnapshotInput {
  readonly source: string;
  readonly target: string;
  /** The migration's name: the key of its row in pgferry.snapshots on the target. */
  readonly migration: string;
  /** The logical replication slot to create: lower-case letters, digits and _, at most 63. */
  readonly slot: string;
  /**
   * The token to publish (random when absent). A workflow that makes one (uuid4()) and waits for
   * exactly it can never mistake the row of a holder from an earlier run for this one's.
   */
  readonly token?: string;
}

/** A slot and the snapshot exported at its start, as the holder published them on the target. */
export interface SnapshotInfo {
  /** The exported snapshot id: copy chunks read the source under it. */
  readonly snapshot: string;
  readonly slot: string;
  /** The slot's consistent point: replication replays every change after it. */
  readonly lsn: string;
  /** The holder's random token: a new holder (after the last one died) publishes a new one. */
  readonly token: string;
}

/** Input of awaitSnapshot. */
export interface AwaitSnapshotInput {
  readonly target: string;
  readonly migration: string;
  /** The token of a holder known to be gone: its row is skipped until a new holder replaces it. */
  readonly notBefore?: string;
  /** Waits for the row of exactly this holder (the token given to holdSlotSnapshot). */
  readonly token?: string;
}

/** Input of createPublication. */
export interface CreatePublicationInput {
  readonly source: string;
  readonly publication: string;
}

/** Input of createSubscription. */
export interface CreateSubscriptionInput {
  readonly source: string;
  readonly target: string;
  readonly subscription: string;
  readonly publication: string;
  readonly slot: string;
}

/** Input of replicationLag. */
export interface ReplicationLagInput {
  readonly source: string;
  readonly target: string;
  readonly slot: string;
  readonly subscription: string;
}

/** How far the target is behind the source. */
export interface ReplicationLag {
  /** WAL bytes between the source's current position and what the target has confirmed. */
  readonly lagBytes: number;
  /**
   * Seconds the target is behind: the source's measured replay lag while it streams (0 when caught
   * up), else the seconds since the target last heard from the source; null when neither is known.
   */
  readonly lagSeconds: number | null;
  readonly sourceLsn: string;
  readonly confirmedLsn: string;
  /** True when the subscription's apply worker runs on the target. */
  readonly receiving: boolean;
}

/** Input of waitForReplay. */
export interface WaitForReplayInput {
  readonly source: string;
  readonly target: string;
  readonly slot: string;
  readonly subscription: string;
  /** The source's final LSN (from currentLsn, after the freeze). */
  readonly lsn: string;
}

/** Input of dropReplication. */
export interface DropReplicationInput {
  readonly source: string;
  readonly target: string;
  readonly subscription: string;
  readonly publication: string;
  readonly slot: string;
  /** The migration whose pgferry.snapshots row goes too (the slot's row goes in any case). */
  readonly migration?: string;
}

/** What dropReplication found and dropped; all false on a second run. */
export interface DropReplicationResult {
  readonly subscription: boolean;
  readonly slot: boolean;
  readonly publication: boolean;
}

/** Input of resetCopy. */
export interface ResetCopyInput {
  readonly source: string;
  readonly target: string;
  readonly migration: string;
}

// PostgreSQL's own rule for slot names (ReplicationSlotValidateName).
const SLOT_NAME = /^[a-z0-9_]{1,63}$/;
// NAMEDATALEN - 1: a longer name is silently truncated, and the existence checks would miss it.
const MAX_NAME_BYTES = 63;
const POLL_MS = 200;
// A slot whose walsender was just ended stays active until that process has exited.
const SLOT_RELEASE_TIMEOUT_MS = 15_000;
const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i;

/**
 * Creates a logical replication slot with an exported snapshot and holds that snapshot until
 * cancelled. The slot and snapshot are published in pgferry.snapshots on the target (read them
 * with awaitSnapshot); copy chunks read the source under the snapshot, and the subscription
 * starts at the slot, so copy and replication together are exactly the source. The snapshot
 * lives only as long as this connection stays idle and open, hence the activity never returns:
 * cancellation ends it (the slot stays, for the subscription). A lost connection fails it with
 * a retryable error; the retry replaces the slot, and the copy must start over (resetCopy).
 * The publication must exist before the slot: decoding reads the catalog as of each change, and
 * a change older than the publication fails the subscription with "publication does not exist".
 */
export async function holdSlotSnapshot(deps: ActivityDeps, input: HoldSlotSnapshotInput): Promise<never> {
  const source = parseConnectionUrl(input.source, 'source');
  const target = parseConnectionUrl(input.target, 'target');
  checkSlotName(input.slot);
  checkName(input.migration, 'migration');
  const { slot, migration } = input;
  const hb = startHeartbeat();
  hb.update({ detail: `creating slot ${slot}` });
  const holder = new Client(replicationConfig(source, deps.env));
  const ended = connectionEnd(holder);
  const stopClosing = closeOnAbort(hb.signal, holder);
  let held: SnapshotInfo | undefined;
  try {
    const earlierPid = await withClient(target, deps.env, 'target', (client) =>
      onSide('target', 'preparing the snapshot table', async () => {
        // A subscription streaming from the slot means replication has begun: the slot is no
        // longer the copy's to replace.
        const { rows: users } = await client.query<{ subname: string }>(SUBSCRIPTION_OF_SLOT, [slot]);
        if (users[0] !== undefined) {
          throw new PgferryError(
            ErrorCode.InvalidInput,
            `slot: subscription ${quoteIdent(users[0].subname)} on the target streams from slot ${slot}`,
            { field: 'slot', fix: 'hold a snapshot only before replication starts, or name another slot' },
          );
        }
        await ensureSnapshotsTable(client);
        const { rows } = await client.query<{ slot: string; holder_pid: number | null }>(FIND_SNAPSHOT, [
          migration,
        ]);
        return rows[0]?.slot === slot ? (rows[0].holder_pid ?? undefined) : undefined;
      }),
    );
    await withClient(source, deps.env, 'source', (client) =>
      onSide('source', `clearing slot ${slot}`, async () => {
        if (earlierPid !== undefined) await client.query(END_EARLIER_HOLDER, [earlierPid]);
        await client.query(DROP_INACTIVE_SLOT, [slot]);
      }),
    );
    throwIfCancelled(hb.signal);
    try {
      await holder.connect();
    } catch (err) {
      throw classifyConnectError(err, source, 'source');
    }
    const created = await onSide('source', `creating slot ${slot}`, async () => {
      const { rows: pidRows } = await holder.query<{ pid: number }>(BACKEND_PID);
      // Waits for the transactions running on the source to end: the slot's consistent point.
      const { rows } = await holder
        .query<{ consistent_point: string; snapshot_name: string | null }>(createSlotCommand(slot))
        .catch((err: unknown) => {
          // Only an active slot survived DROP_INACTIVE_SLOT: something streams from it.
          if ((err as { code?: unknown }).code !== ReplicationSqlState.DuplicateObject) throw err;
          throw new PgferryError(
            ErrorCode.InvalidInput,
            `slot: replication slot ${slot} exists and is in use`,
            {
              field: 'slot',
              fix: 'name another slot, or drop this one with dropReplication',
              cause: err,
            },
          );
        });
      return { pid: pidRows[0]?.pid, point: rows[0]?.consistent_point, snapshot: rows[0]?.snapshot_name };
    });
    if (created.point === undefined || !created.snapshot) {
      throw new PgferryError(ErrorCode.Internal, `source: creating slot ${slot} exported no snapshot`, {
        field: 'source',
      });
    }
    const token = input.token ?? randomUUID();
    const info: SnapshotInfo = { snapshot: created.snapshot, slot, lsn: created.point, token };
    await withClient(target, deps.env, 'target', (client) =>
      onSide('target', 'publishing the snapshot', () =>
        client.query(UPSERT_SNAPSHOT, [
          migration,
          info.slot,
          info.snapshot,
          info.lsn,
          info.token,
          created.pid ?? null,
        ]),
      ),
    );
    held = info;
    deps.logger.info({ migration, slot, lsn: info.lsn }, 'holding the slot snapshot');
    hb.update({ detail: `holding snapshot ${info.snapshot} of slot ${slot} at ${info.lsn}` });
    // Cancellation closes the socket, so this also ends on cancel.
    return await ended;
  } catch (err) {
    if (hb.signal.aborted) throw cancellation(hb.signal, `holding slot ${slot}`);
    if (held !== undefined) {
      throw new PgferryError(
        ErrorCode.SnapshotLost,
        `source: the connection holding snapshot ${held.snapshot} of slot ${slot} was lost: ${messageOf(err)}`,
        {
          field: 'source',
          fix: 'the snapshot is gone: a retry creates a new slot and snapshot; reset the copy (resetCopy) and copy again under the new one',
          cause: err,
        },
      );
    }
    throw replicationFailure(err, 'source', `holding slot ${slot}`);
  } finally {
    stopClosing();
    hb.stop();
    await holder.end().catch(() => undefined);
  }
}

/**
 * Waits until the holder of a migration's snapshot has published it on the target (skipping the
 * row of a holder known to be gone) and returns the slot and snapshot.
 */
export async function awaitSnapshot(deps: ActivityDeps, input: AwaitSnapshotInput): Promise<SnapshotInfo> {
  const target = parseConnectionUrl(input.target, 'target');
  const hb = startHeartbeat();
  hb.update({ detail: `waiting for the snapshot of ${input.migration}` });
  try {
    return await withClient(target, deps.env, 'target', async (client) => {
      for (;;) {
        throwIfCancelled(hb.signal);
        const found = await onSide('target', 'reading the snapshot table', async () => {
          const { rows: exists } = await client.query<{ present: boolean }>(SNAPSHOTS_EXIST);
          if (!exists[0]?.present) return undefined;
          const { rows } = await client.query<SnapshotInfo>(FIND_SNAPSHOT, [input.migration]);
          return rows[0];
        });
        const wanted =
          input.token === undefined ? found?.token !== input.notBefore : found?.token === input.token;
        if (found !== undefined && wanted) {
          return { snapshot: found.snapshot, slot: found.slot, lsn: found.lsn, token: found.token };
        }
        await pause(POLL_MS, hb.signal);
      }
    });
  } catch (err) {
    if (hb.signal.aborted) throw cancellation(hb.signal, 'waiting for the snapshot');
    throw err;
  } finally {
    hb.stop();
  }
}

/** Creates a publication of all tables on the source unless it exists. */
export async function createPublication(
  deps: ActivityDeps,
  input: CreatePublicationInput,
): Promise<{ created: boolean }> {
  const source = parseConnectionUrl(input.source, 'source');
  checkName(input.publication, 'publication');
  return withClient(source, deps.env, 'source', (client) =>
    onSide('source', `creating publication ${input.publication}`, async () => {
      const { rows } = await client.query<{ present: boolean }>(PUBLICATION_EXISTS, [input.publication]);
      if (rows[0]?.present) return { created: false };
      try {
        await client.query(createPublicationSql(input.publication));
        return { created: true };
      } catch (err) {
        // Another attempt created it between the check and here.
        if ((err as { code?: unknown }).code === ReplicationSqlState.DuplicateObject)
          return { created: false };
        throw err;
      }
    }),
  );
}

/**
 * Creates the target's subscription to the source's publication, starting at the existing slot,
 * unless it exists. The target server itself connects to the source: the conninfo names the
 * source as the worker reaches it, with the password the worker resolved from password_env. That
 * password goes into the statement only (and so into the target's catalog), never into a log or
 * a result.
 */
export async function createSubscription(
  deps: ActivityDeps,
  input: CreateSubscriptionInput,
): Promise<{ created: boolean }> {
  const source = parseConnectionUrl(input.source, 'source');
  const target = parseConnectionUrl(input.target, 'target');
  checkName(input.subscription, 'subscription');
  checkName(input.publication, 'publication');
  checkSlotName(input.slot);
  const password = resolvePassword(source, deps.env, 'source');
  return withClient(target, deps.env, 'target', async (client) => {
    const existing = await onSide('target', 'reading the subscriptions', async () => {
      const { rows } = await client.query<{ enabled: boolean; slot: string | null }>(SUBSCRIPTION_STATE, [
        input.subscription,
      ]);
      return rows[0];
    });
    if (existing !== undefined) {
      await resumeSubscription(client, input, existing);
      return { created: false };
    }
    await onSide('target', 'quieting the statement log', async () => {
      for (const setting of QUIET_STATEMENT_LOG) {
        await client.query(setting).catch(ignoreCode(SqlState.InsufficientPrivilege));
      }
    });
    try {
      await client.query(
        createSubscriptionSql({
          subscription: input.subscription,
          conninfo: sourceConninfo(source, password),
          publication: input.publication,
          slot: input.slot,
        }),
      );
      return { created: true };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === ReplicationSqlState.DuplicateObject) return { created: false };
      if (code === SqlState.InsufficientPrivilege) {
        throw new PgferryError(
          ErrorCode.PermissionDenied,
          `target: creating subscription: ${messageOf(err)}`,
          {
            field: 'target',
            fix: 'create the subscription as a superuser (or, on PostgreSQL 16+, a member of pg_create_subscription)',
            cause: err,
          },
        );
      }
      if (typeof code === 'string' && code.startsWith('08')) {
        // The target server could not reach or log in to the source: a different network path
        // and credentials than the worker's.
        throw new PgferryError(
          ErrorCode.ConnectionFailed,
          `source: the target server cannot connect to the source: ${messageOf(err)}`,
          {
            field: 'source',
            fix: "the target server must reach the source's host and port as written in the source URL, and the source's pg_hba.conf must let it in (with password_env when it needs a password)",
            cause: err,
          },
        );
      }
      throw replicationFailure(err, 'target', `creating subscription ${input.subscription}`);
    }
  });
}

/** Brings an existing subscription back to streaming from the slot (after a half-done rollback). */
async function resumeSubscription(
  client: Client,
  input: CreateSubscriptionInput,
  existing: { enabled: boolean; slot: string | null },
): Promise<void> {
  if (existing.slot !== null && existing.slot !== input.slot) {
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `subscription: ${quoteIdent(input.subscription)} exists on the target and streams from slot ${existing.slot}, not ${input.slot}`,
      { field: 'subscription', fix: 'name another subscription, or drop this one with dropReplication' },
    );
  }
  await onSide('target', `enabling subscription ${input.subscription}`, async () => {
    if (existing.slot === null) {
      await client.query(setSubscriptionSlotSql(input.subscription, input.slot));
    }
    if (!existing.enabled || existing.slot === null) {
      await client.query(enableSubscriptionSql(input.subscription));
    }
  });
}

/** How far the target's subscription is behind the source's WAL, in bytes and seconds. */
export async function replicationLag(
  deps: ActivityDeps,
  input: ReplicationLagInput,
): Promise<ReplicationLag> {
  const source = parseConnectionUrl(input.source, 'source');
  const target = parseConnectionUrl(input.target, 'target');
  const slot = await withClient(source, deps.env, 'source', (client) =>
    onSide('source', `reading slot ${input.slot}`, async () => {
      const { rows } = await client.query<{
        active: boolean;
        source_lsn: string;
        confirmed_lsn: string | null;
        lag_bytes: string | null;
        replay_lag_seconds: number | null;
      }>(SLOT_POSITION, [input.slot]);
      return rows[0];
    }),
  );
  if (slot === undefined || slot.confirmed_lsn === null || slot.lag_bytes === null) throw noSlot(input.slot);
  const progress = await withClient(target, deps.env, 'target', (client) =>
    onSide('target', `reading subscription ${input.subscription}`, async () => {
      const { rows } = await client.query<{ receiving: boolean; silent_seconds: number | null }>(
        SUBSCRIPTION_PROGRESS,
        [input.subscription],
      );
      return rows[0];
    }),
  );
  const lagBytes = Number(slot.lag_bytes);
  // While the slot streams, the source measures the lag; it shows NULL once the target caught up.
  const lagSeconds =
    lagBytes === 0 ? 0 : slot.active ? (slot.replay_lag_seconds ?? 0) : (progress?.silent_seconds ?? null);
  return {
    lagBytes,
    lagSeconds,
    sourceLsn: slot.source_lsn,
    confirmedLsn: slot.confirmed_lsn,
    receiving: progress?.receiving ?? false,
  };
}

/**
 * Writes the cutover's WAL record on the source and returns the LSN where it ends. After the
 * freeze, that is the source's final LSN: waitForReplay waits for the target to confirm it.
 */
export async function currentLsn(deps: ActivityDeps, input: { source: string }): Promise<{ lsn: string }> {
  const source = parseConnectionUrl(input.source, 'source');
  return withClient(source, deps.env, 'source', (client) =>
    onSide('source', 'marking the final LSN', () =>
      withTransaction(
        client,
        async () => {
          await client.query(CUTOVER_SYNC);
          const { rows } = await client.query<{ lsn: string }>(EMIT_CUTOVER_MESSAGE);
          const lsn = rows[0]?.lsn;
          if (lsn === undefined) {
            throw new PgferryError(ErrorCode.Internal, 'source: pg_logical_emit_message returned no LSN', {
              field: 'source',
            });
          }
          return { lsn };
        },
        CUTOVER_BEGIN,
      ),
    ),
  );
}

/**
 * Waits until the slot's consumer (the target's subscription) has confirmed everything up to
 * `lsn` on the source, i.e. the target has applied every change before it.
 */
export async function waitForReplay(
  deps: ActivityDeps,
  input: WaitForReplayInput,
): Promise<{ waitedMs: number; confirmedLsn: string }> {
  const source = parseConnectionUrl(input.source, 'source');
  const target = parseConnectionUrl(input.target, 'target');
  if (!LSN.test(input.lsn)) {
    throw new PgferryError(ErrorCode.InvalidInput, 'lsn: not a PostgreSQL LSN', {
      field: 'lsn',
      fix: 'pass the LSN that currentLsn returned, e.g. 0/16B3748',
    });
  }
  const started = Date.now();
  const hb = startHeartbeat();
  hb.update({ detail: `waiting for lsn ${input.lsn}` });
  try {
    // A missing or disabled subscription would never confirm anything: say so instead of waiting.
    const subscription = await withClient(target, deps.env, 'target', (client) =>
      onSide('target', `reading subscription ${input.subscription}`, async () => {
        const { rows } = await client.query<{ enabled: boolean }>(SUBSCRIPTION_STATE, [input.subscription]);
        return rows[0];
      }),
    );
    if (!subscription?.enabled) {
      throw new PgferryError(
        ErrorCode.InvalidInput,
        `subscription: ${quoteIdent(input.subscription)} ${subscription ? 'is disabled' : 'does not exist'} on the target`,
        { field: 'subscription', fix: 'create the subscription (createSubscription) before the cutover' },
      );
    }
    return await withClient(source, deps.env, 'source', async (client) => {
      for (;;) {
        throwIfCancelled(hb.signal);
        const { rows } = await onSide('source', `reading slot ${input.slot}`, () =>
          client.query<{ confirmed_lsn: string | null; reached: boolean | null }>(SLOT_REACHED, [
            input.slot,
            input.lsn,
          ]),
        );
        const row = rows[0];
        if (row?.confirmed_lsn == null) throw noSlot(input.slot);
        hb.update({ detail: `lsn ${row.confirmed_lsn} of ${input.lsn}` });
        if (row.reached) return { waitedMs: Date.now() - started, confirmedLsn: row.confirmed_lsn };
        await pause(POLL_MS, hb.signal);
      }
    });
  } catch (err) {
    if (hb.signal.aborted) throw cancellation(hb.signal, 'waiting for the replay');
    throw err;
  } finally {
    hb.stop();
  }
}

/**
 * Drops the subscription (on the target), the slot and the publication (on the source), and the
 * snapshot row; each part tolerates being gone already. The subscription goes first, and without
 * reaching for its slot over the network, so the target stops applying before the source forgets.
 * A snapshot holder must have been cancelled before: it would replace the slot on its retry.
 */
export async function dropReplication(
  deps: ActivityDeps,
  input: DropReplicationInput,
): Promise<DropReplicationResult> {
  const source = parseConnectionUrl(input.source, 'source');
  const target = parseConnectionUrl(input.target, 'target');
  checkName(input.subscription, 'subscription');
  checkName(input.publication, 'publication');
  checkSlotName(input.slot);
  const subscription = await withClient(target, deps.env, 'target', (client) =>
    onSide('target', `dropping subscription ${input.subscription}`, async () => {
      const { rows } = await client.query(SUBSCRIPTION_STATE, [input.subscription]);
      if (rows.length > 0) {
        for (const statement of dropSubscriptionSql(input.subscription)) {
          await client.query(statement).catch(ignoreCode(ReplicationSqlState.UndefinedObject));
        }
      }
      const { rows: exists } = await client.query<{ present: boolean }>(SNAPSHOTS_EXIST);
      if (exists[0]?.present) await client.query(DELETE_SNAPSHOTS, [input.migration ?? null, input.slot]);
      return rows.length > 0;
    }),
  );
  return withClient(source, deps.env, 'source', async (client) => {
    // At cutover the source is frozen (read-only by default): DROP PUBLICATION would be refused.
    await onSide('source', 'opening the drop', () => client.query(READ_WRITE_SESSION));
    const slot = await onSide('source', `dropping slot ${input.slot}`, () => dropSlot(client, input.slot));
    const publication = await onSide('source', `dropping publication ${input.publication}`, async () => {
      const { rows } = await client.query<{ present: boolean }>(PUBLICATION_EXISTS, [input.publication]);
      await client.query(dropPublicationSql(input.publication));
      return rows[0]?.present ?? false;
    });
    return { subscription, slot, publication };
  });
}

/** Drops a slot, ending the walsender that streams from it first; false when there was none. */
async function dropSlot(client: Client, slot: string): Promise<boolean> {
  const deadline = Date.now() + SLOT_RELEASE_TIMEOUT_MS;
  for (;;) {
    await client.query(END_SLOT_WALSENDER, [slot]);
    try {
      const { rowCount } = await client.query(DROP_SLOT, [slot]);
      return (rowCount ?? 0) > 0;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === ReplicationSqlState.UndefinedObject) return false;
      // The ended walsender has not exited yet, or the subscriber reconnected in between.
      if (code === SqlState.ObjectInUse && Date.now() < deadline) {
        await pause(100);
        continue;
      }
      throw err;
    }
  }
}

/**
 * Undoes a copy whose snapshot was lost, so it can start over under a new slot: empties every
 * table the copy fills on the target and forgets the migration's ledger rows, in one transaction.
 */
export async function resetCopy(
  deps: ActivityDeps,
  input: ResetCopyInput,
): Promise<{ tables: number; chunks: number }> {
  const target = parseConnectionUrl(input.target, 'target');
  const tables = await listCopyTables(deps, { source: input.source });
  return withClient(target, deps.env, 'target', (client) =>
    onSide('target', 'resetting the copy', () =>
      withTransaction(client, async () => {
        // ON TRUNCATE triggers of the user's are no business of a copy being undone.
        await client.query('SET LOCAL session_replication_role = replica');
        const { rows: present } = await client.query<{ schema: string; table: string }>(EXISTING_TABLES, [
          tables.map((t) => t.schema),
          tables.map((t) => t.table),
        ]);
        if (present.length > 0) await client.query(truncateTablesSql(present));
        const { rows: ledger } = await client.query<{ present: boolean }>(LEDGER_EXISTS);
        const chunks = ledger[0]?.present
          ? ((await client.query(DELETE_CHUNKS, [input.migration])).rowCount ?? 0)
          : 0;
        deps.logger.info({ migration: input.migration, tables: present.length, chunks }, 'copy reset');
        return { tables: present.length, chunks };
      }),
    ),
  );
}

/** node-postgres settings of a logical replication connection that notices a vanished peer. */
function replicationConfig(spec: ConnSpec, env: Env): ClientConfig {
  // @types/pg does not declare `replication`; pg sends it as a startup parameter.
  const config: ClientConfig & { replication: string } = {
    ...clientConfig(spec, env, 'source'),
    replication: 'database',
    keepAlive: true,
    keepAliveInitialDelayMillis: 60_000,
    // The connection idles for the whole copy: keepalives on the server's side too, so that the
    // backend of a worker that vanished ends (and its slot can be replaced) within minutes.
    options: '-c tcp_keepalives_idle=60 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=6',
  };
  return config;
}

/** The create-if-missing of pgferry.snapshots, under the same lock as the ledger's DDL. */
async function ensureSnapshotsTable(client: Client): Promise<void> {
  await withTransaction(client, async () => {
    await client.query(LOCK_LEDGER_DDL, [advisoryKey('ledger-ddl')]);
    for (const statement of CREATE_SNAPSHOTS) await client.query(statement);
  });
}

/** A promise that rejects when the client's connection ends, for whatever reason; never unhandled. */
function connectionEnd(client: Client): Promise<never> {
  const ended = new Promise<never>((_, reject) => {
    client.on('error', reject);
    client.on('end', () => reject(new Error('the replication connection closed')));
  });
  ended.catch(() => undefined);
  return ended;
}

/** Closes the client's socket when the signal aborts, so whatever waits on it ends at once. */
function closeOnAbort(signal: AbortSignal, client: Client): () => void {
  const close = () => client.connection.stream.destroy();
  signal.addEventListener('abort', close, { once: true });
  return () => signal.removeEventListener('abort', close);
}

/** What a cancelled activity throws: the CancelledFailure Temporal gave, as Temporal expects. */
function cancellation(signal: AbortSignal, what: string): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new PgferryError(ErrorCode.Cancelled, `${what} was cancelled`);
}

function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw cancellation(signal, 'the activity');
}

/** Sleeps `ms`, or less when the signal aborts (the caller then checks it). */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

function checkSlotName(slot: string): void {
  if (!SLOT_NAME.test(slot)) {
    throw new PgferryError(ErrorCode.InvalidInput, 'slot: not a replication slot name', {
      field: 'slot',
      fix: 'use lower-case letters, digits and _, at most 63 characters',
    });
  }
}

function checkName(name: string, field: string): void {
  if (name === '' || Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw new PgferryError(ErrorCode.InvalidInput, `${field}: the name is empty or longer than 63 bytes`, {
      field,
      fix: 'use a name of 1 to 63 bytes',
    });
  }
}

function noSlot(slot: string): PgferryError {
  return new PgferryError(
    ErrorCode.InvalidInput,
    `slot: the source has no logical replication slot ${slot}`,
    {
      field: 'slot',
      fix: 'create the slot with holdSlotSnapshot before replicating',
    },
  );
}

/** A .catch handler that swallows one SQLSTATE and rethrows anything else. */
function ignoreCode(code: string): (err: unknown) => void {
  return (err) => {
    if ((err as { code?: unknown }).code !== code) throw err;
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs one step against one side, naming what it throws by that side. */
async function onSide<T>(side: 'source' | 'target', doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw replicationFailure(err, side, doing);
  }
}

// The connection went away under a query: the server ended it, or the network did.
const LOST_ERRNOS: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', ...UNREACHABLE_ERRNOS]);
const LOST_SQLSTATES: ReadonlySet<string> = new Set([
  SqlState.AdminShutdown,
  SqlState.CrashShutdown,
  SqlState.CannotConnectNow,
]);

/**
 * Names an error by its SQLSTATE or errno: a missing privilege is PermissionDenied, a lost
 * connection ConnectionLost (retryable); anything else Internal, which Temporal retries too.
 */
function replicationFailure(err: unknown, field: 'source' | 'target', doing: string): PgferryError {
  if (err instanceof PgferryError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = messageOf(err);
  if (code === SqlState.InsufficientPrivilege) {
    return new PgferryError(ErrorCode.PermissionDenied, `${field}: ${doing}: ${message}`, {
      field,
      fix:
        field === 'source'
          ? 'replicate as a superuser, or a role with REPLICATION that owns the tables'
          : 'replicate as a superuser (or, on PostgreSQL 16+, a member of pg_create_subscription)',
      cause: err,
    });
  }
  // A plain Error without a code is the driver's "connection terminated" family.
  const driverLost = code === undefined && err instanceof Error && err.constructor === Error;
  if (
    driverLost ||
    (typeof code === 'string' && (code.startsWith('08') || LOST_SQLSTATES.has(code) || LOST_ERRNOS.has(code)))
  ) {
    return new PgferryError(ErrorCode.ConnectionLost, `${field}: ${doing}: ${message}`, {
      field,
      cause: err,
    });
  }
  const state = typeof code === 'string' ? ` (SQLSTATE ${code})` : '';
  return new PgferryError(ErrorCode.Internal, `${field}: ${doing}${state}: ${message}`, {
    field,
    cause: err,
  });
}
