import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { PgferryMetrics } from './metrics';

/** The activities whose result is a validation report (`ok: false` when the target differs). */
const VALIDATIONS = new Set(['validateTables', 'validateLive']);

/** The code a failed attempt is counted under: the ApplicationFailure type (pgferry's error code). */
function codeOf(err: unknown): string {
  if (err instanceof ApplicationFailure) return err.type ?? 'ApplicationFailure';
  if (err instanceof CancelledFailure) return 'Cancelled';
  return err instanceof Error ? err.name : 'Error';
}

/**
 * Counts activity attempts for pgferry's metrics around every activity: retries (attempts past
 * the first) and failures by activity and code, and validations that found a difference.
 */
export function metricsInterceptor(metrics: PgferryMetrics): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const { activityType, attempt, workflowExecution } = ctx.info;
        metrics.attemptStarted(activityType, attempt);
        try {
          const result = await next(input);
          if (VALIDATIONS.has(activityType) && (result as { ok?: unknown } | undefined)?.ok === false) {
            metrics.validationFailed(workflowExecution?.workflowId ?? 'unknown', activityType);
          }
          return result;
        } catch (err) {
          metrics.attemptFailed(activityType, codeOf(err));
          throw err;
        }
      },
    },
  });
}
