import { Context } from '@temporalio/activity';
import type { ProgressFigures } from '../domain/contracts';

/** Heartbeats the latest progress figures every `intervalMs` until stopped; returns the setter and stop. */
export function startHeartbeat(intervalMs = 1000): {
  update: (figures: ProgressFigures) => void;
  stop: () => void;
  signal: AbortSignal;
} {
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
