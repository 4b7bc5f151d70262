import { ApplicationFailure } from '@temporalio/common';
import { expect } from 'vitest';
import type { ErrorCode } from '../../domain/errors';

/** The ApplicationFailure an activity rejected with; fails the test when it resolved or threw something else. */
export async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const outcome = await promise.then(
    (value: unknown) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(ApplicationFailure);
  return outcome.error as ApplicationFailure;
}

/** Asserts a failure's stable code, its retryability and (when given) the input field it names. */
export function expectFailure(
  failure: ApplicationFailure,
  code: ErrorCode,
  nonRetryable: boolean,
  field?: string,
): void {
  expect(failure.type).toBe(code);
  expect(failure.nonRetryable).toBe(nonRetryable);
  if (field !== undefined) expect(failure.details?.[0]).toMatchObject({ field });
}
