/**
 * pg_restore's table of contents (`pg_restore --list`), read and filtered to choose which items of
 * a post-data archive to restore. An entry line reads `DUMPID; CATALOG_OID OBJECT_OID DESC SCHEMA
 * TAG OWNER`; the dump id changes from one dump to the next, the two OIDs name the object on the
 * source as long as its schema does not change, so they are the key that carries across dumps.
 */

const ENTRY = /^(\d+); (\d+) (\d+) (.*)$/;

/** The key of an entry line (`CATALOG_OID:OBJECT_OID`), or undefined for a comment or blank line. */
export function tocKey(line: string): string | undefined {
  const m = ENTRY.exec(line);
  return m ? `${m[2]}:${m[3]}` : undefined;
}

/** The entry lines of a listing that `keep` accepts (comments dropped), and their keys. */
export function filterToc(
  listing: string,
  keep: (line: string) => boolean,
): { list: string; keys: string[] } {
  const kept = listing.split('\n').filter((line) => tocKey(line) !== undefined && keep(line));
  return { list: kept.join('\n') + '\n', keys: kept.map((line) => tocKey(line) as string) };
}

/**
 * An entry of pgferry's own capture of schema changes on an online source (activities/pg/ddl-sql.ts):
 * its event triggers and its table's constraint, which post-data would otherwise carry to the target.
 */
export function isDdlCaptureEntry(line: string): boolean {
  return /\spgferry_ddl_[0-9a-f]{16}/.test(line);
}

/**
 * A publication of pgferry's own on the source (a migration's, or its fallback's): post-data
 * carries it, and on the target it would be a stray copy (and CREATE PUBLICATION … FOR ALL TABLES
 * needs a superuser there, so a managed target refuses it).
 */
export function isPgferryPublication(line: string): boolean {
  return /\sPUBLICATION - pgferry_\S*_[0-9a-f]{16}\s/.test(line);
}

/**
 * An entry that creates a schema or grants on one. A pre-data restore runs these first: ACLs are
 * otherwise restored last, and a user who is not superuser may give an object to a role (ALTER …
 * OWNER TO) only when that role has CREATE on the object's schema, which is often a GRANT on it.
 */
export function isSchemaEntry(line: string): boolean {
  return /^\d+; \d+ \d+ (SCHEMA - |ACL - SCHEMA )/.test(line);
}
