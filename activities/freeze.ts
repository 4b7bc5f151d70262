import type { Client } from 'pg';
import type { DropOwnTargetInput, FreezeSourceInput } from '../domain/activity-inputs';
import { withDatabase } from '../domain/connection';
import { ErrorCode, PgferryError } from '../domain/errors';
import { pause, throwIfCancelled } from './cancel';
import type { ActivityDeps } from './deps';
import { markFinalLsn } from './cutover';
import { createFenceSlot, describeSession, readBaseline, watchSession, type FenceSetup } from './fence';
import { type Heartbeat, withHeartbeat } from './heartbeat';
import { databaseInfo } from './pg/catalog';
import { inStep, withClient } from './pg/connect';
import { dropDatabaseSql } from './pg/database-sql';
import type { PgStep } from './pg/errors';
import {
  ANONYMOUS_FENCE,
  CLOCK_NOW,
  DATABASE_OID,
  DROP_FENCE_SLOT,
  END_SESSIONS_BEFORE,
  planFreeze,
  planUnfreeze,
  SAVED_SETTING,
  freezeTurnKey,
  SETTINGS_ENTRIES,
  type SessionRow,
  TRY_FREEZE_TURN,
  type SettingsEntry,
} from './pg/fence-sql';
import { SqlState } from './pg/sqlstate';
import { SERVER_CLOCK_MS } from './pg/watch-sql';
import { MAINTENANCE_DB } from './provision/local';

/** What freezeSource did: the sessions it ended, when the fence stood, and how it is watched. */
export interface FreezeResult {
  readonly terminated: number;
  /** When the fence's settings committed, on the worker's clock. */
  readonly frozenAt: number;
  /**
   * The source server's clock just before the fence, in milliseconds since the epoch: the downtime
   * starts here and ends at a second reading of the same clock (sourceClock), so it is measured on
   * one clock. Absent from results recorded before it was read.
   */
  readonly sourceClockMs?: number;
  readonly fence: FenceSetup;
  /** The source's final LSN (markFinalLsn): the replay is complete once the target has confirmed it. */
  readonly finalLsn?: string;
}

/** What unfreezeSource put back. */
export interface UnfreezeResult {
  /** The statements that restored the settings (0 on a second run). */
  readonly restored: number;
  readonly slotDropped: boolean;
}

// Ended sessions are polled for until they are gone; a backend that outlives this is stuck.
const SESSIONS_GONE_TIMEOUT_MS = 15_000;
const SESSIONS_POLL_MS = 10;
// How often a freeze waiting for another one of the same database looks again.
const FREEZE_TURN_POLL_MS = 100;
// A backend forked before the fence shows in pg_stat_activity only once it has read its settings:
// the last look that finds none comes at least this long after the fence.
const SESSIONS_SETTLE_MS = 30;

const FENCE_PRIVILEGE_FIX = `run as a superuser on the source; otherwise the source user needs to own the database, pg_signal_backend to end other users' sessions, and, when a role has its own default_transaction_read_only = off, CREATEROLE (with ADMIN on that role on PostgreSQL 16+) and SET on the parameter ${SAVED_SETTING} (GRANT SET ON PARAMETER, PostgreSQL 15+)`;

const fenceStep = (doing: string): PgStep => ({ field: 'source', doing, privilegeFix: FENCE_PRIVILEGE_FIX });

/**
 * Freezes writes on the source database and proves it. (1) One transaction makes every new session
 * of the database read-only by default: the database's setting, and every role whose own setting
 * (ALTER ROLE … SET, or … IN DATABASE) would override it gets an entry for this database that says
 * `on`; each entry keeps its original beside it (SAVED_SETTING), so unfreeze puts back exactly what
 * was there, after a worker's crash as well. (2) Every client session that began before that commit
 * is ended, whatever its application_name, and polled for until it is gone. (3) The tables' write
 * counters are read, and a logical slot named after the fence is made: verifyFence compares and
 * peeks before the target becomes the primary. Idempotent: a retry keeps what the first attempt
 * saved, ends the sessions again and makes the slot anew.
 */
export async function freezeSource(deps: ActivityDeps, input: FreezeSourceInput): Promise<FreezeResult> {
  const spec = input.source;
  const owner = input.fence ?? ANONYMOUS_FENCE;
  const step = fenceStep('setting the write fence');
  return withHeartbeat('freezing the source', (hb) =>
    withClient(withDatabase(spec, MAINTENANCE_DB), deps.env, step, async (client) => {
      await inStep(client, fenceStep('waiting for another freeze of the database'), () =>
        takeFreezeTurn(client, spec.database, hb),
      );
      // The watch's session opens before the fence, so that its set-up is not downtime: it is
      // spared by its pid when the older sessions end, and writes nothing but the cutover's message.
      return withClient(spec, deps.env, fenceStep('starting the watch on the fence'), async (watch) => {
        const session = await watchSession(watch);
        const set = await inStep(client, step, async () => {
          const { rows: clock } = await client.query<{ ms: number }>(SERVER_CLOCK_MS);
          const settings = await applyFreeze(client, spec.database, owner);
          const frozenAt = Date.now();
          const { rows } = await client.query<{ at: string }>(CLOCK_NOW);
          const terminated = await inStep(
            client,
            fenceStep('ending the sessions begun before the freeze'),
            () => endSessionsBefore(client, spec.database, rows[0]!.at, session.pid, hb.signal),
          );
          return { ...settings, frozenAt, terminated, sourceClockMs: Number(clock[0]?.ms) };
        });
        const baseline = await readBaseline(watch);
        const slot =
          input.fence === undefined
            ? { slotSkipped: 'the freeze was given no fence name' }
            : await createFenceSlot(watch, input.fence, session);
        // After the fence and its slot: every write the source took ends below it.
        const final = input.markFinalLsn ? await markFinalLsn(watch) : undefined;
        return {
          ...(final === undefined ? {} : { finalLsn: final.lsn }),
          terminated: set.terminated,
          frozenAt: set.frozenAt,
          sourceClockMs: set.sourceClockMs,
          fence: {
            baseline,
            ...slot,
            roles: set.roles,
            saved: set.saved,
            addedMs: Date.now() - set.frozenAt,
          },
        };
      });
    }),
  );
}

/**
 * Waits until no other freeze of the database runs (another migration of the same source), then
 * holds the turn on `client`'s session until it closes. See TRY_FREEZE_TURN.
 */
async function takeFreezeTurn(client: Client, database: string, hb: Heartbeat): Promise<void> {
  const key = freezeTurnKey(database);
  for (let waited = false; ; waited = true) {
    throwIfCancelled(hb.signal, 'waiting for another freeze of the database');
    const { rows } = await client.query<{ taken: boolean }>(TRY_FREEZE_TURN, [key]);
    if (rows[0]?.taken) return;
    if (!waited)
      hb.update({ detail: `another migration is freezing database "${database}": waiting for it` });
    await pause(FREEZE_TURN_POLL_MS, hb.signal);
  }
}

/**
 * The fence's settings, in one transaction from the maintenance database (a session in the frozen
 * database would be read-only itself). Returns the roles overridden, and whether every original
 * was saved: a user who may not write the placeholder still freezes the database's own entry (its
 * unfreeze then resets it, as before), but not a role's, whose original would be lost.
 */
async function applyFreeze(
  client: Client,
  database: string,
  owner: string,
): Promise<{ roles: string[]; saved: boolean }> {
  await client.query('BEGIN READ WRITE');
  try {
    const { rows: found } = await client.query<{ oid: string }>(DATABASE_OID, [database]);
    const oid = found[0]?.oid;
    if (oid === undefined) {
      throw new PgferryError(ErrorCode.DatabaseMissing, `source: database "${database}" does not exist`, {
        field: 'source',
        fix: 'check the database name at the end of the source URL',
      });
    }
    const { rows: entries } = await client.query<SettingsEntry>(SETTINGS_ENTRIES, [oid]);
    const plan = planFreeze(entries, oid, database, owner);
    let saved = true;
    for (const statement of plan.statements) {
      if (!statement.marker) {
        await client.query(statement.sql);
        continue;
      }
      await client.query('SAVEPOINT pgferry_saved');
      try {
        await client.query(statement.sql);
        await client.query('RELEASE SAVEPOINT pgferry_saved');
      } catch (err) {
        if ((err as { code?: unknown }).code !== SqlState.InsufficientPrivilege) throw err;
        await client.query('ROLLBACK TO SAVEPOINT pgferry_saved');
        if (statement.role !== undefined) throw cannotSave(statement.role, database, err);
        saved = false;
      }
    }
    await client.query('COMMIT');
    return { roles: [...plan.roles], saved };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A role's override that the source user cannot fence without losing the role's original setting. */
function cannotSave(role: string, database: string, cause: unknown): PgferryError {
  return new PgferryError(
    ErrorCode.PermissionDenied,
    `source: role "${role}" has its own default_transaction_read_only = off, which would keep it writable on the frozen database "${database}", and the source user may not save the role's setting (the placeholder ${SAVED_SETTING}) to put it back on unfreeze`,
    {
      field: 'source',
      fix: `run as a superuser on the source, or GRANT SET ON PARAMETER ${SAVED_SETTING} TO the source user (PostgreSQL 15+), or remove the override before the migration (ALTER ROLE "${role}" RESET default_transaction_read_only)`,
      cause,
    },
  );
}

/**
 * Ends the client sessions of the database begun before `fenceAt` (but the watch's, `spare`), and
 * looks again until none is left: the ended ones have exited, and none that read the writable default appeared late. Returns
 * how many were ended.
 */
async function endSessionsBefore(
  client: Client,
  database: string,
  fenceAt: string,
  spare: number,
  signal: AbortSignal,
): Promise<number> {
  const ended = new Set<number>();
  const started = Date.now();
  for (;;) {
    throwIfCancelled(signal, 'ending the sessions');
    const { rows } = await client.query<SessionRow>(END_SESSIONS_BEFORE, [database, fenceAt, spare]);
    for (const row of rows) ended.add(row.pid);
    const elapsed = Date.now() - started;
    if (rows.length === 0 && elapsed >= SESSIONS_SETTLE_MS) return ended.size;
    if (rows.length > 0 && elapsed > SESSIONS_GONE_TIMEOUT_MS) {
      throw new PgferryError(
        ErrorCode.FenceBreached,
        `source: ${rows.length === 1 ? 'a session' : `${rows.length} sessions`} of database "${database}" begun before the freeze did not end within ${SESSIONS_GONE_TIMEOUT_MS / 1000} s of pg_terminate_backend, and may still write: ${rows.map(describeSession).join('; ')}`,
        {
          field: 'source',
          fix: 'such a backend is stuck where it does not take signals (an I/O wait, an extension): end it on the source server, then start the migration again',
        },
      );
    }
    await pause(SESSIONS_POLL_MS, signal);
  }
}

/**
 * Lifts the freeze: every setting this fence saved is put back as it was (an entry it added goes
 * again), and the fence's slot is dropped. Needs nothing but the source: the originals live there.
 * Idempotent.
 */
export async function unfreezeSource(deps: ActivityDeps, input: FreezeSourceInput): Promise<UnfreezeResult> {
  const spec = input.source;
  return withClient(
    withDatabase(spec, MAINTENANCE_DB),
    deps.env,
    fenceStep('lifting the write fence'),
    async (client) => {
      await client.query('BEGIN READ WRITE');
      let restored = 0;
      try {
        const { rows: found } = await client.query<{ oid: string }>(DATABASE_OID, [spec.database]);
        const oid = found[0]?.oid;
        if (oid !== undefined) {
          const { rows: entries } = await client.query<SettingsEntry>(SETTINGS_ENTRIES, [oid]);
          const statements = planUnfreeze(entries, oid, spec.database, input.fence ?? ANONYMOUS_FENCE);
          for (const sql of statements) await client.query(sql);
          restored = statements.length;
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      const slotDropped =
        input.fence !== undefined &&
        ((await client.query(DROP_FENCE_SLOT, [input.fence, spec.database])).rowCount ?? 0) > 0;
      return { restored, slotDropped };
    },
  );
}

/** Drops a target database that this migration provisioned (rollback with --on-rollback drop). */
export async function dropOwnTarget(
  deps: ActivityDeps,
  input: DropOwnTargetInput,
): Promise<{ dropped: boolean }> {
  const spec = input.target;
  return withClient(withDatabase(spec, MAINTENANCE_DB), deps.env, 'target', async (client) => {
    // Only a database carrying this migration's marker is ours to drop.
    const info = await databaseInfo(client, spec.database);
    if (!info.exists || info.comment !== input.marker) return { dropped: false };
    await client.query(dropDatabaseSql(spec.database));
    return { dropped: true };
  });
}
