import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ErrorCode, isNonRetryable, PgferryError } from '../domain/errors';

/** Converts any error into the ApplicationFailure Temporal records: type = the stable code. */
export function toApplicationFailure(err: unknown): Error {
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure) return err;
  if (err instanceof PgferryError) {
    return ApplicationFailure.create({
      type: err.code,
      message: err.message,
      nonRetryable: isNonRetryable(err.code),
      details: [{ field: err.field, fix: err.fix }],
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return ApplicationFailure.create({ type: ErrorCode.Internal, message, nonRetryable: false });
}

type AsyncFn = (...args: never[]) => Promise<unknown>;

/** Wraps every activity so that what it throws reaches Temporal as a named failure. */
export function withFailureCodes<T extends Record<string, AsyncFn>>(activities: T): T {
  const wrapped: Record<string, AsyncFn> = {};
  for (const [name, fn] of Object.entries(activities)) {
    const wrapper = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toApplicationFailure(err);
      }
    };
    Object.defineProperty(wrapper, 'name', { value: name });
    wrapped[name] = wrapper;
  }
  return wrapped as T;
}
