/**
 * The online cutover's validation report, built from what its steps read on the frozen source and
 * the replayed target: each table's row count on both sides, each sequence's position as set and
 * read back, and the number of large objects. Pure: the workflow assembles it.
 */
import type { TableRows } from './activity-inputs';
import { qualifiedTableName } from './chunks';
import { MISSING_TABLE_ROWS, type TableValidation, type ValidationReport } from './migration';

/** What the cutover's steps read, side by side. */
export interface FrozenCounts {
  readonly sourceRows: readonly TableRows[];
  readonly targetRows: readonly TableRows[];
  readonly sequences: ValidationReport['sequences'];
  readonly largeObjects: { readonly source: number; readonly target: number };
}

/**
 * A counts-level report: every source table's count beside the target's (a table missing there
 * shows MISSING_TABLE_ROWS; tables only the target has are not the source's and are left out),
 * the sequences and the large objects; `ok` only when all of them match.
 */
export function countsReport(read: FrozenCounts): ValidationReport {
  const found = new Map(read.targetRows.map((t) => [qualifiedTableName(t.schema, t.table), t.rows]));
  const tables: TableValidation[] = read.sourceRows.map((t) => {
    const targetRows = found.get(qualifiedTableName(t.schema, t.table)) ?? MISSING_TABLE_ROWS;
    return { schema: t.schema, table: t.table, sourceRows: t.rows, targetRows, ok: targetRows === t.rows };
  });
  const largeObjects = { ...read.largeObjects, ok: read.largeObjects.source === read.largeObjects.target };
  const ok = tables.every((t) => t.ok) && read.sequences.every((s) => s.ok) && largeObjects.ok;
  return { level: 'counts', ok, tables, sequences: [...read.sequences], largeObjects };
}
