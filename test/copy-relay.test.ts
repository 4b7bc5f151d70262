import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyInRelay, copyOutRelay } from '../activities/pg/copy-relay';
import { createEmptyDatabase, dropDatabase, query, uniqueName } from './helpers/pg';

/** Streams `sourceSql` (COPY TO) into `targetSql` (COPY FROM) through the relay. */
async function relayCopy(
  source: string,
  target: string,
  sourceSql: string,
  targetSql: string,
): Promise<{ sent: number; loaded: number; payload: number }> {
  const s = new Client({ connectionString: source });
  const t = new Client({ connectionString: target });
  await s.connect();
  await t.connect();
  try {
    const relay = copyOutRelay(sourceSql);
    const out = s.query(relay.stream);
    const into = t.query(copyInRelay(targetSql));
    await pipeline(out, into);
    return { sent: out.rowCount, loaded: into.rowCount, payload: relay.payloadBytes() };
  } finally {
    await s.end();
    await t.end();
  }
}

describe('the COPY relay (CopyData messages passed from source to target as they are)', () => {
  let source: string;
  let target: string;

  beforeAll(async () => {
    source = await createEmptyDatabase(uniqueName('relay_src'));
    target = await createEmptyDatabase(uniqueName('relay_dst'));
    await query(
      source,
      `CREATE TABLE t (id int, body text);
       INSERT INTO t SELECT g, repeat(md5(g::text), 1 + g % 400) FROM generate_series(1, 20000) g;
       -- A notice per 1,000 rows: NoticeResponse messages arrive between the CopyData ones.
       CREATE FUNCTION noisy(i int) RETURNS int LANGUAGE plpgsql AS
         $$ BEGIN IF i % 1000 = 0 THEN RAISE NOTICE 'row %', i; END IF; RETURN i; END $$;
       CREATE FUNCTION failing(i int) RETURNS int LANGUAGE plpgsql AS
         $$ BEGIN IF i = 15000 THEN RAISE EXCEPTION 'row % is bad', i; END IF; RETURN i; END $$;`,
    );
    await query(target, 'CREATE TABLE t (id int, body text)');
  });

  afterAll(async () => {
    await dropDatabase(source);
    await dropDatabase(target);
  });

  it('moves every row exactly, with notices in the stream, in text and binary format', async () => {
    for (const format of ['text', 'binary']) {
      await query(target, 'TRUNCATE t');
      const result = await relayCopy(
        source,
        target,
        `COPY (SELECT noisy(id), body FROM t) TO STDOUT WITH (FORMAT ${format})`,
        `COPY t FROM STDIN WITH (FORMAT ${format})`,
      );
      expect(result).toMatchObject({ sent: 20000, loaded: 20000 });
      expect(result.payload).toBeGreaterThan(20000 * 32);
      const digest = "SELECT count(*)::int AS n, md5(string_agg(id || body, ',' ORDER BY id)) AS d FROM t";
      expect(await query(target, digest)).toEqual(await query(source, digest));
    }
  });

  it('fails with the source error mid-COPY, and the target keeps nothing', async () => {
    await query(target, 'TRUNCATE t');
    await expect(
      relayCopy(
        source,
        target,
        'COPY (SELECT failing(id), body FROM t ORDER BY id) TO STDOUT',
        'COPY t FROM STDIN',
      ),
    ).rejects.toThrow(/row 15000 is bad/);
    expect(await query(target, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 0 }]);
  });
});
