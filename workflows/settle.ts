import { ApplicationFailure } from '@temporalio/workflow';
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

/**
 * The online cutover's final steps, once the target has replayed the frozen source: sequences,
 * large objects, statistics and the target's row counts at once (the rows changed only through
 * replication, which has stopped with the source), compared with the frozen source's counts
 * (`sourceRows`, counted beside the replay). The checksums were compared while replicating; what
 * can have changed since is checked here on both sides, each read once. A target that differs
 * fails the migration with ValidationFailed and the report.
 */
export async function settleFrozen(
  run: MigrationRun,
  early: DoneEarly,
  sourceRows: Promise<readonly TableRows[]> | undefined,
): Promise<Settled> {
  const { input } = run;
  const both = { source: input.source, target: input.target };
  const counting = sourceRows === undefined ? undefined : data.countTargetRows({ target: input.target });
  const [seq, lo, targetRows, frozenRows] = await allEnded([
    control.syncSequences(both),
    data.copyLargeObjects(both),
    counting ?? Promise.resolve(undefined),
    sourceRows ?? Promise.resolve(undefined),
    data.analyzeTarget({ target: input.target, skip: [...early.analyzed] }),
  ]);
  if (frozenRows === undefined || targetRows === undefined) {
    return { sequences: seq.sequences, largeObjects: lo.largeObjects };
  }
  const validation = countsReport({
    sourceRows: frozenRows,
    targetRows: targetRows.tables,
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
