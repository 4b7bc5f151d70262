/**
 * SQL conditions that say what is the user's, shared by every query that lists the user's
 * objects (tables to copy, sequences to sync, owners preflight looks for), so they cannot drift.
 */

/** A schema of the user's: not a system schema, not TOAST, not a session's temporary schema. `ns` is the pg_namespace alias. */
export function userSchema(ns: string): string {
  return `${ns}.nspname NOT IN ('pg_catalog', 'information_schema')
    AND ${ns}.nspname NOT LIKE 'pg\\_toast%' AND ${ns}.nspname NOT LIKE 'pg\\_temp%'`;
}

/**
 * Not a member of an extension. Extension members are recreated by CREATE EXTENSION on the target,
 * owned by whoever restores: their data is not pgferry's to copy (pg_dump skips it too), and their
 * owners need not exist on the target. `catalog` is the object's catalog, `oid` its oid expression.
 */
export function notExtensionMember(catalog: string, oid: string): string {
  return `NOT EXISTS (SELECT 1 FROM pg_depend d
                WHERE d.classid = '${catalog}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;
}
