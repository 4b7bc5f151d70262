import { workflowInfo } from '@temporalio/workflow';
import { connectionLabel, parseConnectionUrl } from '../domain/connection';
import { MIGRATION_STAGES, type MigrationInput } from '../domain/migration';
import { replicationObjectName } from '../domain/names';
import { ApprovalGate } from './approval';
import { Compensations, rollbackFix, watchRollback } from './compensations';
import { DdlHold } from './ddl-hold';
import { FallbackWindow } from './fallback-window';
import { Notifier } from './notify';
import { provisionMarker } from './provision';
import { Progress } from './progress';
import { Readiness } from './readiness';

/** The names of an online migration's replication objects: one name for slot, publication and subscription. */
export interface ReplicationObjects {
  readonly source: string;
  readonly target: string;
  readonly slot: string;
  readonly publication: string;
  readonly subscription: string;
}

/**
 * What every stage of one migration works with: the parsed input, the workflow's identity, and the
 * objects that outlive a stage (progress, gate, notifier, compensations). Stages take it and
 * return values; none of its fields is reassigned.
 */
export interface MigrationRun {
  readonly input: MigrationInput;
  readonly id: string;
  /** The child workflow that provisions the target, and the marker its database carries. */
  readonly provisionId: string;
  readonly marker: string;
  readonly progress: Progress;
  readonly gate: ApprovalGate;
  /** Why the gate may not be approved now (validation, replication): empty when it may. */
  readonly readiness: Readiness;
  readonly notifier: Notifier;
  readonly rollback: Compensations;
  readonly replication: ReplicationObjects;
  /** The approvals of held schema changes (--ddl hold; refused otherwise). */
  readonly ddlHold: DdlHold;
  /** The fallback window after the cutover (--fallback-window; its Updates refused otherwise). */
  readonly window: FallbackWindow;
}

/** The stages a migration of this mode passes, in order. */
export function stagesOf(input: MigrationInput): string[] {
  // Online, validate runs while replicating; with validate none it is left out.
  const skip = [
    ...(input.mode === 'online' ? [] : ['replicate']),
    ...(input.mode === 'online' && input.validate === 'none' ? ['validate'] : []),
    ...(input.fallbackWindowSeconds === undefined ? ['window'] : []),
  ];
  return MIGRATION_STAGES.filter((s) => !skip.includes(s));
}

/** Sets up a migration's progress, gate and notifier from its input. */
export function startRun(input: MigrationInput): MigrationRun {
  const id = workflowInfo().workflowId;
  const source = connectionLabel(parseConnectionUrl(input.source, 'source'));
  const target = connectionLabel(parseConnectionUrl(input.target, 'target'));
  const progress = new Progress(stagesOf(input), { mode: input.mode, source, target });
  const readiness = new Readiness((problems) => progress.detail('readiness', problems));
  const gate: ApprovalGate = new ApprovalGate(
    input.approvers,
    () => progress.stage === 'approval',
    () => progress.detail('approval', { decision: gate.decision, refused: gate.refused }),
    { startedBy: input.startedBy, requireSecondPerson: input.requireSecondPerson, readiness },
  );
  const facts = {
    name: input.name,
    workflowId: id,
    source,
    target,
    mode: input.mode,
    startedBy: input.startedBy,
  };
  const name = replicationObjectName(id);
  const provisionId = `${id}-provision`;
  const notifier = new Notifier(input, facts, progress);
  const ddlHold = new DdlHold(input, progress, {
    source: input.source,
    target: input.target,
    publication: name,
  });
  return {
    ddlHold,
    window: new FallbackWindow(input, progress),
    input,
    id,
    provisionId,
    marker: provisionMarker(provisionId),
    progress,
    gate,
    readiness,
    notifier,
    rollback: new Compensations(watchRollback(progress, notifier), rollbackFix(id)),
    replication: {
      source: input.source,
      target: input.target,
      slot: name,
      publication: name,
      subscription: name,
    },
  };
}

/** The source and target of a step that works on both. */
export function sides(run: MigrationRun): { source: string; target: string } {
  return { source: run.input.source, target: run.input.target };
}
