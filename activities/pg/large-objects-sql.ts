/**
 * Large objects, read and written in pieces by oid: pg_dump keeps their oids, and tables refer to
 * them by oid, so an object is always addressed by the same one on both sides. No statement here
 * reads or writes an object whole: one can be up to 4 TB.
 */

/** How many large objects the database holds. */
export const COUNT_LARGE_OBJECTS = 'SELECT count(*) AS n FROM pg_largeobject_metadata';

/** Every large object's oid, in order. */
export const LIST_LARGE_OBJECTS = 'SELECT oid::text AS oid FROM pg_largeobject_metadata ORDER BY oid';

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

/** Whether a large object exists. $1 oid. */
export const LARGE_OBJECT_EXISTS = 'SELECT 1 FROM pg_largeobject_metadata WHERE oid = $1::oid';

/** Creates an empty large object under a given oid (pre-data normally made it already). $1 oid. */
export const CREATE_LARGE_OBJECT = 'SELECT lo_create($1::oid)';

/** Opens a large object for writing (INV_WRITE = 0x20000) and returns its descriptor. $1 oid. */
export const OPEN_LARGE_OBJECT_FOR_WRITE = 'SELECT lo_open($1::oid, 131072) AS fd';

/** Empties an open large object, so that a shorter source leaves no tail behind. $1 descriptor. */
export const EMPTY_LARGE_OBJECT = 'SELECT lo_truncate($1, 0)';

/** Closes a large object descriptor. $1 descriptor. */
export const CLOSE_LARGE_OBJECT = 'SELECT lo_close($1)';

/** Writes one piece of a large object at an offset. $1 oid, $2 offset, $3 bytes. */
export const WRITE_LARGE_OBJECT = 'SELECT lo_put($1::oid, $2::bigint, $3::bytea)';
