import { WorkflowNotFoundError } from '@temporalio/client';
import { ErrorCode, PgferryError } from '../domain/errors';
import { failureInfo } from '../domain/failure-info';

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
  const info = failureInfo(err);
  return new PgferryError(info.code as ErrorCode, info.message, {
    field: info.field,
    fix: info.fix,
    cause: err,
  });
}

/** Temporal did not answer at the address: named, with the way to start one. */
export function temporalUnavailable(cause: unknown, address: string | undefined): PgferryError {
  return new PgferryError(
    ErrorCode.TemporalUnavailable,
    `Temporal is not reachable at ${address ?? 'its address'}`,
    {
      field: 'TEMPORAL_ADDRESS',
      fix: 'start it with `pgferry dev`, or set TEMPORAL_ADDRESS to your Temporal server',
      cause,
    },
  );
}
