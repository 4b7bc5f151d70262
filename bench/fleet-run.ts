import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { databaseFingerprint, diffFingerprints } from '../test/helpers/fingerprint';
import type { Cleanups } from './cleanup';
import { startLogicalCluster, type Cluster } from './cluster';
import { runPgcopydb } from './competitors';
import { childPids, processCpuSeconds, reapedChildrenCpuSeconds, startCpuMeter, type CpuGauge } from './cpu';
import type { BenchConfig, FleetSettings } from './config';
import { checkpoint, dbUrl, relationCount, tableCounts, userTables, databaseSize } from './db';
import { countEvents, type EventCount } from './events';
import { runDumpRestoreLoop } from './fleet-loop';
import { makeFleetSource, makeManyTables, type FleetSource } from './fleet-source';
import { message, say } from './log';
import { machineFacts } from './machine';
import { timePgferry, timeTool } from './measure';
import { breakdown, pgferry, startDevStack, type Breakdown, type DevStack } from './pgferry';
import { freePort } from './proc';
import type { CpuShare, Machine, ToolRow } from './report';
import { sampleRss, type RssSummary } from './rss';

/** The many-tables database and its copies, on the source cluster. */
const MANY = {
  source: 'bench_fleet_many',
  pgferry: 'bench_fleet_many_pgferry',
  pgcopydb: 'bench_fleet_many_pgcopydb',
};

/** One way of moving the fleet's databases: its wall time, and every database compared with its source. */
export interface FleetTool {
  readonly tool: string;
  readonly command: string;
  readonly seconds: number | undefined;
  readonly error: string | undefined;
  /** Databases whose copy is identical to the source (schema, rows, sequences, large objects). */
  readonly verified: number;
  /** The first differences found, as "database: difference". */
  readonly differences: string[];
  /** CPU seconds of the processes involved, PostgreSQL's servers included. */
  readonly cpu: CpuShare[];
}

/** pgferry's fleet: the tool's figures and what its history and worker say. */
export interface FleetPgferry extends FleetTool {
  readonly outcome: string | undefined;
  readonly completed: number;
  /** Each member migration's history events with its children's (provision), in the members' order. */
  readonly memberEvents: EventCount[];
  /** The fleet workflow's own events over its runs (one run per wave). */
  readonly fleetEvents: EventCount | undefined;
  readonly rss: RssSummary | undefined;
  /** Where the time of the member of median length went (`pgferry history`). */
  readonly medianMember: { readonly name: string; readonly breakdown: Breakdown } | undefined;
}

/** The many-tables database: pgferry against pgcopydb, and the size of pgferry's history. */
export interface ManyTables {
  readonly tables: number;
  readonly relations: number;
  readonly bytes: number;
  readonly pgferry: ToolRow;
  readonly events: EventCount | undefined;
  readonly pgcopydb: ToolRow;
}

/** Everything the fleet run found. */
export interface FleetResults {
  readonly machine: Machine;
  readonly command: string;
  readonly settings: FleetSettings & { readonly jobs: number };
  readonly source: FleetSource;
  readonly loop: FleetTool;
  readonly fleet: FleetPgferry;
  readonly many: ManyTables | undefined;
  readonly loadAverageAtEnd: number[];
}

const FleetOutput = z.union([
  z.object({
    ok: z.literal(true),
    workflowId: z.string(),
    result: z.object({
      outcome: z.string(),
      members: z.array(
        z.object({ database: z.string(), name: z.string(), record: z.object({ state: z.string() }) }),
      ),
    }),
  }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
]);

/** A throw-away cluster with the shared server's durability settings and room for a fleet's connections. */
async function cluster(machine: Machine, cleanups: Cleanups): Promise<Cluster> {
  const settings = Object.fromEntries(
    Object.entries(machine.postgresSettings).filter(([k]) => k !== 'wal_level'),
  );
  const started = await startLogicalCluster({
    binDir: `/usr/lib/postgresql/${machine.postgresMajor}/bin`,
    port: await freePort(),
    settings: { ...settings, max_connections: '200' },
  });
  cleanups.add(() => started.stop());
  return started;
}

/** Compares every database of `target` with its source, two at a time; a source's fingerprint is read once. */
async function verifyAll(
  source: string,
  targets: readonly string[],
  databases: readonly string[],
): Promise<{ verified: number[]; differences: string[][] }> {
  const verified = targets.map(() => 0);
  const differences: string[][] = targets.map(() => []);
  const queue = [...databases];
  const lane = async () => {
    for (let db = queue.shift(); db !== undefined; db = queue.shift()) {
      const expected = await databaseFingerprint(dbUrl(source, db));
      for (const [i, target] of targets.entries()) {
        const found = await databaseFingerprint(dbUrl(target, db)).catch((err: unknown) => message(err));
        const diff = typeof found === 'string' ? [found] : diffFingerprints(expected, found);
        if (diff.length === 0) verified[i] = (verified[i] ?? 0) + 1;
        else differences[i]?.push(...diff.slice(0, 3).map((d) => `${db}: ${d}`));
      }
    }
  };
  await Promise.all([lane(), lane()]);
  return { verified, differences: differences.map((d) => d.slice(0, 20)) };
}

/** `pgferry fleet --all … --wait --json`, timed, with the worker's RSS sampled throughout. */
async function runFleet(
  stack: DevStack,
  settings: FleetSettings,
  jobs: number,
  servers: { source: string; target: string },
): Promise<{ args: string[]; seconds: number; rss: RssSummary; output: z.infer<typeof FleetOutput> }> {
  const args = [
    'fleet',
    '--name',
    `bench-${Date.now()}`,
    '--source-server',
    servers.source,
    '--target-server',
    servers.target,
    '--all',
    '--mode',
    'offline',
    '--wave-size',
    String(settings.waveSize),
    '--concurrency',
    String(settings.concurrency),
    '--jobs',
    String(jobs),
    '--approve',
    'auto',
    '--wait',
    '--json',
  ];
  const sampler = sampleRss(stack.pid);
  const began = performance.now();
  const result = await pgferry(stack, args);
  const seconds = (performance.now() - began) / 1000;
  const rss = sampler.stop();
  let doc: unknown;
  try {
    doc = JSON.parse(result.stdout);
  } catch {
    throw new Error(
      `pgferry fleet exited ${result.code ?? result.signal}: ${(result.stderr || result.stdout).slice(-1500)}`,
    );
  }
  return { args, seconds, rss, output: FleetOutput.parse(doc) };
}

/** The history events of every member and of the fleet, and the breakdown of the median member. */
async function readHistories(
  stack: DevStack,
  fleetId: string,
  members: readonly string[],
): Promise<Pick<FleetPgferry, 'memberEvents' | 'fleetEvents' | 'medianMember'>> {
  const connection = await Connection.connect({ address: stack.env.TEMPORAL_ADDRESS });
  try {
    const client = new Client({ connection, namespace: 'default' });
    const memberEvents: EventCount[] = [];
    for (const name of members) memberEvents.push(await countEvents(client, `migration-${name}`));
    const fleetEvents = await countEvents(client, fleetId, { children: false });
    const bySeconds = members
      .map((name, i) => ({ name, seconds: memberEvents[i]?.seconds ?? 0 }))
      .sort((a, b) => a.seconds - b.seconds);
    const median = bySeconds[Math.floor(bySeconds.length / 2)];
    const medianMember = median
      ? { name: median.name, breakdown: await breakdown(stack, median.name) }
      : undefined;
    return { memberEvents, fleetEvents, medianMember };
  } finally {
    await connection.close();
  }
}

/** The fleet measured: run, histories read, every target compared later with the loop's. */
async function measureFleet(
  stack: DevStack,
  settings: FleetSettings,
  jobs: number,
  servers: { source: string; target: string },
): Promise<Omit<FleetPgferry, 'verified' | 'differences' | 'cpu'>> {
  const tool = `pgferry fleet --mode offline (default validation: checksums), --jobs ${jobs}`;
  say(`${tool}: waves of ${settings.waveSize}, concurrency ${settings.concurrency}…`);
  const empty = { memberEvents: [], fleetEvents: undefined, medianMember: undefined, completed: 0 };
  let ran;
  try {
    ran = await runFleet(stack, settings, jobs, servers);
  } catch (err) {
    return {
      ...empty,
      tool,
      command: 'pgferry fleet',
      seconds: undefined,
      error: message(err),
      outcome: undefined,
      rss: undefined,
    };
  }
  const command = `pgferry ${ran.args.join(' ')}`;
  const out = ran.output;
  if (!out.ok)
    return {
      ...empty,
      tool,
      command,
      seconds: undefined,
      error: `${out.error.code}: ${out.error.message}`,
      outcome: undefined,
      rss: ran.rss,
    };
  const members = out.result.members;
  const completed = members.filter((m) => m.record.state === 'completed').length;
  say(
    `pgferry fleet: ${ran.seconds.toFixed(1)} s, ${out.result.outcome}, ${completed} of ${members.length} completed; reading the histories…`,
  );
  const histories = await readHistories(
    stack,
    out.workflowId,
    members.map((m) => m.name),
  );
  return {
    ...histories,
    tool,
    command,
    seconds: ran.seconds,
    error: out.result.outcome === 'completed' ? undefined : `outcome ${out.result.outcome}`,
    outcome: out.result.outcome,
    completed,
    rss: ran.rss,
  };
}

/** The many-tables database on the source cluster: pgferry migrate (default validation) and pgcopydb clone. */
async function measureManyTables(
  config: BenchConfig,
  stack: DevStack,
  server: string,
  tables: number,
): Promise<ManyTables> {
  say(`many-tables: ${tables} tables…`);
  await makeManyTables(server, MANY.source, tables);
  const local = { ...config, server };
  const names = await userTables(server, MANY.source);
  const source = {
    database: MANY.source,
    bytes: await databaseSize(server, MANY.source),
    counts: await tableCounts(server, MANY.source, names),
  };
  const relations = await relationCount(server, MANY.source);
  const run = await timePgferry(local, stack, source, MANY.pgferry, 'many-tables', 1, undefined);
  let events: EventCount | undefined;
  if (run.workflowId) {
    const connection = await Connection.connect({ address: stack.env.TEMPORAL_ADDRESS });
    try {
      events = await countEvents(new Client({ connection, namespace: 'default' }), run.workflowId);
    } finally {
      await connection.close();
    }
  }
  const pgcopydb = await timeTool(local, source, 'pgcopydb clone', MANY.pgcopydb, runPgcopydb);
  return { tables: names.length, relations, bytes: source.bytes, pgferry: run.tool, events, pgcopydb };
}

/**
 * `--fleet`: a throw-away source cluster with `databases` small databases, moved into a fresh
 * cluster by `pgferry fleet` and, in the same run, into another by a `pg_dump | pg_restore` loop
 * under `xargs -P`; every copy compared with its source. Then a database of many tables on the
 * source cluster, by `pgferry migrate` and by `pgcopydb clone`.
 */
export async function fleetBench(
  config: BenchConfig,
  settings: FleetSettings,
  command: string,
  cleanups: Cleanups,
): Promise<FleetResults> {
  const machine = await machineFacts(config.server);
  say(`${machine.cpus} CPUs, ${machine.postgres}, ${machine.pgcopydb}, Node ${machine.node}`);
  const [source, fleetTarget, loopTarget] = [
    await cluster(machine, cleanups),
    await cluster(machine, cleanups),
    await cluster(machine, cleanups),
  ];
  say(`making ${settings.databases} databases of ${settings.sizeMb} MB on ${source.server}…`);
  const made = await makeFleetSource(source.server, settings.databases, settings.sizeMb);
  say(
    `made in ${made.seconds.toFixed(0)} s: ${(made.databaseBytes / 2 ** 20).toFixed(1)} MB each (${(made.userBytes / 2 ** 20).toFixed(1)} MB of tables and indexes)`,
  );

  for (const server of [source.server, loopTarget.server]) await checkpoint(server);
  say(`pg_dump | pg_restore loop under xargs -P ${settings.concurrency}…`);
  const servers = (target: Cluster): CpuGauge[] => [
    { label: 'source PostgreSQL', read: () => source.cpuSeconds() },
    { label: 'target PostgreSQL', read: () => target.cpuSeconds() },
  ];
  const loopCpu = await startCpuMeter([
    { label: 'pg_dump, pg_restore, psql', read: () => reapedChildrenCpuSeconds() },
    ...servers(loopTarget),
  ]);
  const loop = await runDumpRestoreLoop({
    sourceServer: source.server,
    targetServer: loopTarget.server,
    databases: made.databases,
    parallel: settings.concurrency,
  }).then(
    (r) => ({ ...r, error: undefined }),
    (err: unknown) => ({ seconds: undefined, command: 'the loop', error: message(err) }),
  );
  const loopShares = await loopCpu();
  say(loop.error ? `loop failed: ${loop.error}` : `loop: ${loop.seconds?.toFixed(1)} s`);

  say('starting pgferry dev (Temporal dev server + worker)…');
  const stack = await startDevStack(config.jobs, settings.concurrency * config.jobs);
  cleanups.add(() => stack.stop());
  // Let the worker finish starting so that the idle RSS is the idle worker's.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  for (const server of [source.server, fleetTarget.server]) await checkpoint(server);
  const temporal = childPids(stack.pid);
  const fleetCpu = await startCpuMeter([
    { label: 'worker', read: () => processCpuSeconds(stack.pid) },
    { label: "worker's pg_dump/pg_restore", read: () => reapedChildrenCpuSeconds(stack.pid) },
    {
      label: 'Temporal dev server',
      read: () => temporal.reduce((sum, pid) => sum + processCpuSeconds(pid), 0),
    },
    { label: 'CLI', read: () => reapedChildrenCpuSeconds() },
    ...servers(fleetTarget),
  ]);
  const fleet = await measureFleet(stack, settings, config.jobs, {
    source: source.server,
    target: fleetTarget.server,
  });
  const fleetShares = await fleetCpu();

  say('comparing every copy with its source…');
  const checked = await verifyAll(source.server, [fleetTarget.server, loopTarget.server], made.databases);
  say(`identical: pgferry ${checked.verified[0]}, loop ${checked.verified[1]} of ${made.databases.length}`);
  const many =
    settings.tables > 0 ? await measureManyTables(config, stack, source.server, settings.tables) : undefined;
  return {
    machine,
    command,
    settings: { ...settings, jobs: config.jobs },
    source: made,
    loop: {
      tool: `pg_dump -Fc | pg_restore under xargs -P ${settings.concurrency} (no validation)`,
      ...loop,
      verified: checked.verified[1] ?? 0,
      differences: checked.differences[1] ?? [],
      cpu: loopShares,
    },
    fleet: {
      ...fleet,
      verified: checked.verified[0] ?? 0,
      differences: checked.differences[0] ?? [],
      cpu: fleetShares,
    },
    many,
    loadAverageAtEnd: (await import('node:os')).loadavg(),
  };
}
