import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ErrorCode, PgferryError, type ErrorInfo } from './errors';

/**
 * Finds the innermost named failure in a chain (workflow ← child ← activity ← application), so
 * that every layer reports the code of the step that failed, never a parsed message.
 */
export function failureInfo(err: unknown): ErrorInfo {
  let current: unknown = err;
  let found: ErrorInfo | undefined;
  let cancelled = false;
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure && current.type) {
      const details = (current.details?.[0] ?? {}) as { field?: string; fix?: string };
      found = { code: current.type, message: current.message, field: details.field, fix: details.fix };
    } else if (current instanceof PgferryError) {
      found = { code: current.code, message: current.message, field: current.field, fix: current.fix };
    } else if (current instanceof CancelledFailure) {
      cancelled = true;
    }
    // Client errors (WorkflowFailedError) are plain Errors with a cause: follow every link.
    current = current.cause;
  }
  if (found) return found;
  if (cancelled) return { code: ErrorCode.Cancelled, message: 'cancelled' };
  return { code: ErrorCode.Internal, message: err instanceof Error ? err.message : String(err) };
}
