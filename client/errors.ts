import { WorkflowNotFoundError } from '@temporalio/client';
import { ErrorCode, PgferryError } from '../domain/errors';
import { failureInfo } from '../domain/failure-info';
import { temporalUnavailable } from '../worker/temporal-connection';

/** Converts what the Temporal client throws into a PgferryError with the stable code of the cause. */
export function toPgferryError(err: unknown, context: { id?: string; address?: string } = {}): PgferryError {
  if (err instanceof PgferryError) return err;
  if (err instanceof WorkflowNotFoundError) {
    return new PgferryError(
      ErrorCode.WorkflowNotFound,
      `id: no pgferry workflow "${context.id ?? ''}" exists`,
      {
        field: 'id',
        fix: 'see `pgferry list` for the ids there are',
        cause: err,
      },
    );
  }
  const grpcCode = (err as { code?: number }).code;
  // gRPC 14 = UNAVAILABLE, 4 = DEADLINE_EXCEEDED: the server is not there.
  if (grpcCode === 14 || grpcCode === 4) return temporalUnavailable(err, context.address);
  // 16 = UNAUTHENTICATED, 7 = PERMISSION_DENIED: the server's authorizer refused this caller.
  if (grpcCode === 16 || grpcCode === 7) return temporalRefused(err, grpcCode);
  const info = failureInfo(err);
  return new PgferryError(info.code as ErrorCode, info.message, {
    field: info.field,
    fix: info.fix,
    cause: err,
  });
}

/**
 * Temporal refused the caller: no or wrong credentials (16), or the server's authorizer does not
 * allow this call in this namespace (7). Bad input: no retry makes the credentials right.
 */
function temporalRefused(err: unknown, grpcCode: 16 | 7): PgferryError {
  const details = (err as { details?: unknown }).details;
  const why = typeof details === 'string' && details ? `: ${details}` : '';
  return grpcCode === 16
    ? new PgferryError(ErrorCode.AuthFailed, `Temporal did not accept the credentials${why}`, {
        field: 'TEMPORAL_API_KEY',
        fix: 'give the API key (TEMPORAL_API_KEY, api_key in the profile) or client certificate the server expects',
        cause: err,
      })
    : new PgferryError(ErrorCode.PermissionDenied, `Temporal refused this call${why}`, {
        field: 'TEMPORAL_NAMESPACE',
        fix: "ask the Temporal cluster's administrator for the permission in this namespace, or connect with the identity that has it",
        cause: err,
      });
}
