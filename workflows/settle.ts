import { ApplicationFailure, CancellationScope } from '@temporalio/workflow';
import { qualifiedTableName } from '../domain/chunks';
import { ErrorCode } from '../domain/errors';
import type { TableRows } from '../domain/activity-inputs';
import { countsReport } from '../domain/counts-report';
import type { TableValidation, ValidationReport } from '../domain/migration';
import { data, control } from './activities';
import { allEnded } from './compensations';
import type { MigrationRun } from './migration-run';

/** What the copy did early that the final steps need not do again. */
export interface DoneEarly {
  /** Tables the lanes analyzed. */
  readonly analyzed: readonly string[];
  /** Tables the lanes validated (offline). */
  readonly validated: readonly TableValidation[];
}

/** What the final steps found: sequences set, large objects copied, and the validation report. */
export interface Settled {
  readonly sequences: number;
  readonly largeObjects: number;
  readonly validation?: ValidationReport | undefined;
}

/**
 * The final steps on a source that no longer changes: sequences, large objects and statistics at
 * once, then the validation (it reads what the first two set). A target that differs fails the
 * migration with ValidationFailed and the report.
 */
export async function settle(
  run: MigrationRun,
  early: DoneEarly,
  sourceRows?: readonly TableRows[],
): Promise<Settled> {
  const { input } = run;
  // The lanes analyzed what they copied: the rest (partitioned tables, matviews) is analyzed here.
  const analyzing = data.analyzeTarget({ target: input.target, skip: [...early.analyzed] });
  const [{ sequences }, { largeObjects }] = await allEnded([
    control.syncSequences({ source: input.source, target: input.target }),
    data.copyLargeObjects({ source: input.source, target: input.target }),
  ]).catch(async (err: unknown) => {
    await analyzing.catch(() => undefined);
    throw err;
  });
  const validation = input.validate === 'none' ? undefined : await validate(run, early.validated, sourceRows);
  await analyzing;
  return { sequences, largeObjects, validation };
}

/** The online cutover's steps on the frozen source, started at the freeze (startFrozenSide). */
export interface FrozenSide {
  /** Sequences, large objects, both sides' counts (none with --validate none), statistics. */
  readonly ended: Promise<
    [
      Awaited<ReturnType<typeof control.syncSequences>>,
      Awaited<ReturnType<typeof data.copyLargeObjects>>,
      TableRows[] | undefined,
      TableRows[] | undefined,
      unknown,
    ]
  >;
  /** Cancels what still runs and waits until all have ended (a cutover that did not go through). */
  abandon(): Promise<void>;
}

/**
 * Starts, beside the replay's wait, everything the frozen source allows: large objects (not
 * replicated), the statistics and the frozen source's counts at once; the sequences and the
 * target's counts once the source's slot has confirmed `finalLsn` (the activities wait for it
 * themselves: a sequence created just before the freeze arrives with the replay). The outage then
 * holds the longest of them, with no workflow step between the replay and the target's side.
 * With --validate none, nothing is counted.
 */
export function startFrozenSide(
  run: MigrationRun,
  early: DoneEarly,
  finalLsn: string | undefined,
): FrozenSide {
  const { input, replication } = run;
  const both = { source: input.source, target: input.target };
  const after =
    finalLsn === undefined ? undefined : { source: input.source, slot: replication.slot, lsn: finalLsn };
  const count = input.validate === 'none' ? undefined : after;
  const scope = new CancellationScope();
  const ended = scope.run(() =>
    allEnded([
      control.syncSequences({ ...both, ...(after ? { after } : {}) }),
      data.copyLargeObjects(both),
      count ? data.countSourceRows({ source: input.source }).then((r) => r.tables) : none(),
      count ? data.countTargetRows({ target: input.target, after: count }).then((r) => r.tables) : none(),
      data.analyzeTarget({ target: input.target, skip: [...early.analyzed] }),
    ]),
  );
  // Awaited later (settleFrozen or abandon): a failure meanwhile is not an unhandled rejection.
  ended.catch(() => undefined);
  return {
    ended,
    abandon: async () => {
      scope.cancel();
      await ended.catch(() => undefined);
    },
  };
}

const none = () => Promise.resolve(undefined);

/**
 * The online cutover's final steps, once the target has replayed the frozen source: what
 * startFrozenSide began, and the target's row counts (the rows changed only through replication,
 * which has stopped with the source) compared with the frozen source's. The checksums were compared
 * while replicating; what can have changed since is checked here on both sides, each read once. A
 * target that differs fails the migration with ValidationFailed and the report.
 */
export async function settleFrozen(run: MigrationRun, side: FrozenSide): Promise<Settled> {
  const [seq, lo, frozenRows, targetRows] = await side.ended;
  if (frozenRows === undefined || targetRows === undefined) {
    return { sequences: seq.sequences, largeObjects: lo.largeObjects };
  }
  const validation = countsReport({
    sourceRows: frozenRows,
    targetRows,
    sequences: seq.compared,
    largeObjects: { source: lo.largeObjects, target: lo.targetLargeObjects },
  });
  return { sequences: seq.sequences, largeObjects: lo.largeObjects, validation: reported(run, validation) };
}

/** Validates the tables the lanes did not, and merges the lanes' reports in. */
async function validate(
  run: MigrationRun,
  early: readonly TableValidation[],
  sourceRows: readonly TableRows[] | undefined,
): Promise<ValidationReport> {
  const { input } = run;
  // Online, the tables' checksums were compared while replicating: on the frozen source, counts.
  const level = input.validate === 'none' || input.mode === 'online' ? 'counts' : input.validate;
  const rest = await data.validateTables({
    source: input.source,
    target: input.target,
    level,
    ...(early.length > 0 ? { skip: early.map((t) => qualifiedTableName(t.schema, t.table)) } : {}),
    // Counted on the frozen source during the replay: only the target's side is read now.
    ...(sourceRows && level === 'counts' ? { sourceRows } : {}),
  });
  return reported(run, mergeValidation(early, rest));
}

/** Shows the report in the progress; a target that differs fails the migration with it. */
function reported(run: MigrationRun, validation: ValidationReport): ValidationReport {
  run.progress.detail('validation', validation);
  if (!validation.ok) {
    const bad = validation.tables.filter((t) => !t.ok).map((t) => `${t.schema}.${t.table}`);
    throw ApplicationFailure.create({
      type: ErrorCode.ValidationFailed,
      message: `validation: the target differs from the source (${bad.slice(0, 5).join(', ') || 'sequences or large objects'})`,
      nonRetryable: true,
      details: [{ field: 'target', fix: 'see the validation report in `pgferry status`' }, validation],
    });
  }
  return validation;
}

/** The final report: the tables validated on the lanes and the rest, in name order. */
function mergeValidation(early: readonly TableValidation[], rest: ValidationReport): ValidationReport {
  if (early.length === 0) return rest;
  const key = (t: TableValidation) => `${t.schema}\u0000${t.table}`;
  const tables = [...early, ...rest.tables].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return { ...rest, tables, ok: rest.ok && early.every((t) => t.ok) };
}
