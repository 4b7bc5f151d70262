import type { Client } from 'pg';
import { parseConnectionUrl } from '../domain/connection';
import type { ActivityDeps } from './deps';
import { quoteIdent, withClient, withTransaction } from './pg/connect';

/** One sequence's position. */
export interface SequenceValue {
  readonly schema: string;
  readonly name: string;
  readonly lastValue: string;
  readonly isCalled: boolean;
}

// pg_sequences hides last_value from users without rights; reading the relation itself works for the owner.
const LIST_SEQUENCES = `
  SELECT n.nspname AS schema, c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgferry')
   ORDER BY 1, 2`;

/** Every sequence of a database with its last_value and is_called. */
export async function readSequences(client: Client): Promise<SequenceValue[]> {
  const { rows } = await client.query<{ schema: string; name: string }>(LIST_SEQUENCES);
  const out: SequenceValue[] = [];
  for (const seq of rows) {
    const { rows: value } = await client.query<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::text, is_called FROM ${quoteIdent(seq.schema)}.${quoteIdent(seq.name)}`,
    );
    out.push({
      schema: seq.schema,
      name: seq.name,
      lastValue: value[0]?.last_value ?? '1',
      isCalled: value[0]?.is_called ?? false,
    });
  }
  return out;
}

/**
 * Sets every sequence of the target to the source's position (identity, serial and shared
 * sequences alike). Idempotent: setval to the same value twice changes nothing.
 */
export async function syncSequences(
  deps: ActivityDeps,
  input: { source: string; target: string },
): Promise<{ sequences: number }> {
  const source = parseConnectionUrl(input.source, 'source');
  const target = parseConnectionUrl(input.target, 'target');
  const values = await withClient(source, deps.env, 'source', (c) => readSequences(c));
  await withClient(target, deps.env, 'target', (client) =>
    withTransaction(client, async () => {
      for (const seq of values) {
        await client.query('SELECT setval($1::regclass, $2::bigint, $3)', [
          `${quoteIdent(seq.schema)}.${quoteIdent(seq.name)}`,
          seq.lastValue,
          seq.isCalled,
        ]);
      }
    }),
  );
  return { sequences: values.length };
}
