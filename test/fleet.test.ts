import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetStatus } from '../client/fleet';
import { ErrorCode, type PgferryError } from '../domain/errors';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { runPgferry } from './helpers/processes';
import { useTemporalSuite } from './helpers/suite';
import { plainTemporal } from './helpers/temporal';
import { waitFor } from './helpers/wait';

/** A small database: two tables with a foreign key, a sequence, and `rows` rows. */
function schema(rows: number): string {
  return `CREATE TABLE public.customers (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE public.orders (id bigserial PRIMARY KEY, customer integer REFERENCES public.customers, total numeric(10,2));
    CREATE SEQUENCE public.invoice_no START 1000;
    INSERT INTO public.customers (name) SELECT 'c' || g FROM generate_series(1, ${rows}) g;
    INSERT INTO public.orders (customer, total) SELECT 1 + g % ${rows}, g * 1.5 FROM generate_series(1, ${rows * 3}) g;
    SELECT nextval('public.invoice_no') FROM generate_series(1, 7);`;
}

describe('fleets: many databases as child migrations, in waves, on a real Temporal server and PostgreSQL', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;

  beforeAll(async () => {
    [source, target] = await Promise.all([startThrowawayCluster(), startThrowawayCluster()]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  const suite = useTemporalSuite();

  /** Creates databases on the source, each with its own row count. */
  async function createSources(names: readonly string[]): Promise<void> {
    for (const [i, name] of names.entries()) {
      await query(source.url(), `CREATE DATABASE ${name}`);
      await query(source.url(name), schema(50 + 10 * i));
    }
  }

  /** The source and target of a database are the same: fingerprint (schema, rows, sequences) and counts. */
  async function expectIdentical(database: string): Promise<void> {
    const [a, b] = await Promise.all([
      databaseFingerprint(source.url(database)),
      databaseFingerprint(target.url(database)),
    ]);
    expect(diffFingerprints(a, b), database).toEqual([]);
    const count =
      'SELECT (SELECT count(*) FROM public.orders)::int AS n, (SELECT last_value FROM public.invoice_no)::int AS seq';
    expect(await query(target.url(database), count), database).toEqual(
      await query(source.url(database), count),
    );
  }

  const waitForFleet = (name: string, what: string, test: (s: FleetStatus) => boolean) =>
    waitFor(
      `fleet ${name}: ${what}`,
      async () => {
        const status = await suite.client.fleetStatus(name);
        return test(status) ? status : undefined;
      },
      180_000,
      250,
    );

  it('moves every database of a server in two waves, each member identical, and continues as new between the waves', async () => {
    const databases = ['fa_one', 'fa_two', 'fa_three', 'fa_four'];
    await createSources(databases);
    const run = await suite.client.fleet({
      name: 'fa',
      sourceServer: source.url(),
      targetServer: target.url(),
      all: true,
      waveSize: 2,
      concurrency: 2,
      approve: 'auto',
      validate: 'checksums',
    });
    const result = await run.result();
    expect(result.outcome).toBe('completed');
    expect(result.waves).toBe(2);
    // --all: every database but postgres (and the templates), in the source server's order.
    expect(result.members.map((m) => [m.database, m.wave])).toEqual([
      ['fa_four', 1],
      ['fa_one', 1],
      ['fa_three', 2],
      ['fa_two', 2],
    ]);
    for (const m of result.members) {
      expect(m.record, m.database).toMatchObject({ state: 'completed', attempts: 1, validated: true });
      await expectIdentical(m.database);
    }
    const temporal = await plainTemporal();
    try {
      const fleet = await temporal.client.workflow.getHandle('fleet-fa').describe();
      // One run per wave: the history of each stays small.
      expect(fleet.runId).not.toBe(fleet.raw.workflowExecutionInfo?.firstRunId);
      expect(fleet.historyLength).toBeLessThan(200);
      const member = await temporal.client.workflow.getHandle('migration-fa-fa_one').describe();
      expect(member.searchAttributes.PgferryFleet).toEqual(['fa']);
      expect(fleet.searchAttributes.PgferryFleet).toEqual(['fa']);
    } finally {
      await temporal.teardown();
    }
    const status = await suite.client.fleetStatus('fa');
    expect(status.members.map((m) => [m.database, m.state, m.stage])).toEqual(
      databases.sort().map((d) => [d, 'completed', 'done']),
    );
  });

  it('halts a wave that fails past its budget, and a retry of the failed member completes it', async () => {
    const databases = ['fb_one', 'fb_two', 'fb_three', 'fb_four'];
    await createSources(databases);
    // fb_four's target already holds a table of another application: its preflight refuses it.
    await query(target.url(), 'CREATE DATABASE fb_four');
    await query(target.url('fb_four'), 'CREATE TABLE public.other_app (id int)');
    await suite.client.fleet({
      name: 'fb',
      sourceServer: source.url(),
      targetServer: target.url(),
      databases,
      waveSize: 2,
      concurrency: 1,
      failureBudget: 0,
      approve: 'auto',
      validate: 'counts',
    });
    const halted = await waitForFleet('fb', 'halted at wave 2', (s) => s.awaiting?.kind === 'decision');
    expect(halted.state).toBe('waiting');
    expect(halted.awaiting).toEqual({ kind: 'decision', wave: 2, failed: ['fb_four'] });
    const byName = Object.fromEntries(halted.members.map((m) => [m.database, m.member]));
    expect(byName).toEqual({
      fb_one: 'completed',
      fb_two: 'completed',
      fb_three: 'completed',
      fb_four: 'failed',
    });
    expect(halted.members.find((m) => m.database === 'fb_four')?.error?.code).toBe(ErrorCode.PreflightFailed);

    // The table from the CLI, and the retry from the CLI once the cause is gone.
    const table = await runPgferry(['fleet', 'status', 'fb'], suite.env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/member\s+wave\s+stage\s+state\s+rows\s+lag\s+downtime/);
    expect(table.stdout).toMatch(/HALTED: wave 2/);
    const json = await runPgferry(['fleet', 'status', 'fb', '--json'], suite.env);
    expect((JSON.parse(json.stdout) as FleetStatus).members).toHaveLength(4);
    await query(target.url(), 'DROP DATABASE fb_four');
    const retried = await runPgferry(
      ['fleet', 'retry', 'fb', '--member', 'fb_four', '--as', 'carol'],
      suite.env,
    );
    expect(retried.code, retried.stderr).toBe(0);

    const result = await suite.client
      .attach<{
        outcome: string;
        members: { database: string; record: { state: string; attempts: number } }[];
      }>('fleet-fb')
      .result();
    expect(result.outcome).toBe('completed');
    expect(result.members.find((m) => m.database === 'fb_four')?.record).toMatchObject({
      state: 'completed',
      attempts: 2,
    });
    for (const d of databases) await expectIdentical(d);
  });

  it('waits for the approval of each wave, refuses a decision for another wave, and cuts over on it', async () => {
    const databases = ['fc_one', 'fc_two'];
    await createSources(databases);
    await suite.client.fleet({
      name: 'fc',
      sourceServer: source.url(),
      targetServer: target.url(),
      databases,
      waveSize: 2,
      approve: 'waves',
      approvers: ['alice'],
      validate: 'counts',
    });
    const waiting = await waitForFleet(
      'fc',
      'waiting for the approval of wave 1',
      (s) => s.awaiting?.kind === 'approval',
    );
    expect(waiting.awaiting).toEqual({ kind: 'approval', wave: 1 });
    expect(waiting.members.map((m) => [m.database, m.member, m.stage, m.state])).toEqual([
      ['fc_one', 'at_gate', 'approval', 'waiting'],
      ['fc_two', 'at_gate', 'approval', 'waiting'],
    ]);
    const refused = (await suite.client
      .fleetApprove('fc', { wave: 2, by: 'alice' })
      .catch((e: unknown) => e)) as PgferryError;
    expect(refused.code).toBe(ErrorCode.ApprovalRefused);
    const outsider = (await suite.client
      .fleetApprove('fc', { wave: 1, by: 'mallory' })
      .catch((e: unknown) => e)) as PgferryError;
    expect(outsider.code).toBe(ErrorCode.ApprovalRefused);

    const approved = await runPgferry(
      ['fleet', 'approve', 'fc', '--wave', '1', '--as', 'alice', '--json'],
      suite.env,
    );
    expect(approved.code, approved.stderr).toBe(0);
    const result = await suite.client
      .attach<{ outcome: string; members: { record: { state: string; approvedBy?: string } }[] }>('fleet-fc')
      .result();
    expect(result.outcome).toBe('completed');
    expect(result.members.map((m) => m.record)).toEqual([
      expect.objectContaining({ state: 'completed', approvedBy: 'alice' }),
      expect.objectContaining({ state: 'completed', approvedBy: 'alice' }),
    ]);
    for (const d of databases) await expectIdentical(d);
  });

  it('refuses a database the source server does not have, naming it, before any member starts', async () => {
    const err = (await suite.client
      .fleet({
        name: 'fd',
        sourceServer: source.url(),
        targetServer: target.url(),
        databases: ['fa_one', 'no_such_db'],
        approve: 'auto',
      })
      .catch((e: unknown) => e)) as PgferryError;
    expect(err.code).toBe(ErrorCode.InvalidInput);
    expect(err.field).toBe('databases');
    expect(err.message).toContain('"no_such_db"');
    const temporal = await plainTemporal();
    try {
      await expect(temporal.client.workflow.getHandle('migration-fd-fa_one').describe()).rejects.toThrow();
    } finally {
      await temporal.teardown();
    }
  });
});
