import type { PgferryClient } from '../../client/pgferry-client';
import type { WorkflowStatus } from '../../domain/contracts';
import { isLive } from '../../domain/live-states';

/** Resolves after `ms` milliseconds. For pacing a load, never for waiting on an outcome: use waitFor. */
export function sleep(ms: number): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` every `intervalMs` until it returns a value other than undefined, and returns it;
 * fails after `timeoutMs` naming `what` (a function is called then, so the message can say what
 * was last seen). A probe that throws ends the wait at once with its error: that is how a probe
 * says "this will never happen now".
 */
export async function waitFor<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    }
    await sleep(intervalMs);
  }
}

/**
 * Polls a workflow's status (by id or migration name) until `test` holds, and returns that status.
 * A workflow that ends without `test` holding fails the wait at once, with its error: a test that
 * waits for a later stage learns why it will never come instead of timing out.
 */
export async function waitForStatus(
  client: Pick<PgferryClient, 'status'>,
  id: string,
  what: string,
  test: (status: WorkflowStatus) => boolean,
  timeoutMs = 120_000,
): Promise<WorkflowStatus> {
  let last = 'no status yet';
  return waitFor(
    () => `${id}: ${what}; last ${last}`,
    async () => {
      const status = await client.status(id);
      last = `${status.state} at ${status.stage}`;
      if (test(status)) return status;
      if (!isLive(status.state)) {
        throw new Error(`${id} ended ${last} before ${what}: ${JSON.stringify(status.error)}`);
      }
      return undefined;
    },
    timeoutMs,
    100,
  );
}
