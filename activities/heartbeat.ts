import { Context } from '@temporalio/activity';
import type { ProgressFigures } from '../domain/contracts';
import { cancellation } from './cancel';

/** A running heartbeat: the progress setter, its stop, and the activity's cancellation signal. */
export interface Heartbeat {
  readonly update: (figures: ProgressFigures) => void;
  readonly stop: () => void;
  readonly signal: AbortSignal;
}

/** Heartbeats the latest progress figures every `intervalMs` until stopped; returns the setter and stop. */
export function startHeartbeat(intervalMs = 1000): Heartbeat {
  const ctx = Context.current();
  let latest: ProgressFigures = {};
  ctx.heartbeat(latest);
  const timer = setInterval(() => ctx.heartbeat(latest), intervalMs);
  return {
    update: (figures) => {
      latest = { ...latest, ...figures };
    },
    stop: () => clearInterval(timer),
    signal: ctx.cancellationSignal,
  };
}

/**
 * Runs `fn` under a heartbeat, always stopped. Once the activity is cancelled, whatever `fn`
 * throws (a socket closed on abort fails its query) becomes the cancellation Temporal expects.
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
