import type { Client } from 'pg';
import type { OnSource, WatchReplicationInput } from '../domain/activity-inputs';
import { formatByteSize } from '../domain/byte-size';
import { lsnAtLeast } from '../domain/lsn';
import { pause, throwIfCancelled } from './cancel';
import type { ActivityDeps } from './deps';
import { serverDisk, type DiskSpace } from './disk';
import { withHeartbeat } from './heartbeat';
import { withClient } from './pg/connect';
import { replicationStep } from './pg/replication-checks';
import {
  SLOT_POSITION,
  type SlotPosition,
  SUBSCRIPTION_PROGRESS,
  type SubscriptionProgress,
} from './pg/replication-sql';
import { APPLY_ERRORS, SERVER_CLOCK_MS } from './pg/watch-sql';
import { lagSecondsOf, setApplyDurability } from './subscription';
import { ddlProblem, readDdlFigures, readTableJoins, type DdlFigures, type TableJoins } from './ddl';

/** Why a replication is not ready, as a kind: the watch returns when the kind changes, not the figures. */
export type ProblemKind =
  | 'lost'
  | 'unreadable'
  | 'subscription'
  | 'unreserved'
  | 'ddl-failed'
  | 'ddl-held'
  | 'tables-joining'
  | 'apply-errors'
  | 'not-applying'
  | 'stalled'
  | 'lagging';

/** What one watch found: whether the migration may cut over now, why not, and the figures. */
export interface ReplicationHealth {
  readonly ready: boolean;
  readonly kind?: ProblemKind;
  readonly problem?: string;
  /** The slot is lost (wal_status lost) or gone: replication cannot go on. */
  readonly lost: boolean;
  readonly lagBytes: number | null;
  readonly lagSeconds: number | null;
  readonly sourceLsn?: string;
  readonly confirmedLsn?: string;
  /** The subscription's apply worker runs on the target. */
  readonly applying: boolean;
  /** Apply and sync errors counted on the target (PostgreSQL 15+), and how long ago the last new one was seen. */
  readonly applyErrors?: number;
  readonly applyErrorAgeMs?: number;
  /** How long the target has confirmed nothing new while behind. */
  readonly stalledMs: number;
  readonly walStatus?: string;
  /** Bytes of WAL the source may still write before the slot is lost; null when unbounded. */
  readonly safeWalBytes?: number | null;
  /** WAL the slot holds back on the source (from its restart_lsn). */
  readonly retainedWalBytes?: number | null;
  /** The source's max_slot_wal_keep_size in bytes, -1 when unbounded. */
  readonly maxSlotWalKeepBytes?: number;
  /** The threshold of the retained-WAL warning in force, and whether it is passed. */
  readonly maxRetainedWalBytes: number;
  readonly retainedWarning: boolean;
  /** With awaitLsn: whether the target has confirmed it. */
  readonly reachedLsn?: boolean;
  readonly sourceDisk?: DiskSpace;
  /** The schema changes captured and replayed (--ddl apply or hold). */
  readonly ddl?: DdlFigures;
  /** Tables created on the source that the subscription can take now (REFRESH PUBLICATION), and those whose rows it still copies. */
  readonly joinable?: string[];
  readonly syncing?: string[];
}

/** Apply errors keep the migration not ready until none was new for this long. */
const APPLY_ERROR_QUIET_MS = 30_000;
/** A target that confirms nothing new for this long while behind is stalled. */
const STALLED_MS = 30_000;
/** The retained-WAL threshold when neither the input nor max_slot_wal_keep_size gives one. */
const DEFAULT_MAX_RETAINED_WAL = 10 * 1024 ** 3;
/** A new problem must be seen on this many looks in a row before the watch returns with it (no flapping). */
const LOOKS_TO_CONFIRM = 2;

/** What one look read: the slot (undefined when gone), the subscription, the error count. */
interface Reading {
  readonly position: SlotPosition | undefined;
  readonly progress: SubscriptionProgress | undefined;
  readonly errors: number | undefined;
  readonly ddl?: DdlFigures | undefined;
  readonly joins?: TableJoins | undefined;
}

/** What carries from one look to the next (and, through the input, from one watch to the next). */
interface Carried {
  confirmedLsn: string | undefined;
  stalledMs: number;
  errors: number | undefined;
  lastErrorAt: number | undefined;
  lookedAt: number;
}

/**
 * Watches an online migration's replication while it waits at its gate: every `pollMs` it reads
 * the slot on the source (lag, wal_status, safe_wal_size, retained WAL) and the subscription on
 * the target (apply worker, apply errors), and heartbeats. Returns as soon as the readiness
 * differs from what the workflow passed in (a new problem seen on two looks in a row; a lost slot
 * at once), the retained-WAL warning flips, or `awaitLsn` is reached; else after `maxWaitSeconds`
 * with fresh figures. So the history grows by a few events a minute however long the wait. A
 * server that cannot be read is a problem to report, not a failure: the watch goes on.
 */
export async function watchReplication(
  deps: ActivityDeps,
  input: WatchReplicationInput,
): Promise<ReplicationHealth> {
  return withHeartbeat('watching the replication', async (hb) => {
    const started = Date.now();
    const carried: Carried = {
      confirmedLsn: input.confirmedLsn,
      stalledMs: input.stalledMs ?? 0,
      errors: input.applyErrors,
      lastErrorAt: input.applyErrorAgeMs === undefined ? undefined : started - input.applyErrorAgeMs,
      lookedAt: started,
    };
    let disk: DiskSpace | undefined;
    let candidate: { kind: ProblemKind | undefined; looks: number } = {
      kind: input.ready ? undefined : 'lagging',
      looks: 0,
    };
    for (;;) {
      let health: ReplicationHealth;
      try {
        health = await withClient(
          input.source,
          deps.env,
          replicationStep('source', `watching slot ${input.slot}`),
          (source) =>
            withClient(
              input.target,
              deps.env,
              replicationStep('target', `watching subscription ${input.subscription}`),
              async (target) => {
                disk ??= await serverDisk(source, input.source);
                // Only a shorter wait at the cutover: a target that refuses it is still watched.
                if (input.durableApply !== undefined)
                  await setApplyDurability(target, input.subscription, input.durableApply).catch(
                    () => undefined,
                  );
                for (;;) {
                  throwIfCancelled(hb.signal, 'watching the replication');
                  const found = judge(input, await read(source, target, input), carried, disk);
                  deps.metrics?.replication(found);
                  hb.update({
                    detail: found.problem ?? `ready: ${formatByteSize(found.lagBytes ?? 0)} behind`,
                  });
                  if (returnNow(input, found, candidate, started)) return found;
                  candidate = nextCandidate(candidate, found);
                  await pause(input.pollMs, hb.signal);
                }
              },
            ),
        );
      } catch (err) {
        throwIfCancelled(hb.signal, 'watching the replication');
        health = unreadable(input, err, disk);
      }
      if (health.kind !== 'unreadable' || returnNow(input, health, candidate, started)) return health;
      candidate = nextCandidate(candidate, health);
      await pause(input.pollMs, hb.signal);
    }
  });
}

/** Reads the slot on the source and the subscription on the target, once. */
async function read(source: Client, target: Client, input: WatchReplicationInput): Promise<Reading> {
  const position = (await source.query<SlotPosition>(SLOT_POSITION, [input.slot])).rows[0];
  const progress = (await target.query<SubscriptionProgress>(SUBSCRIPTION_PROGRESS, [input.subscription]))
    .rows[0];
  const counted = (await target.query<{ errors: string | null }>(APPLY_ERRORS, [input.subscription])).rows[0];
  const errors = counted?.errors == null ? undefined : Number(counted.errors);
  if (!input.ddl) return { position, progress, errors };
  return {
    position,
    progress,
    errors,
    ddl: await readDdlFigures(source, target, input.slot),
    joins: await readTableJoins(source, target, input.slot, input.subscription),
  };
}

/** Whether the watch ends with this look: a confirmed change of readiness, a warning flipped, the LSN reached, time up. */
function returnNow(
  input: WatchReplicationInput,
  found: ReplicationHealth,
  candidate: { kind: ProblemKind | undefined; looks: number },
  started: number,
): boolean {
  if (input.maxWaitSeconds === 0) return true;
  if (found.lost) return true;
  if (found.retainedWarning !== input.retainedWarning) return true;
  if (found.reachedLsn === true && found.ready) return true;
  if ((found.joinable?.length ?? 0) > 0 || ddlMoved(input, found)) return true;
  const believed = input.ready ? undefined : (input.problemKind ?? 'lagging');
  const seen = candidate.kind === found.kind ? candidate.looks + 1 : 1;
  if (found.kind !== believed && seen >= LOOKS_TO_CONFIRM) return true;
  return Date.now() - started >= input.maxWaitSeconds * 1000;
}

/** Whether the schema changes' figures differ from what the workflow last saw. */
function ddlMoved(input: WatchReplicationInput, found: ReplicationHealth): boolean {
  const seen = input.ddlSeen;
  const now = found.ddl;
  if (now === undefined) return false;
  return (
    seen === undefined ||
    seen.captured !== now.captured ||
    seen.replayed !== now.replayed ||
    seen.failed !== now.failed ||
    seen.held !== now.held?.id
  );
}

function nextCandidate(
  candidate: { kind: ProblemKind | undefined; looks: number },
  found: ReplicationHealth,
): { kind: ProblemKind | undefined; looks: number } {
  return candidate.kind === found.kind
    ? { kind: found.kind, looks: candidate.looks + 1 }
    : { kind: found.kind, looks: 1 };
}

/** The health of a watch that could not read a server: not ready, saying why. */
function unreadable(
  input: WatchReplicationInput,
  err: unknown,
  disk: DiskSpace | undefined,
): ReplicationHealth {
  const message = err instanceof Error ? err.message : String(err);
  return {
    ready: false,
    kind: 'unreadable',
    problem: `replication: cannot be watched now (${message}); it is tried again every ${Math.round(input.pollMs / 1000)} s`,
    lost: false,
    lagBytes: null,
    lagSeconds: null,
    applying: false,
    stalledMs: input.stalledMs ?? 0,
    ...(input.applyErrors === undefined ? {} : { applyErrors: input.applyErrors }),
    maxRetainedWalBytes: input.maxRetainedWalBytes ?? DEFAULT_MAX_RETAINED_WAL,
    retainedWarning: input.retainedWarning,
    ...(disk ? { sourceDisk: disk } : {}),
  };
}

/** The readiness one reading shows, with the state carried from the looks before. */
function judge(
  input: WatchReplicationInput,
  reading: Reading,
  carried: Carried,
  disk: DiskSpace | undefined,
): ReplicationHealth {
  const now = Date.now();
  const { position, progress } = reading;
  const keep = position?.keep_bytes == null ? undefined : Number(position.keep_bytes);
  const maxRetained =
    input.maxRetainedWalBytes ??
    (keep !== undefined && keep > 0 ? Math.floor(keep / 2) : DEFAULT_MAX_RETAINED_WAL);
  const lagBytes = position?.lag_bytes == null ? null : Number(position.lag_bytes);
  const confirmed = position?.confirmed_lsn ?? undefined;
  // Stalled: behind, and the target confirmed nothing new since the last look.
  const elapsed = now - carried.lookedAt;
  carried.stalledMs =
    lagBytes !== null && lagBytes > 0 && confirmed === carried.confirmedLsn ? carried.stalledMs + elapsed : 0;
  carried.confirmedLsn = confirmed;
  carried.lookedAt = now;
  if (reading.errors !== undefined) {
    if (carried.errors !== undefined && reading.errors > carried.errors) carried.lastErrorAt = now;
    carried.errors = reading.errors;
  }
  const retained = position?.retained_bytes == null ? null : Number(position.retained_bytes);
  const figures = {
    lagBytes,
    lagSeconds: position ? lagSecondsOf(position, progress) : null,
    ...(position ? { sourceLsn: position.source_lsn } : {}),
    ...(confirmed ? { confirmedLsn: confirmed } : {}),
    applying: progress?.receiving ?? false,
    ...(carried.errors === undefined ? {} : { applyErrors: carried.errors }),
    ...(carried.lastErrorAt === undefined ? {} : { applyErrorAgeMs: now - carried.lastErrorAt }),
    stalledMs: carried.stalledMs,
    ...(position?.wal_status ? { walStatus: position.wal_status } : {}),
    ...(position
      ? { safeWalBytes: position.safe_wal_size == null ? null : Number(position.safe_wal_size) }
      : {}),
    ...(position ? { retainedWalBytes: retained } : {}),
    ...(keep === undefined ? {} : { maxSlotWalKeepBytes: keep }),
    maxRetainedWalBytes: maxRetained,
    retainedWarning: retained !== null && retained > maxRetained,
    ...(input.awaitLsn && confirmed ? { reachedLsn: lsnAtLeast(confirmed, input.awaitLsn) } : {}),
    ...(disk ? { sourceDisk: disk } : {}),
    ...(reading.ddl ? { ddl: reading.ddl } : {}),
    ...(reading.joins ? { joinable: reading.joins.joinable, syncing: reading.joins.syncing } : {}),
  };
  const found = problemOf(input, reading, figures, keep);
  return found === undefined
    ? { ready: true, lost: false, ...figures }
    : { ready: false, lost: found.kind === 'lost', kind: found.kind, problem: found.problem, ...figures };
}

/** The first reason, most serious first, why the replication is not ready; undefined when it is. */
function problemOf(
  input: WatchReplicationInput,
  { position, progress }: Reading,
  f: Omit<ReplicationHealth, 'ready' | 'lost' | 'kind' | 'problem'>,
  keep: number | undefined,
): { kind: ProblemKind; problem: string } | undefined {
  const slot = input.slot;
  const again =
    'reject the migration (it rolls back: slot, publication and subscription dropped, the source as it was), then start it again to copy anew';
  if (position === undefined) {
    return {
      kind: 'lost',
      problem: `replication: slot ${slot} is gone from the source, so replication cannot go on; ${again}`,
    };
  }
  if (position.wal_status === 'lost') {
    return {
      kind: 'lost',
      problem: `replication: slot ${slot} was lost (wal_status lost): the source removed WAL the target had not received (max_slot_wal_keep_size ${keep !== undefined && keep >= 0 ? formatByteSize(keep) : 'reached'}), so replication cannot go on; ${again}`,
    };
  }
  if (progress === undefined || !progress.enabled) {
    return {
      kind: 'subscription',
      problem: `replication: subscription ${input.subscription} ${progress ? 'is disabled' : 'is missing'} on the target`,
    };
  }
  if (position.wal_status === 'unreserved') {
    return {
      kind: 'unreserved',
      problem: `replication: slot ${slot} is about to be lost (wal_status unreserved): it holds ${formatByteSize(f.retainedWalBytes ?? 0)} of WAL, past max_slot_wal_keep_size; the next checkpoint removes it unless the target catches up`,
    };
  }
  const ddl = ddlProblem(input.slot, f, input.ddlHold);
  if (ddl !== undefined) return ddl;
  if (f.applyErrorAgeMs !== undefined && f.applyErrorAgeMs < APPLY_ERROR_QUIET_MS) {
    return {
      kind: 'apply-errors',
      problem: `replication: the target's apply worker fails (${f.applyErrors ?? '?'} errors counted in pg_stat_subscription_stats, the last ${Math.round(f.applyErrorAgeMs / 1000)} s ago); the target's server log says why (a conflicting row, a missing table)`,
    };
  }
  if (!f.applying) {
    return {
      kind: 'not-applying',
      problem: `replication: the subscription's apply worker is not running on the target`,
    };
  }
  const behind = formatByteSize(f.lagBytes ?? 0);
  if (f.stalledMs >= STALLED_MS) {
    return {
      kind: 'stalled',
      problem: `replication: the target has applied nothing for ${Math.round(f.stalledMs / 1000)} s while ${behind} behind (a lock held on the target, or a long transaction there?)`,
    };
  }
  if (f.lagBytes === null || f.lagBytes >= input.caughtUpBytes) {
    return {
      kind: 'lagging',
      problem: `replication: the target is ${behind} behind the source${typeof f.lagSeconds === 'number' ? ` (${f.lagSeconds.toFixed(1)} s)` : ''}; ready under ${formatByteSize(input.caughtUpBytes)}`,
    };
  }
  return undefined;
}

/** The source server's clock, in milliseconds since the epoch: the downtime's one clock. */
export async function sourceClock(deps: ActivityDeps, { source }: OnSource): Promise<{ ms: number }> {
  return withHeartbeat("reading the source's clock", () =>
    withClient(source, deps.env, replicationStep('source', 'reading the clock'), async (client) => {
      const { rows } = await client.query<{ ms: number }>(SERVER_CLOCK_MS);
      return { ms: Number(rows[0]?.ms) };
    }),
  );
}
