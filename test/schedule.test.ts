import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackups } from '../client/pgferry-client';
import type { BackupScheduleInfo } from '../client/schedules';
import { ErrorCode, type PgferryError } from '../domain/errors';
import { startAzurite, type Azurite } from './helpers/azurite';
import { adminUrl, createEmptyDatabase, dropDatabase, freePort, query, uniqueName } from './helpers/pg';
import { runPgferry } from './helpers/processes';
import { useTemporalSuite } from './helpers/suite';
import { plainTemporal, testEnv } from './helpers/temporal';
import { waitFor } from './helpers/wait';

const CONTAINER = 'pgferry-schedules';
const SCHEMA = `CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);
  INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 200) g;
  CREATE TABLE notes (id int PRIMARY KEY, body text);
  INSERT INTO notes SELECT g, repeat('n', g) FROM generate_series(1, 50) g;`;

describe('backup schedules: Temporal Schedules that back up, drill and keep the newest N', () => {
  const source = uniqueName('sched_src');
  const url = adminUrl(5432, source);
  const schedules: string[] = [];
  let azurite: Azurite;
  let scratch: string;
  const savedConnectionString = process.env.AZURE_STORAGE_CONNECTION_STRING;

  beforeAll(async () => {
    [azurite] = await Promise.all([startAzurite(), createEmptyDatabase(source)]);
    await query(url, SCHEMA);
    scratch = await mkdtemp(path.join(tmpdir(), 'pgferry-scratch-'));
    process.env.AZURE_STORAGE_CONNECTION_STRING = azurite.connectionString;
  }, 240_000);

  afterAll(async () => {
    for (const name of schedules) await suite.client.schedules.delete(name).catch(() => undefined);
    if (savedConnectionString === undefined) delete process.env.AZURE_STORAGE_CONNECTION_STRING;
    else process.env.AZURE_STORAGE_CONNECTION_STRING = savedConnectionString;
    await dropDatabase(source);
    await azurite?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const suite = useTemporalSuite({
    env: () =>
      testEnv({ AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString, PGFERRY_SCRATCH_DIR: scratch }),
  });
  const cli = async (...args: string[]) => {
    const result = await runPgferry([...args, '--json'], suite.env);
    return {
      code: result.code,
      body: JSON.parse(result.stdout || '{}') as Record<string, unknown>,
      stderr: result.stderr,
    };
  };

  /** Triggers the schedule and waits until its `count`th run has ended. */
  async function runOnce(name: string, count: number): Promise<BackupScheduleInfo> {
    await suite.client.schedules.trigger(name);
    return waitFor(
      `run ${count} of schedule ${name} to end`,
      async () => {
        const info = await suite.client.schedules.describe(name);
        return info.runs.length === count && info.runs[0]?.state !== 'running' ? info : undefined;
      },
      120_000,
      500,
    );
  }

  it('runs three times with --keep 2 and --drill: the newest two backups stay, and every run reports its drill', async () => {
    const name = uniqueName('nightly');
    schedules.push(name);
    const location = `azblob://${CONTAINER}/${name}`;
    const created = await cli(
      ...['schedule', 'backup', '--source', url, '--to', location, '--cron', '0 3 * * *'],
      ...['--keep', '2', '--drill', '--name', name],
    );
    expect(created.code, created.stderr).toBe(0);
    expect(created.body.schedule).toMatchObject({
      scheduleId: `pgferry-backup-${name}`,
      cron: '0 3 * * *',
      keep: 2,
      drill: true,
      paused: false,
      runs: [],
    });
    // Where the Temporal UI's Schedules page reads them: any Temporal client lists it.
    const temporal = await plainTemporal();
    try {
      const ids: string[] = [];
      for await (const s of temporal.client.schedule.list()) ids.push(s.scheduleId);
      expect(ids).toContain(`pgferry-backup-${name}`);
    } finally {
      await temporal.teardown();
    }

    // Each run backs up 10 × run more rows, so each drill's count proves which backup it restored.
    const expected: number[] = [];
    for (let run = 1; run <= 3; run++) {
      await query(url, `INSERT INTO items (name) SELECT 'run ${run}' FROM generate_series(1, ${run * 10})`);
      expected.unshift(250 + [10, 30, 60][run - 1]!);
      await runOnce(name, run);
    }

    const listed = await cli('schedule', 'list');
    expect(listed.code).toBe(0);
    const mine = (listed.body.schedules as BackupScheduleInfo[]).find((s) => s.name === name);
    expect(mine?.runs.map((r) => r.state)).toEqual(['completed', 'completed', 'completed']);
    for (const [i, run] of (mine?.runs ?? []).entries()) {
      expect(run.rows, run.workflowId).toBe(expected[i]);
      expect(run.drill, run.workflowId).toMatchObject({
        ok: true,
        rowsExpected: expected[i],
        rowsRestored: expected[i],
        mismatches: [],
        dropped: true,
      });
    }
    const [third, second, first] = mine!.runs;
    const nameOf = (backup?: string) => backup?.split('/').at(-1);
    expect(first?.deleted).toEqual([]);
    expect(second?.deleted).toEqual([]);
    expect(third?.deleted).toEqual([nameOf(first?.backup)]);
    expect(third?.kept).toEqual([nameOf(third?.backup), nameOf(second?.backup)]);
    expect((await listBackups(location)).map((b) => b.backup)).toEqual([third?.backup, second?.backup]);
    const scratchDatabases = await query(
      url,
      `SELECT datname FROM pg_database WHERE datname LIKE 'pgferry_drill_${name}%'`,
    );
    expect(scratchDatabases).toEqual([]);
  });

  it('fails a run whose drill cannot restore (DrillFailed) and then deletes no backup', async () => {
    const name = uniqueName('undrilled');
    schedules.push(name);
    const location = `azblob://${CONTAINER}/${name}`;
    // Nothing listens there: the drill's restore fails at its first connection.
    const nowhere = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    await suite.client.schedules.create({
      ...{ name, source: url, to: location, cron: '@yearly', keep: 1 },
      ...{ drill: true, drillServer: nowhere },
    });
    await runOnce(name, 1);
    const info = await runOnce(name, 2);
    for (const run of info.runs) {
      expect(run.state).toBe('failed');
      expect(run.error?.code).toBe(ErrorCode.DrillFailed);
      expect(run.error?.message).toMatch(/restore drill .* failed/);
    }
    // keep 1, yet both stay: retention runs only after a drill that passed.
    expect(await listBackups(location)).toHaveLength(2);
  });

  it('pauses, resumes and deletes a schedule, and refuses a bad cron, a taken name or an unknown schedule as bad input', async () => {
    const name = uniqueName('weekly');
    const location = `azblob://${CONTAINER}/${name}`;
    const base = ['schedule', 'backup', '--source', url, '--to', location, '--keep', '3', '--name', name];
    const badCron = await cli(...base, '--cron', '61 * * * *');
    expect(badCron.code).toBe(2);
    expect(badCron.body.error).toMatchObject({ code: ErrorCode.InvalidInput, field: 'cron' });
    expect(await suite.client.schedules.describe(name).catch((e: { code?: string }) => e.code)).toBe(
      ErrorCode.WorkflowNotFound,
    );

    schedules.push(name);
    const options = { name, source: url, to: location, keep: 3, cron: '@weekly' };
    await suite.client.schedules.create(options);
    const again = (await suite.client.schedules.create(options).catch((e: unknown) => e)) as PgferryError;
    expect(again).toMatchObject({ code: ErrorCode.InvalidInput, field: 'name' });

    expect((await cli('schedule', 'pause', name)).body.schedule).toMatchObject({
      paused: true,
      cron: '@weekly',
    });
    expect((await suite.client.schedules.list()).find((s) => s.name === name)?.paused).toBe(true);
    expect((await suite.client.schedules.resume(name)).paused).toBe(false);
    expect((await cli('schedule', 'delete', name)).body).toMatchObject({ ok: true, deleted: true });
    const gone = (await suite.client.schedules.delete(name).catch((e: unknown) => e)) as PgferryError;
    expect(gone).toMatchObject({ code: ErrorCode.WorkflowNotFound, field: 'name' });
  });
});
