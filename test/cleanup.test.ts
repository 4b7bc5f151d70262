import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CleanupResult, Leftover } from '../domain/contracts';
import { fenceSlotName, replicationObjectName } from '../domain/names';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { runPgferry } from './helpers/processes';
import { useTemporalSuite } from './helpers/suite';
import { plainTemporal } from './helpers/temporal';
import { waitForStatus } from './helpers/wait';

const SCHEMA = `CREATE TABLE public.items (id bigserial PRIMARY KEY, v text NOT NULL);
  INSERT INTO public.items (v) SELECT 'seed ' || g FROM generate_series(1, 2000) g;`;

/** found / removed of each object, by object. */
function table(result: CleanupResult): Record<string, [boolean, boolean]> {
  return Object.fromEntries(result.objects.map((o: Leftover) => [o.object, [o.found, o.removed]]));
}

describe('pgferry cleanup removes what a migration left', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;
  let db = 0;

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
    ]);
  });

  afterAll(async () => {
    await source?.stop();
    await target?.stop();
  });

  const suite = useTemporalSuite();
  const cli = (...args: string[]) => runPgferry(args, suite.env);
  const cleanup = async (...args: string[]) => {
    const run = await cli('cleanup', ...args, '--json');
    return { code: run.code, result: JSON.parse(run.stdout) as CleanupResult };
  };

  const fresh = async () => {
    const name = `shop${++db}`;
    await query(source.url(), `CREATE DATABASE ${name}`);
    await query(source.url(name), SCHEMA);
    return name;
  };

  /** Starts a migration and waits at its approval gate. */
  const atGate = async (name: string, mode: 'online' | 'offline') => {
    const run = await suite.client.migrate({
      name: `cleanup-${name}`,
      source: source.url(name),
      target: target.url(name),
      mode,
      validate: mode === 'online' ? 'none' : 'counts',
    });
    await waitForStatus(
      suite.client,
      run.workflowId,
      'the approval gate',
      (s) => s.state === 'waiting',
      90_000,
    );
    return run.workflowId;
  };

  const terminate = async (workflowId: string) => {
    const temporal = await plainTemporal();
    try {
      await temporal.client.workflow.getHandle(workflowId).terminate('test: gone mid-replication');
    } finally {
      await temporal.teardown();
    }
  };

  const left = async (name: string, workflowId: string) => {
    const slot = replicationObjectName(workflowId);
    const fence = fenceSlotName(workflowId);
    return {
      slots: (await query<{ slot_name: string }>(source.url(), 'SELECT slot_name FROM pg_replication_slots'))
        .map((r) => r.slot_name)
        .filter((s) => s === slot || s === fence)
        .sort(),
      publications: (await query(source.url(name), 'SELECT 1 FROM pg_publication WHERE pubname = $1', [slot]))
        .length,
      subscriptions: (await query(target.url(), 'SELECT 1 FROM pg_subscription WHERE subname = $1', [slot]))
        .length,
      ledger: (await query(target.url(name), "SELECT 1 FROM pg_namespace WHERE nspname = 'pgferry'")).length,
      readOnly: (
        await query<{ v: string }>(
          source.url(name),
          "SELECT current_setting('default_transaction_read_only') AS v",
        )
      )[0]?.v,
    };
  };

  it('of an online migration terminated while it replicates: --dry-run lists, cleanup removes, a second run finds nothing', async () => {
    const name = await fresh();
    const id = await atGate(name, 'online');
    const slot = replicationObjectName(id);

    // While it runs, cleanup refuses, naming the way out.
    await expect(suite.client.cleanup(`cleanup-${name}`)).rejects.toMatchObject({
      code: 'InvalidInput',
      field: 'name',
      message: expect.stringContaining('still running') as string,
    });
    await terminate(id);
    const before = await left(name, id);
    expect(before).toEqual({ slots: [slot], publications: 1, subscriptions: 1, ledger: 1, readOnly: 'off' });

    const dry = await cleanup(`cleanup-${name}`, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.result).toMatchObject({ ok: true, dryRun: true, retired: false });
    expect(table(dry.result)).toMatchObject({
      subscription: [true, false],
      slot: [true, false],
      publication: [true, false],
      'ddl capture': [true, false],
      ledger: [true, false],
      freeze: [false, false],
      'fence slot': [false, false],
      'column storage': [false, false],
    });
    expect(await left(name, id)).toEqual(before);
    const human = await cli('cleanup', `cleanup-${name}`, '--dry-run');
    expect(human.stdout).toMatch(/dry run: nothing changed/);
    expect(human.stdout).toMatch(/^object +where +name +found +removed/m);
    expect(human.stdout).toMatch(new RegExp(`^slot +source +${slot} +yes +-`, 'm'));

    const done = await cleanup(`cleanup-${name}`);
    expect(done.code).toBe(0);
    expect(table(done.result)).toMatchObject({
      subscription: [true, true],
      slot: [true, true],
      publication: [true, true],
      'ddl capture': [true, true],
      ledger: [true, true],
    });
    expect(await left(name, id)).toEqual({
      slots: [],
      publications: 0,
      subscriptions: 0,
      ledger: 0,
      readOnly: 'off',
    });

    const again = await cleanup(`cleanup-${name}`);
    expect(again.code).toBe(0);
    expect(again.result.objects.filter((o) => o.found || o.removed)).toEqual([]);

    // Status of the terminated migration names the command that gets it out.
    const status = await cli('status', `cleanup-${name}`, '--json');
    expect(JSON.parse(status.stdout)).toMatchObject({
      state: 'failed',
      cleanup: `pgferry cleanup cleanup-${name}`,
    });
  });

  it('of an offline migration terminated at its gate lifts the freeze and drops the fence’s slot', async () => {
    const name = await fresh();
    const id = await atGate(name, 'offline');
    await terminate(id);
    expect(await left(name, id)).toMatchObject({ slots: [fenceSlotName(id)], readOnly: 'on' });

    const { code, result } = await cleanup(`cleanup-${name}`);
    expect(code).toBe(0);
    expect(table(result)).toMatchObject({
      freeze: [true, true],
      'fence slot': [true, true],
      ledger: [true, true],
    });
    expect(await left(name, id)).toEqual({
      slots: [],
      publications: 0,
      subscriptions: 0,
      ledger: 0,
      readOnly: 'off',
    });
    await query(source.url(name), "INSERT INTO public.items (v) VALUES ('writable again')");
  });

  it('of a completed migration keeps the source retired and never drops the target', async () => {
    const name = await fresh();
    const run = await suite.client.migrate({
      name: `cleanup-${name}`,
      source: source.url(name),
      target: target.url(name),
      validate: 'counts',
      autoApprove: true,
    });
    expect((await run.result()).outcome).toBe('completed');
    expect((await left(name, run.workflowId)).readOnly).toBe('on');

    const { code, result } = await cleanup(`cleanup-${name}`);
    expect(code).toBe(0);
    expect(result.retired).toBe(true);
    const freeze = result.objects.find((o) => o.object === 'freeze');
    expect(freeze).toMatchObject({ found: true, removed: false });
    expect(freeze?.note).toMatch(/point of no return/);
    expect((await left(name, run.workflowId)).readOnly).toBe('on');
    const [rows] = await query<{ n: string }>(target.url(name), 'SELECT count(*) AS n FROM public.items');
    expect(rows?.n).toBe('2000');
  });
});
