import type { Client } from 'pg';
import type { Chunk } from '../../domain/chunks';
import { AS_IS_MIN_TOAST_BYTES } from '../../domain/constants';
import { inStep } from './connect';
import { copyStep } from './copy-steps';
import type { TableColumns } from '../../domain/tables';
import { anyCompressedSql, setStorageSql, SOURCE_TOASTED_COLUMNS, TARGET_SAME_COLUMNS } from './toast-sql';

/** A column worth loading as is, and the compression method its source values were stored under. */
export interface AsIsCandidate {
  readonly column: string;
  readonly method: string;
}

/**
 * Spares the target compression that cannot succeed. A column whose values the source holds
 * uncompressed, though stored EXTENDED, is one where every compression attempt failed (or none
 * was due: the row was small); the target, trying the same method on the same values, would fail
 * the same way, after spending most of a TOASTed load's CPU on it. So, in the chunk's transaction,
 * such columns are set to EXTERNAL (out of line, uncompressed) for the COPY and back to EXTENDED
 * after it: the target stores every value as the source does, in less time. Returns the columns
 * so set; none when the table's TOAST is small, a value is compressed, the target column is stored
 * or compressed differently, or the session does not own the table.
 */
export async function storeAsIs(sourceClient: Client, targetClient: Client, chunk: Chunk): Promise<string[]> {
  const doing = `copying ${chunk.id}`;
  const candidates = await inStep(sourceClient, copyStep('source', doing), () =>
    asIsCandidates(sourceClient, chunk),
  );
  if (candidates.length === 0) return [];
  return inStep(targetClient, copyStep('target', doing), () => setExternal(targetClient, chunk, candidates));
}

/**
 * Source side, in the caller's transaction (PostgreSQL 14+): the columns of `t` stored EXTENDED
 * that hold no compressed value, in a table with TOAST enough to be worth the scan.
 */
export async function asIsCandidates(client: Client, t: TableColumns): Promise<AsIsCandidate[]> {
  const { rows } = await client.query<AsIsCandidate>(SOURCE_TOASTED_COLUMNS, [
    t.schema,
    t.table,
    t.columns,
    AS_IS_MIN_TOAST_BYTES,
  ]);
  if (rows.length === 0) return [];
  const { rows: compressed } = await client.query<Record<string, boolean>>(
    anyCompressedSql(
      t,
      rows.map((r) => r.column),
    ),
  );
  return rows.filter((_, i) => compressed[0]?.[`c${i}`] === false);
}

/**
 * Target side, in the caller's transaction: sets to EXTERNAL those candidates that the target
 * stores and compresses as the source does (or that an earlier attempt set already) in a table the
 * session owns. Returns the columns set.
 */
export async function setExternal(
  client: Client,
  t: TableColumns,
  candidates: readonly AsIsCandidate[],
): Promise<string[]> {
  const { rows } = await client.query<{ column: string }>(TARGET_SAME_COLUMNS, [
    t.schema,
    t.table,
    candidates.map((c) => c.column),
    candidates.map((c) => c.method),
  ]);
  const columns = rows.map((r) => r.column);
  if (columns.length > 0) await client.query(setStorageSql(t, columns, 'EXTERNAL'));
  return columns;
}

/** Sets columns back to EXTENDED, as the schema has them, once their values are in. */
export async function restoreExtended(
  client: Client,
  t: TableColumns,
  columns: readonly string[],
): Promise<void> {
  await client.query(setStorageSql(t, columns, 'EXTENDED'));
}
