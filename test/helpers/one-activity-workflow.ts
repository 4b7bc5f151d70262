import type { Duration } from '@temporalio/common';
import { proxyActivities } from '@temporalio/workflow';

/** How oneActivity schedules its activity. */
export interface OneActivityOptions {
  /** The activity's heartbeat timeout, e.g. '2 seconds': short, so a step that does not heartbeat is caught. */
  readonly heartbeatTimeout: Duration;
  readonly maximumAttempts: number;
}

/**
 * A test workflow: runs one pgferry activity by name on the workflow's own task queue, with a
 * heartbeat timeout of the test's choosing, and returns its result. Retries come quickly, so that
 * an attempt that times out shows as a second one at once.
 */
export async function oneActivity(
  name: string,
  input: unknown,
  options: OneActivityOptions,
): Promise<unknown> {
  const activities = proxyActivities<Record<string, (input: unknown) => Promise<unknown>>>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: options.heartbeatTimeout,
    retry: { initialInterval: '100 milliseconds', maximumAttempts: options.maximumAttempts },
  });
  const activity = activities[name];
  if (activity === undefined) throw new Error(`no activity ${name}`);
  return activity(input);
}
