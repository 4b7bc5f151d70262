import type { Client } from 'pg';
import type { DropReplicationInput, OnSource, WaitForReplayInput } from '../domain/activity-inputs';
import { ErrorCode, PgferryError } from '../domain/errors';
import { pollUntil } from './cancel';
import { failedDdlProblem, removeDdlCapture } from './ddl';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { inStep, quoteIdent, withClient, withTransaction } from './pg/connect';
import { ignoreCode, noSlot, replicationStep } from './pg/replication-checks';
import {
  CUTOVER_BEGIN,
  CUTOVER_SYNC,
  DELETE_SNAPSHOTS,
  DROP_SLOT,
  dropPublicationSql,
  dropSubscriptionSql,
  EMIT_CUTOVER_MESSAGE,
  END_SLOT_WALSENDER,
  PUBLICATION_EXISTS,
  READ_WRITE_SESSION,
  SLOT_REACHED,
  SNAPSHOTS_EXIST,
  SUBSCRIPTION_STATE,
} from './pg/replication-sql';
import { SqlState } from './pg/sqlstate';

/** What dropReplication found and dropped; all false on a second run. */
export interface DropReplicationResult {
  readonly subscription: boolean;
  readonly slot: boolean;
  readonly publication: boolean;
  /** The capture of schema changes (--ddl) was there and is removed. */
  readonly ddlCapture: boolean;
}

const POLL_MS = 50;
// A slot whose walsender was just ended stays active until that process has exited.
const SLOT_RELEASE_TIMEOUT_MS = 15_000;

/**
 * Writes the cutover's WAL record on the source and returns the LSN where it ends. After the
 * freeze, that is the source's final LSN: waitForReplay waits for the target to confirm it.
 */
export async function currentLsn(deps: ActivityDeps, input: OnSource): Promise<{ lsn: string }> {
  return withHeartbeat('marking the final LSN', () =>
    withClient(input.source, deps.env, replicationStep('source', 'marking the final LSN'), (client) =>
      markFinalLsn(client),
    ),
  );
}

/** currentLsn's work on an open connection to the source database (freezeSource marks it this way too). */
export async function markFinalLsn(client: Client): Promise<{ lsn: string }> {
  // Its commit waits for the flush, and for a synchronous standby where the source has one.
  return withTransaction(
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
  );
}

/**
 * Waits until the slot's consumer (the target's subscription) has confirmed everything up to
 * `lsn` on the source, i.e. the target has applied every change before it. Without `lsn`, marks
 * the source's final LSN first (currentLsn, on the same connection: one step less in the outage).
 * With `timeoutMs`, gives up when that has passed and returns `reached: false` with how far the
 * target got: the cutover's deadline, after which the source is unfrozen.
 */
export async function waitForReplay(
  deps: ActivityDeps,
  input: WaitForReplayInput,
): Promise<{ lsn: string; waitedMs: number; confirmedLsn: string; reached: boolean; ddlFailed?: string }> {
  const started = Date.now();
  return withHeartbeat('waiting for the replay', (hb) =>
    withClient(
      input.source,
      deps.env,
      replicationStep('source', `reading slot ${input.slot}`),
      async (client) => {
        // The subscription is checked on the target while the source marks its final LSN.
        const [{ lsn }] = await Promise.all([
          input.lsn === undefined ? markFinalLsn(client) : { lsn: input.lsn },
          assertSubscriptionEnabled(deps, input.target, input.subscription),
        ]);
        hb.update({ detail: `waiting for lsn ${lsn}` });
        const replay = await pollUntil(
          { intervalMs: POLL_MS, signal: hb.signal, what: 'waiting for the replay' },
          async () => {
            const row = await slotReached(client, input.slot, lsn);
            hb.update({ detail: `lsn ${row.confirmed_lsn} of ${lsn}` });
            const waitedMs = Date.now() - started;
            if (row.reached) return { waitedMs, confirmedLsn: row.confirmed_lsn, reached: true };
            if (input.timeoutMs !== undefined && waitedMs >= input.timeoutMs) {
              return { waitedMs, confirmedLsn: row.confirmed_lsn, reached: false };
            }
            return undefined;
          },
        );
        // A schema change that failed on the target in the last moments before the freeze.
        const ddlFailed = replay.reached ? await failedDdlOnTarget(deps, input) : undefined;
        return { lsn, ...replay, ...(ddlFailed === undefined ? {} : { ddlFailed }) };
      },
    ),
  );
}

/** How far the slot's consumer has confirmed, and whether that reaches `lsn`; a slot that is gone is an error. */
async function slotReached(
  client: Client,
  slot: string,
  lsn: string,
): Promise<{ confirmed_lsn: string; reached: boolean }> {
  const { rows } = await client.query<{ confirmed_lsn: string | null; reached: boolean | null }>(
    SLOT_REACHED,
    [slot, lsn],
  );
  const row = rows[0];
  if (row?.confirmed_lsn == null) throw noSlot(slot);
  return { confirmed_lsn: row.confirmed_lsn, reached: row.reached === true };
}

/**
 * Waits, polling the source's slot, until its consumer has confirmed `lsn`, or until `signal` ends
 * the wait (the cutover's deadline cancels it). No deadline of its own.
 */
export async function untilConfirmed(
  deps: ActivityDeps,
  after: { source: WaitForReplayInput['source']; slot: string; lsn: string },
  signal: AbortSignal,
): Promise<void> {
  await withClient(
    after.source,
    deps.env,
    replicationStep('source', `reading slot ${after.slot}`),
    (client) =>
      pollUntil({ intervalMs: POLL_MS, signal, what: 'waiting for the replay' }, async () =>
        (await slotReached(client, after.slot, after.lsn)).reached ? true : undefined,
      ),
  );
}

/** A missing or disabled subscription would never confirm anything: say so instead of waiting. */
async function assertSubscriptionEnabled(
  deps: ActivityDeps,
  target: WaitForReplayInput['target'],
  subscription: string,
): Promise<void> {
  const state = await withClient(
    target,
    deps.env,
    replicationStep('target', `reading subscription ${subscription}`),
    async (client) => (await client.query<{ enabled: boolean }>(SUBSCRIPTION_STATE, [subscription])).rows[0],
  );
  if (!state?.enabled) {
    throw new PgferryError(
      ErrorCode.InvalidInput,
      `subscription: ${quoteIdent(subscription)} ${state ? 'is disabled' : 'does not exist'} on the target`,
      { field: 'subscription', fix: 'create the subscription (createSubscription) before the cutover' },
    );
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
  return withHeartbeat('dropping the replication', async () => {
    const { subscription } = await dropSubscription(deps, input);
    return { subscription, ...(await dropSourceReplication(deps, input)) };
  });
}

/**
 * The target's half of dropReplication: the subscription (detached from its slot first, so the
 * source is never reached) and the snapshot row. A rollback runs it as a step of its own, so that
 * a target that is down keeps neither the source's slot nor its publication alive.
 */
export async function dropSubscription(
  deps: ActivityDeps,
  input: DropReplicationInput,
): Promise<{ subscription: boolean }> {
  // DROP SUBSCRIPTION waits for its apply worker to stop.
  return withHeartbeat('dropping the subscription', async () => {
    const subscription = await withClient(
      input.target,
      deps.env,
      replicationStep('target', `dropping subscription ${input.subscription}`),
      (client) => dropSubscriptionOn(client, input),
    );
    return { subscription };
  });
}

/**
 * The source's half of dropReplication: the slot (its walsender ended first) and the publication.
 * Needs nothing of the target. Idempotent.
 */
export async function dropSourceReplication(
  deps: ActivityDeps,
  input: Pick<DropReplicationInput, 'source' | 'slot' | 'publication'>,
): Promise<{ slot: boolean; publication: boolean; ddlCapture: boolean }> {
  // Ending a slot's walsender is waited for (dropSlot, up to 15 s).
  return withHeartbeat('dropping the slot and the publication', () =>
    withClient(input.source, deps.env, replicationStep('source', 'opening the drop'), async (client) => {
      // At cutover the source is frozen (read-only by default): DROP PUBLICATION would be refused.
      await client.query(READ_WRITE_SESSION);
      const slot = await inStep(client, replicationStep('source', `dropping slot ${input.slot}`), () =>
        dropSlot(client, input.slot),
      );
      const publication = await inStep(
        client,
        replicationStep('source', `dropping publication ${input.publication}`),
        async () => {
          const { rows } = await client.query<{ present: boolean }>(PUBLICATION_EXISTS, [input.publication]);
          await client.query(dropPublicationSql(input.publication));
          return rows[0]?.present ?? false;
        },
      );
      // The capture of schema changes goes with the publication its table is in.
      const ddlCapture = await inStep(
        client,
        replicationStep('source', 'removing the capture of schema changes'),
        () => removeDdlCapture(client, input.publication),
      );
      return { slot, publication, ddlCapture };
    }),
  );
}

/** Drops the subscription and the snapshot row on the target; false when there was no subscription. */
export async function dropSubscriptionOn(
  client: Client,
  input: Pick<DropReplicationInput, 'subscription' | 'slot' | 'migration'>,
): Promise<boolean> {
  const { rows } = await client.query(SUBSCRIPTION_STATE, [input.subscription]);
  if (rows.length > 0) {
    for (const statement of dropSubscriptionSql(input.subscription)) {
      await client.query(statement).catch(ignoreCode(SqlState.UndefinedObject));
    }
  }
  const { rows: exists } = await client.query<{ present: boolean }>(SNAPSHOTS_EXIST);
  if (exists[0]?.present) await client.query(DELETE_SNAPSHOTS, [input.migration ?? null, input.slot]);
  return rows.length > 0;
}

/** Drops a slot of the client's database, ending the walsender that streams from it first; false when there was none. */
export function dropSlot(client: Client, slot: string): Promise<boolean> {
  const deadline = Date.now() + SLOT_RELEASE_TIMEOUT_MS;
  return pollUntil({ intervalMs: 100, what: `dropping slot ${slot}` }, async () => {
    await client.query(END_SLOT_WALSENDER, [slot]);
    try {
      const { rowCount } = await client.query(DROP_SLOT, [slot]);
      return (rowCount ?? 0) > 0;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === SqlState.UndefinedObject) return false;
      // The ended walsender has not exited yet, or the subscriber reconnected in between: again.
      if (code === SqlState.ObjectInUse && Date.now() < deadline) return undefined;
      throw err;
    }
  });
}

/** The failed schema change on the target, as the gate names it (replication objects share one name). */
async function failedDdlOnTarget(deps: ActivityDeps, input: WaitForReplayInput): Promise<string | undefined> {
  return withClient(
    input.target,
    deps.env,
    replicationStep('target', 'reading the schema changes'),
    (client) => failedDdlProblem(client, input.subscription),
  );
}
