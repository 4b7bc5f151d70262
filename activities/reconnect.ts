import { ErrorCode, PgferryError } from '../domain/errors';
import { pause, throwIfCancelled } from './cancel';

/** How long a step waits for a server that went away (a fast restart takes seconds, a failover longer). */
export const SERVER_AWAY_WAIT_MS = 60_000;
const FIRST_PAUSE_MS = 250;
const LONGEST_PAUSE_MS = 4000;

/** The codes of a server that is away for now (restarting, failing over), not of a step that is wrong. */
const AWAY_CODES: ReadonlySet<string> = new Set([ErrorCode.ConnectionLost, ErrorCode.ServerUnreachable]);

/** True when the error is a named loss of the connection, or a server that does not answer for now. */
export function isServerAway(err: unknown): boolean {
  return err instanceof PgferryError && AWAY_CODES.has(err.code);
}

/** How retryWhileServerAway waits. */
export interface AwayOptions {
  /** Cancellation of the activity: the wait ends with it. */
  readonly signal: AbortSignal;
  /** What is being done, for the error of a cancelled wait. */
  readonly what: string;
  /** How long the server may stay away before the last error is thrown (SERVER_AWAY_WAIT_MS). */
  readonly waitMs?: number;
  /** Told of each error that is waited out (for the log). */
  readonly onAway?: (err: unknown) => void;
}

/**
 * Runs `step` again, with backoff, while it fails because its server is away (ConnectionLost,
 * ServerUnreachable), for up to `waitMs` from the first failure; any other error, or the last one,
 * is thrown. A step that waits long calls `reached` once connected: an outage after that is a new
 * one, with a new `waitMs`. For steps safe to repeat whose activity Temporal cannot simply retry:
 * the snapshot holder, whose exported snapshot a retry would lose, and the wait for it.
 */
export async function retryWhileServerAway<T>(
  options: AwayOptions,
  step: (reached: () => void) => Promise<T>,
): Promise<T> {
  let awaySince: number | undefined;
  let wait = FIRST_PAUSE_MS;
  const reached = () => {
    awaySince = undefined;
    wait = FIRST_PAUSE_MS;
  };
  for (;;) {
    try {
      return await step(reached);
    } catch (err) {
      awaySince ??= Date.now();
      if (!isServerAway(err) || Date.now() + wait - awaySince > (options.waitMs ?? SERVER_AWAY_WAIT_MS))
        throw err;
      throwIfCancelled(options.signal, options.what);
      options.onAway?.(err);
      await pause(wait, options.signal);
      throwIfCancelled(options.signal, options.what);
      wait = Math.min(wait * 2, LONGEST_PAUSE_MS);
    }
  }
}
