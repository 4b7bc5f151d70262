import { quoteLiteral, tableSql } from './connect';
import { LEDGER_SCHEMA } from './ledger-sql';
import { notExtensionMember, userSchema } from './user-objects-sql';

/**
 * The user's sequences, the one definition that the sync and the validation share: sequences of
 * user schemas, not in a temporary schema (another session's temporary `serial` table has one, and
 * reading it fails: "cannot access temporary tables of other sessions"; it is no part of the
 * database either), not members of an extension (CREATE EXTENSION makes those), and not in the
 * `pgferry` schema, which holds the copy's ledger on the target until the migration finishes.
 */
export const USER_SEQUENCES = `
  SELECT n.nspname AS schema, c.relname AS name, format('%I.%I', n.nspname, c.relname) AS qualified
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'S' AND n.nspname <> ${quoteLiteral(LEDGER_SCHEMA)}
     AND ${userSchema('n')} AND ${notExtensionMember('pg_class', 'c.oid')}
   ORDER BY 1, 2`;

/**
 * The user's sequences (USER_SEQUENCES) with the position of each one that has been called, in one
 * query: pg_sequence_last_value is NULL for a sequence not called yet (its last_value then says
 * what the next nextval returns, which only the relation holds: sequenceValuesSql reads those).
 */
export const USER_SEQUENCE_POSITIONS = `
  SELECT s.schema, s.name, s.qualified,
         pg_catalog.pg_sequence_last_value(s.qualified::regclass)::text AS called_value
    FROM (${USER_SEQUENCES}) AS s`;

/**
 * Sequences read, or set, per statement: one round trip for many (a database of thousands of
 * tables has thousands of sequences, and the online cutover reads and sets them all while the
 * source is frozen), while a statement stays small enough to plan quickly.
 */
export const SEQUENCE_BATCH = 500;

/**
 * The positions of several sequences in one statement, each row with its index in `seqs` (`i`).
 * From the relations themselves: pg_sequences hides last_value from roles without rights and says
 * nothing of is_called, while the owner can always read the relation.
 */
export function sequenceValuesSql(seqs: readonly { schema: string; name: string }[]): string {
  return seqs
    .map(
      (seq, i) =>
        `SELECT ${i} AS i, last_value::text AS last_value, is_called FROM ${tableSql({ schema: seq.schema, table: seq.name })}`,
    )
    .join('\nUNION ALL ');
}

/**
 * Sets several sequences' positions in one statement. $1 the qualified, quoted names; $2 their
 * last_value; $3 their is_called (arrays of one length). Returns how many were set (`n`).
 */
export const SET_SEQUENCES = `
  SELECT count(pg_catalog.setval(s.name::regclass, s.last_value::bigint, s.is_called))::int AS n
    FROM unnest($1::text[], $2::text[], $3::boolean[]) AS s(name, last_value, is_called)`;
