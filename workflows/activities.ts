import type { RetryPolicy } from '@temporalio/common';
import {
  ActivityCancellationType,
  proxyActivities,
  type ActivityInterfaceFor,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { CONTROL_TASK_QUEUE, DATA_TASK_QUEUE } from '../domain/constants';
import { NON_RETRYABLE_CODES } from '../domain/errors';
import { activitySummary, SUMMARIZED_ACTIVITIES, type ActivityInput } from './summaries';

const retry: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  // Retries mend crashes and dropped connections; a fault that persists ends the run with its code.
  maximumAttempts: 6,
  nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
};

type Call = (input: unknown) => Promise<unknown>;
type CallWithOptions = Call & {
  executeWithOptions(options: ActivityOptions, args: [unknown]): Promise<unknown>;
};

/**
 * Activities that carry a one-line summary (from their name and input) into the UI: the summary
 * rides on the schedule command's user metadata, which replay does not compare, so histories
 * recorded without summaries still replay. Call sites stay plain `control.copyChunks(input)`.
 */
function summarized(options: ActivityOptions): ActivityInterfaceFor<Activities> {
  const proxy = proxyActivities<Activities>(options) as unknown as Record<string, CallWithOptions>;
  const out: Record<string, CallWithOptions> = {};
  for (const name of SUMMARIZED_ACTIVITIES) {
    const summary = (input: unknown) => activitySummary(name, input as ActivityInput<typeof name>);
    const call = (input: unknown) => proxy[name]!.executeWithOptions({ summary: summary(input) }, [input]);
    out[name] = Object.assign(call, {
      // A caller's own summary wins over the derived one.
      executeWithOptions: (own: ActivityOptions, args: [unknown]) =>
        proxy[name]!.executeWithOptions({ summary: summary(args[0]), ...own }, args),
    });
  }
  return out as unknown as ActivityInterfaceFor<Activities>;
}

/** Light steps (checks, provisioning) on the control queue. */
export const control = summarized({
  taskQueue: CONTROL_TASK_QUEUE,
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  // A cancelled step is waited for until it has ended: a rollback never runs beside it.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/**
 * Steps that only read and wait (the gate's watch of the replication, the cutover's wait for the
 * replay): a cancel abandons them at once rather than waiting until the worker hears of it at its
 * next heartbeat to the server (throttled to ~24 s), since nothing they did needs undoing.
 */
export const watching = summarized({
  taskQueue: CONTROL_TASK_QUEUE,
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  cancellationType: ActivityCancellationType.TRY_CANCEL,
  retry,
});

/**
 * Data-heavy steps (dump, restore, checksums) on the data queue. They heartbeat every second, so
 * a worker that dies is noticed within the heartbeat timeout and the step moves to another worker.
 */
export const data = summarized({
  taskQueue: DATA_TASK_QUEUE,
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '10 seconds',
  // A cancelled copy is waited for until its connection is closed and its transaction rolled back.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/**
 * The snapshot holder (online): one attempt only. If it dies, its exported snapshot is gone, and
 * the workflow restarts the copy from a new slot instead of retrying the holder. On the control
 * queue: it only keeps one idle connection open for the whole copy, and on the data queue each
 * copying migration's holder took one of PGFERRY_DATA_CONCURRENCY's slots for as long as its
 * copy ran, so that as many online migrations copying at once (a fleet's --concurrency 4, the
 * default 4 data slots) held every slot and waited forever for chunks and snapshot waits that
 * had none left.
 */
export const holding = summarized({
  taskQueue: CONTROL_TASK_QUEUE,
  startToCloseTimeout: '7 days',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { maximumAttempts: 1 },
});

/**
 * Notifications: short HTTP calls, so a stuck one is abandoned and retried, not waited on for
 * minutes; after about half a minute of retries the failure is recorded and the migration goes on.
 */
export const notifying = summarized({
  taskQueue: CONTROL_TASK_QUEUE,
  startToCloseTimeout: '30 seconds',
  retry: { ...retry, maximumInterval: '10 seconds', maximumAttempts: 5 },
});
