import type { Client } from 'pg';
import { ErrorCode, PgferryError } from '../domain/errors';

/** What a cancelled activity throws: the CancelledFailure Temporal gave, as Temporal expects. */
export function cancellation(signal: AbortSignal, what: string): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new PgferryError(ErrorCode.Cancelled, `${what} was cancelled`);
}

/** Throws the cancellation when the signal has aborted. */
export function throwIfCancelled(signal: AbortSignal, what = 'the activity'): void {
  if (signal.aborted) throw cancellation(signal, what);
}

/**
 * Closes the client's socket when the signal aborts (at once if it has), so that whatever waits on
 * it (a lock, a COPY, an index build, a held snapshot) ends now, and the server rolls back as the
 * connection goes. Returns the function that stops watching.
 */
export function closeOnAbort(signal: AbortSignal, client: Client): () => void {
  const close = () => client.connection.stream.destroy();
  if (signal.aborted) close();
  signal.addEventListener('abort', close, { once: true });
  return () => signal.removeEventListener('abort', close);
}

/** Runs `fn` while cancellation closes `client`'s socket (see closeOnAbort). */
export async function whileNotCancelled<T>(
  signal: AbortSignal,
  client: Client,
  fn: () => Promise<T>,
): Promise<T> {
  const stop = closeOnAbort(signal, client);
  try {
    return await fn();
  } finally {
    stop();
  }
}

/** Sleeps `ms`, or less when the signal aborts (the caller then checks it). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
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

/** How pollUntil waits: between probes, and for what. */
export interface PollOptions {
  readonly intervalMs: number;
  /** Cancellation: the poll ends with the cancellation as soon as it aborts. */
  readonly signal?: AbortSignal;
  /** What is being waited for, for the error of a cancelled poll. */
  readonly what: string;
}

/** Calls `probe` until it returns a value, pausing between calls; cancellable through the signal. */
export async function pollUntil<T>(options: PollOptions, probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    if (options.signal !== undefined) throwIfCancelled(options.signal, options.what);
    const value = await probe();
    if (value !== undefined) return value;
    await pause(options.intervalMs, options.signal);
  }
}
