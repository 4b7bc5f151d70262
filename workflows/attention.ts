import { isCancellation, sleep } from '@temporalio/workflow';
import { failureInfo } from '../domain/failure-info';
import type { MigrationRun } from './migration-run';

/** The first wait before a failed step past the point of no return is tried again. */
const FIRST_RETRY_SECONDS = 30;
/** The longest wait between two tries: a person who fixed the cause does not wait long. */
const MAX_RETRY_SECONDS = 15 * 60;

/**
 * Runs a step past the point of no return until it succeeds. Nothing can be undone there, so a
 * failure is never thrown: the migration shows `needs_attention` with the step, the error and the
 * fix, notifies once, and tries again with backoff. Only a cancel ends the wait (and undoes nothing).
 */
export async function untilDone<T>(
  run: MigrationRun,
  step: string,
  fix: string,
  fn: () => Promise<T>,
): Promise<T> {
  let wait = FIRST_RETRY_SECONDS;
  for (let attempts = 1; ; attempts++) {
    try {
      const result = await fn();
      if (attempts > 1) run.progress.attended();
      return result;
    } catch (err) {
      if (isCancellation(err)) throw err;
      const info = failureInfo(err);
      const problem = {
        step,
        code: String(info.code),
        message: info.message,
        fix,
        attempts,
        nextRetrySeconds: wait,
      };
      run.progress.attention(problem);
      if (attempts === 1) await run.notifier.attention(problem);
      await sleep(wait * 1000);
      wait = Math.min(wait * 2, MAX_RETRY_SECONDS);
    }
  }
}
