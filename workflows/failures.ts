import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import { failureInfo } from '../domain/failure-info';

/** The failure a workflow ends with: the same stable code as its cause, never retried. */
export function toWorkflowFailure(err: unknown): Error {
  if (isCancellation(err)) return err as Error;
  const info = failureInfo(err);
  return ApplicationFailure.create({
    type: info.code,
    message: info.message,
    nonRetryable: true,
    details: [{ field: info.field, fix: info.fix }],
  });
}
