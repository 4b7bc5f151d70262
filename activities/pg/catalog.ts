import type { Client } from 'pg';
import type { TableRows } from '../../domain/contracts';
import type { TableRef } from '../../domain/tables';
import { LIST_TABLES, SERVER_VERSION, USER_OBJECTS } from './catalog-sql';
import { DATABASE_INFO } from './database-sql';
import { COUNT_LARGE_OBJECTS } from './large-objects-sql';
import { SEQUENCE_BATCH, sequenceValuesSql, USER_SEQUENCE_POSITIONS } from './sequences-sql';
import { countRowsSql } from './validate-sql';

/** The server's version string, e.g. `15.20`. */
export async function serverVersion(client: Client): Promise<{ version: string; major: number }> {
  const { rows } = await client.query<{ v: string; n: string }>(SERVER_VERSION);
  const row = rows[0];
  return { version: (row?.v ?? '').split(' ')[0] ?? '', major: Math.floor(Number(row?.n ?? 0) / 10000) };
}

/** Lists the tables that hold rows, by schema and name. */
export async function listTables(client: Client): Promise<TableRef[]> {
  const { rows } = await client.query<TableRef>(LIST_TABLES);
  return rows;
}

/** Counts each table's own rows (countRowsSql: an inheritance parent's count leaves its children out). */
export async function countRows(
  client: Client,
  tables: readonly TableRef[],
  onTable?: (done: number) => void,
): Promise<TableRows[]> {
  const out: TableRows[] = [];
  for (const t of tables) {
    const { rows } = await client.query<{ n: string }>(countRowsSql(t));
    out.push({ schema: t.schema, table: t.table, rows: Number(rows[0]?.n ?? 0) });
    onTable?.(out.length);
  }
  return out;
}

/** Counts the database's large objects. */
export async function countLargeObjects(client: Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>(COUNT_LARGE_OBJECTS);
  return Number(rows[0]?.n ?? 0);
}

/**
 * True when the database holds nothing a user made: no tables, sequences, views, functions or
 * types outside the system schemas, no schema but public, no extension but plpgsql, no large object.
 */
export async function isDatabaseEmpty(client: Client): Promise<boolean> {
  const { rows } = await client.query<{ n: string }>(USER_OBJECTS);
  return Number(rows[0]?.n ?? 0) === 0;
}

/** A database as the maintenance connection sees it: absent, or present with its comment and traits. */
export interface DatabaseInfo {
  readonly exists: boolean;
  readonly comment: string | null;
  readonly owner: string | null;
}

/** Looks a database up by name from a connection to another database of the same server. */
export async function databaseInfo(client: Client, name: string): Promise<DatabaseInfo> {
  const { rows } = await client.query<{ comment: string | null; owner: string }>(DATABASE_INFO, [name]);
  const row = rows[0];
  return row
    ? { exists: true, comment: row.comment, owner: row.owner }
    : { exists: false, comment: null, owner: null };
}

/** One sequence's position. */
export interface SequenceValue {
  readonly schema: string;
  readonly name: string;
  /** Schema-qualified, quoted where needed: the key the validation compares by. */
  readonly qualified: string;
  readonly lastValue: string;
  readonly isCalled: boolean;
}

/** A sequence's position as validation reports compare it: `last_value` and whether nextval() was called since. */
export function sequencePosition(v: SequenceValue): string {
  return `${v.lastValue} (is_called ${v.isCalled})`;
}

/** Two sides' sequences compared by qualified name, in name order; one missing on a side differs. */
export function compareSequences(
  source: readonly SequenceValue[],
  target: readonly SequenceValue[],
): { name: string; source: string; target: string; ok: boolean }[] {
  const a = new Map(source.map((v) => [v.qualified, sequencePosition(v)]));
  const b = new Map(target.map((v) => [v.qualified, sequencePosition(v)]));
  return [...new Set([...a.keys(), ...b.keys()])].sort().map((name) => {
    const s = a.get(name) ?? 'missing';
    const t = b.get(name) ?? 'missing';
    return { name, source: s, target: t, ok: a.has(name) && b.has(name) && s === t };
  });
}

/**
 * The position of every one of the user's sequences (USER_SEQUENCES), by schema and name: those
 * called, all in one query (USER_SEQUENCE_POSITIONS); the rest from their relations,
 * SEQUENCE_BATCH per statement.
 */
export async function readSequences(client: Client): Promise<SequenceValue[]> {
  const { rows } = await client.query<{
    schema: string;
    name: string;
    qualified: string;
    called_value: string | null;
  }>(USER_SEQUENCE_POSITIONS);
  const uncalled = rows.filter((r) => r.called_value === null);
  const read = new Map<string, { lastValue: string; isCalled: boolean }>();
  for (let start = 0; start < uncalled.length; start += SEQUENCE_BATCH) {
    const batch = uncalled.slice(start, start + SEQUENCE_BATCH);
    const { rows: values } = await client.query<{ i: number; last_value: string; is_called: boolean }>(
      sequenceValuesSql(batch),
    );
    for (const v of values) {
      const seq = batch[v.i];
      if (seq !== undefined) read.set(seq.qualified, { lastValue: v.last_value, isCalled: v.is_called });
    }
  }
  return rows.map(({ schema, name, qualified, called_value }) => ({
    schema,
    name,
    qualified,
    ...(called_value === null
      ? (read.get(qualified) ?? { lastValue: '1', isCalled: false })
      : { lastValue: called_value, isCalled: true }),
  }));
}
