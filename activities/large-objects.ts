import type { OnBoth } from '../domain/activity-inputs';
import type { ActivityDeps } from './deps';
import { startHeartbeat } from './heartbeat';
import { countLargeObjects } from './pg/catalog';
import { withClient, withTransaction } from './pg/connect';
import {
  CLOSE_LARGE_OBJECT,
  CREATE_LARGE_OBJECT,
  EMPTY_LARGE_OBJECT,
  LARGE_OBJECT_EXISTS,
  LIST_LARGE_OBJECTS,
  OPEN_LARGE_OBJECT_FOR_WRITE,
  READ_LARGE_OBJECT,
  WRITE_LARGE_OBJECT,
} from './pg/large-objects-sql';

/** Bytes read and written per round trip: a large object is never held in memory whole. */
const PIECE = 1024 * 1024;

/**
 * Copies the content of every large object, by oid (pg_dump's pre-data already made them, with
 * owners, ACLs and comments; one that is missing is created). Idempotent: each object is written
 * whole from offset 0 in one transaction, and cut to the source's length.
 */
export async function copyLargeObjects(
  deps: ActivityDeps,
  { source, target }: OnBoth,
): Promise<{ largeObjects: number; bytes: number; targetLargeObjects: number }> {
  const hb = startHeartbeat();
  try {
    return await withClient(source, deps.env, 'source', (src) =>
      withClient(target, deps.env, 'target', async (dst) => {
        const { rows } = await src.query<{ oid: string }>(LIST_LARGE_OBJECTS);
        let bytes = 0;
        hb.update({ tables: rows.length, tablesDone: 0, detail: 'large objects' });
        for (const [i, { oid }] of rows.entries()) {
          await withTransaction(dst, async () => {
            const exists = await dst.query(LARGE_OBJECT_EXISTS, [oid]);
            if (exists.rowCount === 0) await dst.query(CREATE_LARGE_OBJECT, [oid]);
            // Empty the target object first, so that a shorter source leaves no tail behind.
            const fd = await dst.query<{ fd: number }>(OPEN_LARGE_OBJECT_FOR_WRITE, [oid]);
            await dst.query(EMPTY_LARGE_OBJECT, [fd.rows[0]?.fd]);
            await dst.query(CLOSE_LARGE_OBJECT, [fd.rows[0]?.fd]);
            for (let offset = 0; ; offset += PIECE) {
              const piece = await src.query<{ data: Buffer }>(READ_LARGE_OBJECT, [oid, offset, PIECE]);
              const data = piece.rows[0]?.data ?? Buffer.alloc(0);
              if (data.length === 0) break;
              await dst.query(WRITE_LARGE_OBJECT, [oid, offset, data]);
              bytes += data.length;
              hb.update({ bytes });
              if (data.length < PIECE) break;
            }
          });
          hb.update({ tablesDone: i + 1 });
        }
        // Counted after the copy: the online cutover's validation compares it with the source's.
        return { largeObjects: rows.length, bytes, targetLargeObjects: await countLargeObjects(dst) };
      }),
    );
  } finally {
    hb.stop();
  }
}
