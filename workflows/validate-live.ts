import type { TableValidation, ValidationReport } from '../domain/migration';
import { data } from './activities';
import type { MigrationRun } from './migration-run';

/**
 * Validate (online): the tables compared while replication runs, each key range at one point of
 * the source's history (validateLive), before anyone is asked to approve. The report is shown to
 * the approver; a table that differs — a row changed on the target behind replication's back, a
 * change replication could not apply — keeps the gate from taking an approval, named by table.
 * The cutover then checks only what can change after this: replay, row counts, sequences.
 */
export async function validateWhileReplicating(run: MigrationRun): Promise<ValidationReport | undefined> {
  const { input, progress, readiness, replication } = run;
  if (input.validate === 'none') return undefined;
  progress.enter('validate');
  const report = await data.validateLive({
    source: input.source,
    target: input.target,
    slot: replication.slot,
    level: input.validate,
  });
  progress.detail('validation', report);
  readiness.set('validation', report.ok ? undefined : differences(report.tables));
  return report;
}

/** What differs, for the approver and the refused approval: the first tables by name, with why. */
function differences(tables: readonly TableValidation[]): string {
  const bad = tables.filter((t) => !t.ok);
  const named = bad
    .slice(0, 5)
    .map((t) => `${t.schema}.${t.table}${t.note ? ` (${t.note})` : ''}`)
    .join('; ');
  const more = bad.length > 5 ? ` and ${bad.length - 5} more` : '';
  return `validation: the target differs from the source in ${named}${more}; correct the target or reject the migration`;
}
