/**
 * Large objects, read and written in pieces by oid: pg_dump keeps their oids, and tables refer to
 * them by oid, so an object is always addressed by the same one on both sides. No statement here
 * reads or writes an object whole: one can be up to 4 TB.
 */

/** How many large objects the database holds. */
export const COUNT_LARGE_OBJECTS = 'SELECT count(*) AS n FROM pg_largeobject_metadata';

/**
 * The next batch of large objects after an oid, each with its first bytes: most objects are small,
 * and a batch reads them in one round trip. $1 the last oid of the previous batch, $2 bytes per
 * head, $3 objects per batch.
 */
export const LARGE_OBJECT_HEADS = `
  SELECT oid::text AS oid, lo_get(oid, 0, $2::int) AS head
    FROM pg_largeobject_metadata WHERE oid > $1::oid ORDER BY oid LIMIT $3::int`;

/** One piece of a large object. $1 oid, $2 offset, $3 length. */
export const READ_LARGE_OBJECT = 'SELECT lo_get($1::oid, $2::bigint, $3::int) AS data';

/** Writes one piece of a large object at an offset. $1 oid, $2 offset, $3 bytes. */
export const WRITE_LARGE_OBJECT = 'SELECT lo_put($1::oid, $2::bigint, $3::bytea)';

/**
 * A large object's privileges as a JSON array of `{grantee, privilege, grantable}` (grantee null for
 * PUBLIC), sorted, its owner's defaults when it has no ACL: by name, so that two servers compare.
 */
const ACL_ITEMS = `(
    SELECT coalesce(json_agg(json_build_object('grantee', g.grantee, 'privilege', g.privilege_type,
                                               'grantable', g.is_grantable)
                             ORDER BY g.grantee, g.privilege_type, g.is_grantable), '[]'::json)
      FROM (SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
                   a.privilege_type, a.is_grantable
              FROM aclexplode(coalesce(l.lomacl, acldefault('L', l.lomowner))) a) g)`;

/**
 * The source's next batch of large objects after an oid: owner, privileges and first bytes (most
 * objects are small: a batch copies them whole). $1 the last oid of the previous batch, $2 bytes
 * per head, $3 objects per batch.
 */
export const LARGE_OBJECT_BATCH = `
  SELECT l.oid::text AS oid, pg_get_userbyid(l.lomowner) AS owner, ${ACL_ITEMS} AS acl,
         lo_get(l.oid, 0, $2::int) AS head
    FROM pg_largeobject_metadata l WHERE l.oid > $1::oid ORDER BY l.oid LIMIT $3::int`;

/**
 * Removes the target's large objects in an oid range that the source's batch does not hold: made
 * by pre-data for an object the source has unlinked since (the target held none of its own:
 * preflight). $1 after this oid, $2 up to this oid (null: no end), $3 the source's oids there.
 */
export const UNLINK_LARGE_OBJECTS_NOT_IN = `
  SELECT lo_unlink(l.oid) FROM pg_largeobject_metadata l
   WHERE l.oid > $1::oid AND ($2::oid IS NULL OR l.oid <= $2::oid) AND l.oid <> ALL($3::oid[])`;

/** Creates, under their oids, the large objects of a batch the target lacks. $1 oids. */
export const CREATE_MISSING_LARGE_OBJECTS = `
  SELECT lo_create(o) FROM unnest($1::oid[]) AS o
   WHERE NOT EXISTS (SELECT 1 FROM pg_largeobject_metadata m WHERE m.oid = o)`;

/** The target's owner and privileges of a batch's large objects (as LARGE_OBJECT_BATCH reads them). $1 oids. */
export const LARGE_OBJECT_OWNERS = `
  SELECT l.oid::text AS oid, pg_get_userbyid(l.lomowner) AS owner, ${ACL_ITEMS} AS acl
    FROM pg_largeobject_metadata l WHERE l.oid = ANY($1::oid[])`;

/**
 * Empties a batch's large objects, so that a shorter source leaves no tail behind (the
 * descriptors close with the transaction). $1 oids.
 */
export const EMPTY_LARGE_OBJECTS = 'SELECT lo_truncate(lo_open(o, 131072), 0) FROM unnest($1::oid[]) AS o';

/** Writes each object's first bytes at offset 0. $1 oids, $2 their heads. */
export const WRITE_LARGE_OBJECT_HEADS =
  'SELECT lo_put(t.o, 0, t.d) FROM unnest($1::oid[], $2::bytea[]) AS t(o, d)';
