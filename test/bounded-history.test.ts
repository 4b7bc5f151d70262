import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl, dropDatabase, query, uniqueName } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { plainTemporal } from './helpers/temporal';

const TABLES = 2000;

describe('a database of 2,000 tables', () => {
  const source = uniqueName('many_src');
  const target = uniqueName('many_dst');

  beforeAll(async () => {
    await query(adminUrl(), `CREATE DATABASE ${source}`);
    await query(
      adminUrl(5432, source),
      `DO $$ BEGIN
         FOR i IN 1..${TABLES} LOOP
           EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text)', i);
           EXECUTE format('INSERT INTO t%s SELECT g, md5(g::text) FROM generate_series(1, %s) g', i, 1 + i % 7);
         END LOOP;
       END $$;`,
    );
  });

  afterAll(async () => {
    await dropDatabase(source);
    await dropDatabase(target);
  });

  // After the hooks above: the worker starts once the source exists and stops before it is dropped.
  const suite = useTemporalSuite();

  it('migrates with fewer than 10,000 events in its workflow history', async () => {
    const name = uniqueName('many').replace(/_/g, '-');
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      autoApprove: true,
      validate: 'counts',
      jobs: 2,
    });
    const result = await run.result();
    expect(result.tables).toBe(TABLES);
    expect(result.validation?.ok).toBe(true);
    const temporal = await plainTemporal();
    try {
      const { events } = await temporal.client.workflow.getHandle(run.workflowId).fetchHistory();
      expect(events?.length).toBeLessThan(10_000);
    } finally {
      await temporal.teardown();
    }
  }, 600_000);
});
