import type { RetryPolicy } from '@temporalio/common';
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { CONTROL_TASK_QUEUE, DATA_TASK_QUEUE } from '../domain/constants';
import { NON_RETRYABLE_CODES } from '../domain/errors';

const retry: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  // Retries mend crashes and dropped connections; a fault that persists ends the run with its code.
  maximumAttempts: 6,
  nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
};

/** Light steps (checks, provisioning) on the control queue. */
export const control = proxyActivities<Activities>({
  taskQueue: CONTROL_TASK_QUEUE,
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry,
});

/**
 * Data-heavy steps (dump, restore, checksums) on the data queue. They heartbeat every second, so
 * a worker that dies is noticed within the heartbeat timeout and the step moves to another worker.
 */
export const data = proxyActivities<Activities>({
  taskQueue: DATA_TASK_QUEUE,
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '10 seconds',
  retry,
});

/**
 * The snapshot holder (online): one attempt only. If it dies, its exported snapshot is gone, and
 * the workflow restarts the copy from a new slot instead of retrying the holder.
 */
export const holding = proxyActivities<Activities>({
  taskQueue: DATA_TASK_QUEUE,
  startToCloseTimeout: '7 days',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { maximumAttempts: 1 },
});
