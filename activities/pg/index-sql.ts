/**
 * The least maintenance_work_mem an index build gets: PostgreSQL's default (64MB) sorts a table of
 * a few million rows on disk. A target configured with more keeps its own.
 */
export const INDEX_MEMORY = '512MB';

/** Raises maintenance_work_mem for the session to $1 unless it is already that high. */
export const RAISE_MAINTENANCE_MEMORY = `
  SELECT pg_catalog.set_config('maintenance_work_mem', $1, false)
   WHERE pg_catalog.pg_size_bytes(pg_catalog.current_setting('maintenance_work_mem')) < pg_catalog.pg_size_bytes($1)`;

/**
 * The source's indexes and primary key, unique and exclusion constraints of some tables, read from
 * the catalog so that a table's indexes can be built on the target as soon as its rows are in,
 * without a pg_dump per table. Each item carries the key that pg_restore's list gives the same
 * object (`CATALOG_OID:OBJECT_OID`: pg_constraint's for a constraint, pg_class's for an index), so
 * the final post-data restore can leave out what was built here.
 *
 * Only what pg_dump would write as one plain statement is taken: tables that are not partitions
 * (their indexes attach to their parent's), valid indexes in the default tablespace, without a
 * replica identity, CLUSTER mark or per-column statistics target (pg_dump adds those to the same
 * item). Every other item stays with the post-data restore.
 */
export const TABLE_INDEX_ITEMS = `
  WITH wanted AS (
    SELECT c.oid AS relid
      FROM unnest($1::text[], $2::text[]) AS w(schema, name)
      JOIN pg_namespace n ON n.nspname = w.schema
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.name
     WHERE c.relkind = 'r' AND NOT c.relispartition
  ),
  indexes AS (
    SELECT i.indexrelid, i.indrelid, co.oid AS conoid, co.conname, co.contype
      FROM pg_index i
      JOIN wanted w ON w.relid = i.indrelid
      JOIN pg_class ic ON ic.oid = i.indexrelid
      LEFT JOIN pg_constraint co ON co.conindid = i.indexrelid AND co.conrelid = i.indrelid
                                 AND co.contype IN ('p', 'u', 'x')
     WHERE i.indisvalid AND i.indislive
       AND NOT i.indisreplident AND NOT i.indisclustered
       AND ic.reltablespace = 0
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                        WHERE a.attrelid = i.indexrelid AND a.attstattarget > 0)
  )
  SELECT CASE WHEN x.conoid IS NULL
              THEN format('%s:%s', 'pg_class'::regclass::oid, x.indexrelid)
              ELSE format('%s:%s', 'pg_constraint'::regclass::oid, x.conoid) END AS key,
         CASE WHEN x.conoid IS NULL
              THEN format('DROP INDEX IF EXISTS %I.%I', n.nspname, ic.relname)
              ELSE format('ALTER TABLE ONLY %I.%I DROP CONSTRAINT IF EXISTS %I', n.nspname, t.relname, x.conname)
         END AS drop_sql,
         CASE WHEN x.conoid IS NULL
              THEN pg_get_indexdef(x.indexrelid)
              ELSE format('ALTER TABLE ONLY %I.%I ADD CONSTRAINT %I %s', n.nspname, t.relname, x.conname,
                          pg_get_constraintdef(x.conoid))
         END AS create_sql
    FROM indexes x
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_class ic ON ic.oid = x.indexrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
   ORDER BY n.nspname, t.relname, x.conoid IS NULL, ic.relname`;
