import { afterAll, describe, expect, it } from 'vitest';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { adminUrl, createEmptyDatabase, dropDatabase, query, uniqueName } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { startWriter } from './helpers/writer';

const SCHEMA = `CREATE TABLE live (id bigserial PRIMARY KEY, v text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
  INSERT INTO live (v) SELECT 'seed ' || g FROM generate_series(1, 20000) g;
  CREATE TABLE quiet AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g;`;

describe('offline migrations stop writes by default', () => {
  const databases: string[] = [];

  afterAll(async () => {
    for (const name of databases) await dropDatabase(name);
  });

  const suite = useTemporalSuite();

  const fresh = async (tag: string) => {
    const source = uniqueName(`frz_${tag}_s`);
    const target = uniqueName(`frz_${tag}_t`);
    databases.push(source, target);
    await createEmptyDatabase(source);
    await query(adminUrl(5432, source), SCHEMA);
    return { source, target, name: uniqueName(`frz-${tag}`).replace(/_/g, '-') };
  };

  it('refuses the application’s writes from the start of the copy, and the target equals the source', async () => {
    const { source, target, name } = await fresh('app');
    const writer = startWriter(adminUrl(5432, source), ["INSERT INTO live (v) VALUES ('app')"], 5);
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      autoApprove: true,
    });
    const result = await run.result();
    const seen = await writer.stop();
    expect(result.outcome).toBe('completed');
    expect(result.sourceFrozen).toBe(true);
    expect(result.downtimeMs).toBeGreaterThan(0);
    expect(result.validation?.ok).toBe(true);
    expect(seen.written).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
    expect(
      diffFingerprints(
        await databaseFingerprint(adminUrl(5432, source)),
        await databaseFingerprint(adminUrl(5432, target)),
      ),
    ).toEqual([]);
    const [readOnly] = await query<{ v: string }>(
      adminUrl(5432, source),
      "SELECT current_setting('default_transaction_read_only') AS v",
    );
    expect(readOnly?.v).toBe('on');
  });

  it('leaves the source writable with freezeSource false, validates every table at the end, and says so', async () => {
    const { source, target, name } = await fresh('nofreeze');
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      autoApprove: true,
      freezeSource: false,
    });
    const result = await run.result();
    expect(result.outcome).toBe('completed');
    expect(result.sourceFrozen).toBe(false);
    expect(result.downtimeMs).toBeUndefined();
    expect(result.validation?.tables.map((t) => t.table).sort()).toEqual(['live', 'quiet']);
    const status = await suite.client.status(run.workflowId);
    expect(status.details?.sourceFrozen).toBe(false);
    await query(adminUrl(5432, source), "INSERT INTO live (v) VALUES ('still writable')");
  });
});
