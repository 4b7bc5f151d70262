import type { Client } from 'pg';
import type { CreateSubscriptionInput, ReplicationLagInput } from '../domain/activity-inputs';
import { ErrorCode, PgferryError } from '../domain/errors';
import { withMirroredCaptures } from './captures-mirror';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { inStep, quoteIdent, resolvePassword, withClient } from './pg/connect';
import { ignoreCode, noSlot, replicationStep } from './pg/replication-checks';
import {
  createSubscriptionSql,
  enableSubscriptionSql,
  QUIET_STATEMENT_LOG,
  setSubscriptionSlotSql,
  SLOT_POSITION,
  type SlotPosition,
  sourceConninfo,
  SUBSCRIPTION_PROGRESS,
  type SubscriptionProgress,
  SUBSCRIPTION_STATE,
  SUBSCRIPTION_SYNC_COMMIT,
  subscriptionSyncCommitSql,
} from './pg/replication-sql';
import { SqlState } from './pg/sqlstate';

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

/**
 * Creates the target's subscription to the source's publication, starting at the existing slot,
 * unless it exists (other online migrations' capture tables the publication carries are mirrored
 * on the target when it lacks them: see withMirroredCaptures). The target server itself connects to the source: the conninfo names the
 * source as the worker reaches it, with the password the worker resolved from password_env. That
 * password goes into the statement only (and so into the target's catalog), never into a log or
 * a result.
 */
export async function createSubscription(
  deps: ActivityDeps,
  input: CreateSubscriptionInput,
): Promise<{ created: boolean }> {
  // The target server connects to the source from inside the statement, and waits for it.
  return withHeartbeat('creating the subscription', async () => {
    const { source } = input;
    const conninfo = sourceConninfo(source, resolvePassword(source, deps.env, 'source'));
    return withClient(
      input.target,
      deps.env,
      replicationStep('target', `creating subscription ${input.subscription}`),
      async (client) => {
        const { rows } = await client.query<{ enabled: boolean; slot: string | null }>(SUBSCRIPTION_STATE, [
          input.subscription,
        ]);
        const existing = rows[0];
        if (existing !== undefined) {
          await resumeSubscription(client, input, existing);
          return { created: false };
        }
        for (const setting of QUIET_STATEMENT_LOG) {
          await client.query(setting).catch(ignoreCode(SqlState.InsufficientPrivilege));
        }
        const { subscription, publication, slot } = input;
        const create = () =>
          client.query(createSubscriptionSql({ subscription, conninfo, publication, slot }));
        return withMirroredCaptures(deps, input, client, create).then(
          () => ({ created: true }),
          (err: unknown) => {
            // Another attempt created it between the check and here.
            if ((err as { code?: unknown }).code === SqlState.DuplicateObject) return { created: false };
            throw subscribeFailure(err);
          },
        );
      },
    );
  });
}

/** A failed CREATE SUBSCRIPTION whose connection error is the target's, not the worker's, named as such. */
function subscribeFailure(err: unknown): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith(SqlState.ConnectionExceptionClass)) {
    // The target server could not reach or log in to the source: a different network path
    // and credentials than the worker's.
    return new PgferryError(
      ErrorCode.ConnectionFailed,
      `source: the target server cannot connect to the source: ${err instanceof Error ? err.message : String(err)}`,
      {
        field: 'source',
        fix: "the target server must reach the source's host and port as written in the source URL, and the source's pg_hba.conf must let it in (with password_env when it needs a password)",
        cause: err,
      },
    );
  }
  return err;
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
  await inStep(client, replicationStep('target', `enabling subscription ${input.subscription}`), async () => {
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
  { source, target, slot, subscription }: ReplicationLagInput,
): Promise<ReplicationLag> {
  return withHeartbeat('reading the replication lag', async () => {
    const position = await withClient(
      source,
      deps.env,
      replicationStep('source', `reading slot ${slot}`),
      async (client) => (await client.query<SlotPosition>(SLOT_POSITION, [slot])).rows[0],
    );
    if (position === undefined || position.confirmed_lsn === null || position.lag_bytes === null) {
      throw noSlot(slot);
    }
    const progress = await withClient(
      target,
      deps.env,
      replicationStep('target', `reading subscription ${subscription}`),
      async (client) =>
        (await client.query<SubscriptionProgress>(SUBSCRIPTION_PROGRESS, [subscription])).rows[0],
    );
    const lagBytes = Number(position.lag_bytes);
    const lagSeconds = lagSecondsOf(position, progress);
    deps.metrics?.replication({ lagBytes, lagSeconds });
    return {
      lagBytes,
      lagSeconds,
      sourceLsn: position.source_lsn,
      confirmedLsn: position.confirmed_lsn,
      receiving: progress?.receiving ?? false,
    };
  });
}

/**
 * The seconds the target is behind: 0 when it has confirmed everything; while the slot streams, the
 * source's measured replay lag (NULL once caught up); else the seconds since the target last
 * heard from the source; null when neither is known.
 */
export function lagSecondsOf(
  position: SlotPosition,
  progress: SubscriptionProgress | undefined,
): number | null {
  if (Number(position.lag_bytes ?? 0) === 0) return 0;
  return position.active ? (position.replay_lag_seconds ?? 0) : (progress?.silent_seconds ?? null);
}

/**
 * Makes the apply worker's commits durable at once (`on`) or leaves them to the WAL writer (`off`,
 * as created; the apply keeps pace with a busy source). The look before a cutover turns it on: the
 * target confirms the frozen source's final LSN only once everything before it is flushed, and
 * with `off` that waits for the WAL writer and then for the worker's next feedback (up to a
 * second). The gate's watch turns it off again, should the cutover have gone back to the gate.
 * Changed only when it differs; a subscription that is gone is left to the watch to report.
 */
export async function setApplyDurability(client: Client, subscription: string, on: boolean): Promise<void> {
  const { rows } = await client.query<{ subsynccommit: string }>(SUBSCRIPTION_SYNC_COMMIT, [subscription]);
  const current = rows[0]?.subsynccommit;
  if (current === undefined || (current === 'on') === on) return;
  await client.query(subscriptionSyncCommitSql(subscription, on));
}
