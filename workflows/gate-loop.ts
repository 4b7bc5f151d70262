import { upsertSearchAttributes } from '@temporalio/workflow';
import type { Decision } from '../domain/migration';
import type { MigrationRun } from './migration-run';
import { SearchKeys } from './progress';

/** A cutover that did not go through, as status lists it: who had approved it, and why it came back. */
export interface CutoverAttempt {
  readonly approvedBy: string;
  readonly reason: string;
}

/** How the gate and the cutover ended: rejected (no cut), or cut over after the decision. */
export type Gated<C> =
  | { readonly decision: Decision; readonly cut?: undefined }
  | { readonly decision: Decision; readonly cut: C };

/**
 * The approval gate and the cutover, again and again until one cutover goes through or a person
 * rejects: a cutover that cannot go through (replication not ready before the freeze, or the
 * replay past --cutover-timeout, the source unfrozen) forgets its decision and brings the
 * migration back to the gate, with the reason in the readiness and in `cutoverAttempts`.
 */
export async function gateUntilCutOver<C>(
  run: MigrationRun,
  approve: () => Promise<Decision>,
  cutover: () => Promise<{ readonly cut: C } | { readonly notDone: string }>,
): Promise<Gated<C>> {
  const attempts: CutoverAttempt[] = [];
  for (;;) {
    const decision = await approve();
    if (decision.outcome === 'rejected') return { decision };
    upsertSearchAttributes([{ key: SearchKeys.approvedBy, value: decision.by }]);
    const outcome = await cutover();
    if ('cut' in outcome) return { decision, cut: outcome.cut };
    attempts.push({ approvedBy: decision.by, reason: outcome.notDone });
    run.progress.detail('cutoverAttempts', [...attempts]);
    run.gate.reopen();
  }
}
