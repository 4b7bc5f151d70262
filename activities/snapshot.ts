import { randomUUID } from 'node:crypto';
import type { Client, ClientConfig } from 'pg';
import type { AwaitSnapshotInput, HoldSlotSnapshotInput } from '../domain/activity-inputs';
import { ErrorCode, PgferryError } from '../domain/errors';
import { closeOnAbort, pollUntil, throwIfCancelled } from './cancel';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { inStep, openClient, quoteIdent, withClient, withTransaction } from './pg/connect';
import { classifyPgError } from './pg/errors';
import { ADVISORY_XACT_LOCK, LEDGER_DDL_KEY } from './pg/ledger-sql';
import { replicationStep } from './pg/replication-checks';
import {
  BACKEND_PID,
  CREATE_SNAPSHOTS,
  createSlotCommand,
  DROP_INACTIVE_SLOT,
  END_EARLIER_HOLDER,
  FIND_SNAPSHOT,
  SNAPSHOTS_EXIST,
  SUBSCRIPTION_OF_SLOT,
  UPSERT_SNAPSHOT,
} from './pg/replication-sql';
import { SqlState } from './pg/sqlstate';
import { retryWhileServerAway, type AwayOptions } from './reconnect';

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

const POLL_MS = 200;

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
  const { source, target, slot, migration } = input;
  return withHeartbeat(`holding slot ${slot}`, async (hb) => {
    hb.update({ detail: `creating slot ${slot}` });
    let holder: Client | undefined;
    let stopClosing = (): void => undefined;
    let held: SnapshotInfo | undefined;
    // The holder runs once (a retry would lose its snapshot): a server that restarts under one of
    // its steps is waited for, rather than ending the holder before its snapshot is published.
    const away = (what: string): AwayOptions => ({
      signal: hb.signal,
      what,
      onAway: (err) =>
        deps.logger.warn({ migration, slot, err: String(err) }, `${what}: the server is away, retrying`),
    });
    try {
      const earlierPid = await retryWhileServerAway(away('preparing the snapshot table'), () =>
        withClient(target, deps.env, replicationStep('target', 'preparing the snapshot table'), (client) =>
          earlierHolder(client, slot, migration),
        ),
      );
      await retryWhileServerAway(away(`clearing slot ${slot}`), () =>
        withClient(source, deps.env, replicationStep('source', `clearing slot ${slot}`), async (client) => {
          if (earlierPid !== undefined) await client.query(END_EARLIER_HOLDER, [earlierPid]);
          await client.query(DROP_INACTIVE_SLOT, [slot]);
        }),
      );
      throwIfCancelled(hb.signal);
      holder = await openClient(source, deps.env, 'source', REPLICATION_SETTINGS);
      const ended = connectionEnd(holder);
      stopClosing = closeOnAbort(hb.signal, holder);
      const created = await createSlot(holder, slot);
      const info: SnapshotInfo = { ...created, slot, token: input.token ?? randomUUID() };
      // The snapshot stays held meanwhile: the replication connection idles on the source.
      await retryWhileServerAway(away('publishing the snapshot'), () =>
        withClient(target, deps.env, replicationStep('target', 'publishing the snapshot'), (client) =>
          client.query(UPSERT_SNAPSHOT, [
            migration,
            slot,
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
      throw held === undefined
        ? classifyPgError(err, replicationStep('source', `holding slot ${slot}`))
        : snapshotLost(held, err);
    } finally {
      stopClosing();
      await holder?.end().catch(() => undefined);
    }
  });
}

/**
 * Target side, before a new slot: refuses a slot that a subscription streams from (replication has
 * begun, and the slot is no longer the copy's to replace), makes sure pgferry.snapshots exists, and
 * returns the pid of an earlier holder of the same slot, if its row names one.
 */
async function earlierHolder(client: Client, slot: string, migration: string): Promise<number | undefined> {
  const { rows: users } = await client.query<{ subname: string }>(SUBSCRIPTION_OF_SLOT, [slot]);
  if (users[0] !== undefined) {
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `slot: subscription ${quoteIdent(users[0].subname)} on the target streams from slot ${slot}`,
      { field: 'slot', fix: 'hold a snapshot only before replication starts, or name another slot' },
    );
  }
  // The create-if-missing of pgferry.snapshots, under the same lock as the ledger's DDL.
  await withTransaction(client, async () => {
    await client.query(ADVISORY_XACT_LOCK, [LEDGER_DDL_KEY]);
    for (const statement of CREATE_SNAPSHOTS) await client.query(statement);
  });
  const { rows } = await client.query<{ slot: string; holder_pid: number | null }>(FIND_SNAPSHOT, [
    migration,
  ]);
  return rows[0]?.slot === slot ? (rows[0].holder_pid ?? undefined) : undefined;
}

/**
 * Creates the slot on the holder's replication connection, which then holds its snapshot. Waits
 * for the transactions running on the source to end: the slot's consistent point.
 */
async function createSlot(
  holder: Client,
  slot: string,
): Promise<{ pid: number | undefined; lsn: string; snapshot: string }> {
  const created = await inStep(holder, replicationStep('source', `creating slot ${slot}`), async () => {
    const { rows: pidRows } = await holder.query<{ pid: number }>(BACKEND_PID);
    const { rows } = await holder
      .query<{ consistent_point: string; snapshot_name: string | null }>(createSlotCommand(slot))
      .catch((err: unknown) => {
        // Only an active slot survived DROP_INACTIVE_SLOT: something streams from it.
        if ((err as { code?: unknown }).code !== SqlState.DuplicateObject) throw err;
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
  return { pid: created.pid, lsn: created.point, snapshot: created.snapshot };
}

/** The error of a held snapshot whose connection went: no retry brings that snapshot back. */
function snapshotLost(held: SnapshotInfo, err: unknown): PgferryError {
  const message = err instanceof Error ? err.message : String(err);
  return new PgferryError(
    ErrorCode.SnapshotLost,
    `source: the connection holding snapshot ${held.snapshot} of slot ${held.slot} was lost: ${message}`,
    {
      field: 'source',
      fix: 'the snapshot is gone: a retry creates a new slot and snapshot; reset the copy (resetCopy) and copy again under the new one',
      cause: err,
    },
  );
}

/**
 * Waits until the holder of a migration's snapshot has published it on the target (skipping the
 * row of a holder known to be gone) and returns the slot and snapshot.
 */
export async function awaitSnapshot(deps: ActivityDeps, input: AwaitSnapshotInput): Promise<SnapshotInfo> {
  return withHeartbeat('waiting for the snapshot', async (hb) => {
    hb.update({ detail: `waiting for the snapshot of ${input.migration}` });
    const what = 'waiting for the snapshot';
    // It only reads: a target that restarts meanwhile is waited for here, not by a retry.
    return retryWhileServerAway({ signal: hb.signal, what }, (reached) =>
      withClient(
        input.target,
        deps.env,
        replicationStep('target', 'reading the snapshot table'),
        (client) => {
          reached();
          return pollUntil({ intervalMs: POLL_MS, signal: hb.signal, what }, async () => {
            const { rows: exists } = await client.query<{ present: boolean }>(SNAPSHOTS_EXIST);
            if (!exists[0]?.present) return undefined;
            const { rows } = await client.query<SnapshotInfo>(FIND_SNAPSHOT, [input.migration]);
            const found = rows[0];
            const wanted =
              input.token === undefined ? found?.token !== input.notBefore : found?.token === input.token;
            if (found === undefined || !wanted) return undefined;
            return { snapshot: found.snapshot, slot: found.slot, lsn: found.lsn, token: found.token };
          });
        },
      ),
    );
  });
}

/** The settings that make a connection a logical replication connection that notices a vanished peer. */
const REPLICATION_SETTINGS: Partial<ClientConfig> & { replication: string } = {
  // @types/pg does not declare `replication`; pg sends it as a startup parameter.
  replication: 'database',
  keepAlive: true,
  keepAliveInitialDelayMillis: 60_000,
  // The connection idles for the whole copy: keepalives on the server's side too, so that the
  // backend of a worker that vanished ends (and its slot can be replaced) within minutes.
  options: '-c tcp_keepalives_idle=60 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=6',
};

/** A promise that rejects when the client's connection ends, for whatever reason; never unhandled. */
function connectionEnd(client: Client): Promise<never> {
  const ended = new Promise<never>((_, reject) => {
    client.on('error', reject);
    client.on('end', () => reject(new Error('the replication connection closed')));
  });
  ended.catch(() => undefined);
  return ended;
}
