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
 * A sequence's position. From the relation itself: pg_sequences hides last_value from roles
 * without rights and says nothing of is_called, while the owner can always read the relation.
 */
export function sequenceValueSql(seq: { schema: string; name: string }): string {
  return `SELECT last_value::text AS last_value, is_called FROM ${tableSql({ schema: seq.schema, table: seq.name })}`;
}

/** Sets a sequence's position. $1 the qualified, quoted name; $2 last_value; $3 is_called. */
export const SET_SEQUENCE = 'SELECT setval($1::regclass, $2::bigint, $3)';
