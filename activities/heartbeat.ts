import { Context } from '@temporalio/activity';
import type { ProgressFigures } from '../domain/contracts';
import { cancellation } from './cancel';

/** A running heartbeat: the progress setter, its stop, and the activity's cancellation signal. */
export interface Heartbeat {
  readonly update: (figures: ProgressFigures) => void;
  readonly stop: () => void;
  readonly signal: AbortSignal;
}

/** The one timer of an activity's heartbeat, shared by every holder inside that activity. */
interface Beat {
  latest: ProgressFigures;
  holders: number;
  readonly timer: NodeJS.Timeout;
}

// One beat per running activity: an activity that calls another's implementation (dropReplication,
// copyChunks, cleanSource, provisionLocalCluster) keeps one timer and one set of figures, so the
// details Temporal keeps never alternate between an outer `{}` and the inner progress.
const beats = new WeakMap<Context, Beat>();

/**
 * Heartbeats the latest progress figures every `intervalMs` until stopped; returns the setter and
 * stop. A heartbeat started while one runs in the same activity joins it: its figures merge into
 * the running one's, and the timer stops when its last holder stops.
 */
export function startHeartbeat(intervalMs = 1000): Heartbeat {
  const ctx = Context.current();
  let beat = beats.get(ctx);
  if (beat === undefined) {
    const fresh: Beat = {
      latest: {},
      holders: 0,
      timer: setInterval(() => ctx.heartbeat(fresh.latest), intervalMs),
    };
    beats.set(ctx, fresh);
    ctx.heartbeat(fresh.latest);
    beat = fresh;
  }
  const held = beat;
  held.holders += 1;
  let stopped = false;
  return {
    update: (figures) => {
      held.latest = { ...held.latest, ...figures };
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      held.holders -= 1;
      if (held.holders > 0) return;
      clearInterval(held.timer);
      beats.delete(ctx);
    },
    signal: ctx.cancellationSignal,
  };
}

/**
 * Runs `fn` under a heartbeat, always stopped. Once the activity is cancelled, whatever `fn`
 * throws (a socket closed on abort fails its query) becomes the cancellation Temporal expects.
 * Every activity that talks to a server or runs a tool runs under one, even when it is usually
 * quick: a statement that waits on a lock, a server that is slow to answer or a tool that takes
 * its time would otherwise outlast the heartbeat timeout, and Temporal would start a second
 * attempt beside the first.
 */
export async function withHeartbeat<T>(what: string, fn: (hb: Heartbeat) => Promise<T>): Promise<T> {
  const hb = startHeartbeat();
  try {
    return await fn(hb);
  } catch (err) {
    if (hb.signal.aborted) throw cancellation(hb.signal, what);
    throw err;
  } finally {
    hb.stop();
  }
}
