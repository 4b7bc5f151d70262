import type { Client } from 'pg';
import type { TableInfo } from '../../domain/chunks';
import type { TableColumns } from '../../domain/tables';
import { ErrorCode, PgferryError } from '../../domain/errors';
import { serverVersion } from './catalog';
import { listCopyTablesSql, setSnapshotSql, SOURCE_BEGIN } from './copy-sql';
import type { PgStep } from './errors';
import { SqlState } from './sqlstate';

// What a missing privilege asks of each side of a copy.
const COPY_PRIVILEGE_FIXES = {
  source:
    'copy as a superuser or a role that can read every table (pg_read_all_data) and bypasses row-level security',
  target:
    'copy as a superuser, or (PostgreSQL 15+) GRANT SET ON PARAMETER session_replication_role and the table rights to the user',
} as const;

/** A step of the copy against one side, with the copy's own fix for a missing privilege. */
export function copyStep(field: 'source' | 'target', doing: string): PgStep {
  return { field, doing, privilegeFix: COPY_PRIVILEGE_FIXES[field] };
}

/** Opens the REPEATABLE READ READ ONLY source transaction, under `snapshot` when given. */
export async function beginSourceRead(client: Client, snapshot: string | undefined): Promise<void> {
  await client.query(SOURCE_BEGIN);
  if (snapshot === undefined) return;
  try {
    await client.query(setSnapshotSql(snapshot));
  } catch (err) {
    if ((err as { code?: unknown }).code === SqlState.InvalidParameterValue) {
      // The transaction that exported it has ended: no retry can bring it back.
      throw new PgferryError(ErrorCode.SnapshotLost, 'snapshot: the source has no such exported snapshot', {
        field: 'snapshot',
        fix: 'the connection that held the snapshot is gone; restart the copy from a new snapshot',
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * The tables whose own rows the copy moves, with their columns and sizes, by schema and name, read
 * in a read-only transaction (under `snapshot` when given) that is rolled back after.
 */
export async function readCopyTables(client: Client, snapshot: string | undefined): Promise<TableInfo[]> {
  const { major } = await serverVersion(client);
  try {
    await beginSourceRead(client, snapshot);
    const { rows } = await client.query<
      TableColumns & { bytes: string; pages: string; rows_estimate: string; toast_bytes: string }
    >(listCopyTablesSql(major));
    return rows.map((r) => ({
      schema: r.schema,
      table: r.table,
      columns: r.columns,
      bytes: Number(r.bytes),
      pages: Number(r.pages),
      rowsEstimate: Number(r.rows_estimate),
      toastBytes: Number(r.toast_bytes),
    }));
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}
