import type { Client } from 'pg';
import type { OnBoth } from '../domain/activity-inputs';
import type { ActivityDeps } from './deps';
import { startHeartbeat } from './heartbeat';
import { countLargeObjects } from './pg/catalog';
import { quoteIdent, withClient, withTransaction } from './pg/connect';
import {
  CREATE_MISSING_LARGE_OBJECTS,
  EMPTY_LARGE_OBJECTS,
  LARGE_OBJECT_BATCH,
  LARGE_OBJECT_OWNERS,
  READ_LARGE_OBJECT,
  UNLINK_LARGE_OBJECTS_NOT_IN,
  WRITE_LARGE_OBJECT,
  WRITE_LARGE_OBJECT_HEADS,
} from './pg/large-objects-sql';

/** Objects per batch: a batch of small objects is copied in a few round trips, in one transaction. */
const BATCH = 200;
/** Bytes of each object read with its batch: an object no larger is copied whole with it. */
const HEAD = 64 * 1024;
/** Bytes per round trip of the rest of a larger object: none is ever held in memory whole. */
const PIECE = 1024 * 1024;

/** One privilege on a large object, by name (grantee null: PUBLIC). */
interface AclItem {
  readonly grantee: string | null;
  readonly privilege: string;
  readonly grantable: boolean;
}

/** A large object's owner and privileges, as both sides read them. */
interface ObjectOwner {
  readonly oid: string;
  readonly owner: string;
  readonly acl: AclItem[];
}

/** A large object as the source's batch reads it: owner, privileges and its first bytes. */
interface SourceObject extends ObjectOwner {
  readonly head: Buffer;
}

/** The privileges a large object can have: what GRANT ON LARGE OBJECT takes. */
const LARGE_OBJECT_PRIVILEGES = new Set(['SELECT', 'UPDATE']);

/** What copyLargeObjects did. */
export interface LargeObjectsCopied {
  /** The source's large objects, each now on the target with its content, owner and privileges. */
  readonly largeObjects: number;
  readonly bytes: number;
  /** The target's, counted after the copy (the online cutover compares it with the source's). */
  readonly targetLargeObjects: number;
  /** Objects the target held that the source has unlinked since pre-data made them. */
  readonly removed: number;
  /** Objects whose owner or privileges were set to the source's (made or changed after pre-data). */
  readonly aligned: number;
}

/**
 * Makes the target's large objects the source's, by oid: pre-data made those the source had then
 * (with owners, privileges and comments); since, the source may have made, changed or unlinked
 * some. In batches in oid order, each in one transaction: the objects the target lacks are
 * created, the contents written whole (emptied first, so a shorter source leaves no tail), owner
 * and privileges set where they differ, and the target's objects the source no longer has are
 * unlinked (the target held none of its own: preflight requires it empty). Idempotent.
 */
export async function copyLargeObjects(
  deps: ActivityDeps,
  { source, target }: OnBoth,
): Promise<LargeObjectsCopied> {
  const hb = startHeartbeat();
  try {
    return await withClient(source, deps.env, 'source', (src) =>
      withClient(target, deps.env, 'target', async (dst) => {
        const done = { largeObjects: 0, bytes: 0, removed: 0, aligned: 0 };
        hb.update({ tablesDone: 0, detail: 'large objects' });
        for (let after = '0'; ;) {
          const { rows } = await src.query<SourceObject>(LARGE_OBJECT_BATCH, [after, HEAD + 1, BATCH]);
          const last = rows.length < BATCH ? null : (rows[rows.length - 1]?.oid ?? null);
          await withTransaction(dst, async () => {
            const oids = rows.map((r) => r.oid);
            done.removed += (await dst.query(UNLINK_LARGE_OBJECTS_NOT_IN, [after, last, oids])).rowCount ?? 0;
            if (rows.length === 0) return;
            await dst.query(CREATE_MISSING_LARGE_OBJECTS, [oids]);
            done.aligned += await alignOwners(dst, rows);
            await dst.query(EMPTY_LARGE_OBJECTS, [oids]);
            await dst.query(WRITE_LARGE_OBJECT_HEADS, [oids, rows.map((r) => r.head)]);
            for (const r of rows) {
              done.bytes += r.head.length;
              if (r.head.length > HEAD) done.bytes += await copyRest(src, dst, r.oid, r.head.length);
            }
          });
          done.largeObjects += rows.length;
          hb.update({ tablesDone: done.largeObjects, bytes: done.bytes });
          if (last === null) break;
          after = last;
        }
        return { ...done, targetLargeObjects: await countLargeObjects(dst) };
      }),
    );
  } finally {
    hb.stop();
  }
}

/** The rest of an object larger than its head, from `offset` on, piece by piece; returns the bytes. */
async function copyRest(src: Client, dst: Client, oid: string, offset: number): Promise<number> {
  let bytes = 0;
  for (let at = offset; ; at += PIECE) {
    const piece = await src.query<{ data: Buffer }>(READ_LARGE_OBJECT, [oid, at, PIECE]);
    const data = piece.rows[0]?.data ?? Buffer.alloc(0);
    if (data.length === 0) return bytes;
    await dst.query(WRITE_LARGE_OBJECT, [oid, at, data]);
    bytes += data.length;
    if (data.length < PIECE) return bytes;
  }
}

/**
 * Gives the batch's objects the source's owner and privileges where the target's differ (an object
 * made or re-granted on the source after pre-data, or just created here); returns how many. The
 * owner first: a change of owner carries the privileges with it, and an object without grants
 * keeps its default privileges (no explicit ACL) as on the source.
 */
async function alignOwners(dst: Client, batch: readonly SourceObject[]): Promise<number> {
  const read = async (oids: string[]) =>
    (await dst.query<ObjectOwner>(LARGE_OBJECT_OWNERS, [oids])).rows.map((r) => [r.oid, r] as const);
  const there = new Map(await read(batch.map((r) => r.oid)));
  const reowned = batch.filter((want) => there.get(want.oid)?.owner !== want.owner);
  for (const want of reowned)
    await dst.query(`ALTER LARGE OBJECT ${Number(want.oid)} OWNER TO ${quoteIdent(want.owner)}`);
  if (reowned.length > 0) for (const [oid, now] of await read(reowned.map((r) => r.oid))) there.set(oid, now);
  const regranted = batch.filter(
    (want) => JSON.stringify(there.get(want.oid)?.acl) !== JSON.stringify(want.acl),
  );
  for (const want of regranted) await grantAsSource(dst, want, there.get(want.oid)?.acl ?? []);
  return new Set([...reowned, ...regranted]).size;
}

/** Revokes what the target's object grants and grants what the source's does. */
async function grantAsSource(dst: Client, want: SourceObject, have: readonly AclItem[]): Promise<void> {
  const object = `LARGE OBJECT ${Number(want.oid)}`;
  for (const grantee of new Set([...have, ...want.acl].map((item) => item.grantee)))
    await dst.query(`REVOKE ALL ON ${object} FROM ${roleSql(grantee)}`);
  for (const item of want.acl) {
    // From the source's catalog, but checked all the same: only these two words go into the statement.
    if (!LARGE_OBJECT_PRIVILEGES.has(item.privilege)) continue;
    const option = item.grantable ? ' WITH GRANT OPTION' : '';
    await dst.query(`GRANT ${item.privilege} ON ${object} TO ${roleSql(item.grantee)}${option}`);
  }
}

/** A grantee as GRANT and REVOKE name it: PUBLIC, or the role's quoted name. */
function roleSql(grantee: string | null): string {
  return grantee === null ? 'PUBLIC' : quoteIdent(grantee);
}
