import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities';
import { runActivity, testActivityDeps } from './helpers/activity-env';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { databasePrivileges } from './helpers/role-catalog';

const activities = createActivities(testActivityDeps());

/** Every large object: oid, length and md5 of its content. */
const CONTENTS = `SELECT oid::bigint::text AS oid, length(lo_get(oid)) AS bytes, md5(lo_get(oid)) AS md5
                    FROM pg_largeobject_metadata ORDER BY oid`;

/**
 * The source: 300 small objects of 0 to ~3 kB (a batch is 200), objects at the batch's head size
 * and one byte above it, one of 3 MB (read on in pieces), owned by two roles, with grants.
 */
const SOURCE_SQL = `
  SELECT lo_from_bytea(100000 + g, decode(repeat(md5(g::text), (g * 7) % 100), 'hex')) FROM generate_series(1, 300) g;
  SELECT lo_from_bytea(200001, decode(repeat('ab', 65536), 'hex'));
  SELECT lo_from_bytea(200002, decode(repeat('cd', 65537), 'hex'));
  SELECT lo_from_bytea(200003, decode(repeat(md5('big'), 196608), 'hex'));
  ALTER LARGE OBJECT 100007 OWNER TO lo_owner;
  ALTER LARGE OBJECT 200003 OWNER TO lo_owner;
  GRANT SELECT ON LARGE OBJECT 200003 TO lo_reader;
  GRANT SELECT, UPDATE ON LARGE OBJECT 100250 TO lo_reader WITH GRANT OPTION;
  GRANT SELECT ON LARGE OBJECT 100251 TO PUBLIC`;

/**
 * The target as pre-data and the source's changes since leave it: some objects made (empty, or
 * holding a longer content than the source's now), one the source has unlinked since, one owned
 * by another role than the source's now.
 */
const TARGET_SQL = `
  SELECT lo_create(100000 + g) FROM generate_series(1, 150) g;
  SELECT lo_put(100003, 0, decode(repeat('ff', 5000), 'hex'));
  SELECT lo_from_bytea(200002, decode(repeat('ee', 200000), 'hex'));
  SELECT lo_from_bytea(150000, 'unlinked on the source since');
  SELECT lo_create(100250);
  ALTER LARGE OBJECT 100250 OWNER TO lo_owner`;

describe('copyLargeObjects: the target’s large objects made the source’s', () => {
  let cluster: ThrowawayCluster;

  beforeAll(async () => {
    cluster = await startThrowawayCluster();
    await query(cluster.url(), 'CREATE ROLE lo_owner; CREATE ROLE lo_reader');
    await query(cluster.url(), 'CREATE DATABASE lo_source');
    await query(cluster.url(), 'CREATE DATABASE lo_target');
    await query(cluster.url('lo_source'), SOURCE_SQL);
    await query(cluster.url('lo_target'), TARGET_SQL);
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('copies contents in batches, unlinks what the source no longer has, and sets owners and privileges; a second run changes nothing', async () => {
    const both = { source: cluster.url('lo_source'), target: cluster.url('lo_target') };
    const copied = await runActivity(activities.copyLargeObjects, both);
    const sourceContents = await query(both.source, CONTENTS);
    expect(sourceContents).toHaveLength(303);
    expect(await query(both.target, CONTENTS)).toEqual(sourceContents);
    expect(await databasePrivileges(both.target, [])).toEqual(await databasePrivileges(both.source, []));
    const total = (sourceContents as { bytes: number }[]).reduce((n, r) => n + r.bytes, 0);
    // Aligned: those whose owner or privileges differed: 100007 and 200003 (made here by the target
    // user, owned by lo_owner on the source), 100251 (granted to PUBLIC), 100250 (another owner and
    // no grant on the target). The others the target lacked are made by the same role as the source's.
    expect(copied).toEqual({
      largeObjects: 303,
      bytes: total,
      targetLargeObjects: 303,
      removed: 1,
      aligned: 4,
    });

    const again = await runActivity(activities.copyLargeObjects, both);
    expect(again).toEqual({
      largeObjects: 303,
      bytes: total,
      targetLargeObjects: 303,
      removed: 0,
      aligned: 0,
    });
    expect(await query(both.target, CONTENTS)).toEqual(sourceContents);
  });
});
