/**
 * `npm run bench`: pgferry's offline migration against pgcopydb and pg_dump/pg_restore on one
 * generated source with the same parallelism, the online cutover downtime under a write load, and
 * the worker's memory at two data sizes. See BENCHMARKS.md for the recorded results.
 */
import { writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import { Cleanups } from './cleanup';
import { pg17BinDir } from '../test/helpers/pg17';
import { startLogicalCluster, type Cluster } from './cluster';
import { runDumpRestore, runPgcopydb } from './competitors';
import { BenchConfigError, loadConfig, usage, type BenchConfig, type FleetSettings } from './config';
import { dbUrl, dropDatabase, withClient } from './db';
import { measureOnlineDowntime, type DowntimeAt } from './downtime';
import { measureFallback, type FallbackAt } from './fallback';
import { renderFleetReport } from './fleet-report';
import { fleetBench } from './fleet-run';
import { message, say } from './log';
import { commandLine, machineFacts } from './machine';
import { combineRounds, timePgferry, timeTool } from './measure';
import { startDevStack, type DevStack } from './pgferry';
import { freePort } from './proc';
import { renderReport, type BenchResults, type Machine, type PgferryRun, type ToolRow } from './report';
import { renderShapeReport, type ShapeResults } from './shape-report';
import { measureShape, SHAPE_DB } from './shape-run';
import { generateSource } from './source';

/** The online run's source database, on the throw-away logical cluster (gone with it). */
const ONLINE_SOURCE = 'bench_src_online';

/** Every database the benchmark makes on the shared server; all are dropped at the end unless --keep. */
const DB = {
  source: 'bench_src',
  sourceBig: 'bench_src_big',
  pgferry: 'bench_dst_pgferry',
  pgcopydb: 'bench_dst_pgcopydb',
  dump: 'bench_dst_pg_restore',
  online: 'bench_dst_online',
  pgferryBig: 'bench_dst_pgferry_big',
  pgcopydbBig: 'bench_dst_pgcopydb_big',
} as const;

/** Everything to take down at the end. */
const cleanups = new Cleanups();

/**
 * The online run: a source like the base one on a throw-away cluster with wal_level = logical (the
 * shared server has replica, and is not ours to restart), migrated online into the shared server
 * while pgbench writes to it.
 */
/**
 * The online cutover downtime at each of --downtime-scales, with pgferry's default flags (default
 * validation included): a pgbench source of that scale on a throw-away logical cluster each.
 */
async function onlineDowntimes(
  config: BenchConfig,
  machine: Machine,
  stack: DevStack,
): Promise<DowntimeAt[]> {
  const measured: DowntimeAt[] = [];
  for (const scale of config.downtimeScales) {
    say(`online cutover at pgbench scale ${scale} under a pgbench write load…`);
    const at = await onlineDowntime(config, machine, stack, scale).catch((err: unknown) => ({
      scale,
      sourceBytes: undefined,
      downtime: {
        measured: false as const,
        reason: `the measurement itself failed: ${message(err)}`,
        load: undefined,
        command: '',
      },
    }));
    const d = at.downtime;
    say(d.measured ? `downtime ${d.downtimeMs} ms at scale ${scale}` : `downtime not measured: ${d.reason}`);
    measured.push(at);
  }
  return measured;
}

/**
 * A throw-away cluster with wal_level = logical and the shared server's settings (so that it pays
 * what the other runs' source pays), of the shared server's major unless `binDir` says otherwise;
 * taken down by the returned function or the cleanups.
 */
async function logicalCluster(machine: Machine, binDir?: string): Promise<[Cluster, () => Promise<void>]> {
  const cluster = await startLogicalCluster({
    binDir: binDir ?? `/usr/lib/postgresql/${machine.postgresMajor}/bin`,
    port: await freePort(),
    settings: Object.fromEntries(Object.entries(machine.postgresSettings).filter(([k]) => k !== 'wal_level')),
  });
  return [cluster, cleanups.add(() => cluster.stop())];
}

/** The online runs' source: pgbench's tables only, so that two sizes differ by scale alone. */
async function onlineSource(config: BenchConfig, server: string, scale: number) {
  say(`generating ${ONLINE_SOURCE} on a logical cluster (${server})…`);
  const source = await generateSource(server, ONLINE_SOURCE, {
    scale,
    wideRows: 0,
    wideBytes: config.wideBytes,
    narrowRows: 0,
  });
  // pgbench_history has no key; its rows only ever arrive by INSERT, which replicates without
  // one, but preflight rightly refuses a table whose updates could not: FULL identity satisfies it.
  await withClient(dbUrl(server, ONLINE_SOURCE), (c) =>
    c.query('ALTER TABLE public.pgbench_history REPLICA IDENTITY FULL'),
  );
  return source;
}

async function onlineDowntime(
  config: BenchConfig,
  machine: Machine,
  stack: DevStack,
  scale: number,
): Promise<DowntimeAt> {
  const [cluster, stopCluster] = await logicalCluster(machine);
  try {
    const source = await onlineSource(config, cluster.server, scale);
    const downtime = await measureOnlineDowntime(stack, {
      sourceServer: cluster.server,
      sourceDatabase: ONLINE_SOURCE,
      targetServer: config.server,
      targetDatabase: DB.online,
      name: `bench-online-${Date.now()}`,
      jobs: config.jobs,
      split: config.split,
      maxLoadSeconds: config.loadSeconds,
    });
    return { scale, sourceBytes: source.bytes, downtime };
  } finally {
    await stopCluster();
  }
}

/**
 * The fallback window's way back on the bench database (the smallest downtime scale): online from a
 * source of the shared server's major into PostgreSQL 17 (the npm-shipped binaries), both on
 * logical clusters, since the reverse replication publishes from the target.
 */
async function fallbackRun(config: BenchConfig, machine: Machine, stack: DevStack): Promise<FallbackAt> {
  const scale = config.downtimeScales[0] ?? config.scale;
  say(`fallback at pgbench scale ${scale}: online into PostgreSQL 17 with a fallback window, then back…`);
  try {
    const [source, stopSource] = await logicalCluster(machine);
    const [target, stopTarget] = await logicalCluster(machine, await pg17BinDir());
    try {
      const made = await onlineSource(config, source.server, scale);
      const fallback = await measureFallback(stack, {
        sourceServer: source.server,
        targetServer: target.server,
        database: ONLINE_SOURCE,
        name: `bench-fallback-${Date.now()}`,
        jobs: config.jobs,
        maxLoadSeconds: config.loadSeconds,
      });
      say(
        fallback.measured
          ? `fallback downtime ${fallback.downtimeMs} ms`
          : `fallback not measured: ${fallback.reason}`,
      );
      return { scale, sourceBytes: made.bytes, fallback };
    } finally {
      await stopTarget();
      await stopSource();
    }
  } catch (err) {
    return {
      scale,
      sourceBytes: undefined,
      fallback: { measured: false, reason: message(err), commands: [] },
    };
  }
}

/** A fresh dev stack, stopped by the returned function (or by the cleanups, should the run fail first). */
async function startStack(config: BenchConfig): Promise<{ stack: DevStack; stop: () => Promise<void> }> {
  const stack = await startDevStack(config.jobs);
  const stop = cleanups.add(() => stack.stop());
  // Let the worker finish starting (workflow bundle, pollers) so the idle RSS is the idle worker's.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return { stack, stop };
}

async function bench(config: BenchConfig, argv: readonly string[]): Promise<BenchResults> {
  const machine = await machineFacts(config.server);
  say(`${machine.cpus} CPUs, ${machine.postgres}, ${machine.pgcopydb}, Node ${machine.node}`);
  // Fresh databases: whatever an interrupted earlier run left goes first.
  for (const name of Object.values(DB)) await dropDatabase(config.server, name);
  if (!config.keep) {
    cleanups.add(async () => {
      for (const name of Object.values(DB)) await dropDatabase(config.server, name);
    });
  }

  say(
    `generating ${DB.source} (pgbench scale ${config.scale}, ${config.wideRows} wide rows, ${config.narrowRows} narrow rows)…`,
  );
  const source = await generateSource(config.server, DB.source, config);
  say(`${DB.source}: ${(source.bytes / 2 ** 20).toFixed(0)} MB in ${source.seconds.toFixed(0)} s`);

  say('starting pgferry dev (Temporal dev server + worker)…');
  const { stack, stop } = await startStack(config);
  say('pgferry migrate --mode offline…');
  const ferryRounds: (PgferryRun & { tool: ToolRow })[] = [];
  const copydbRounds: ToolRow[] = [];
  const dumpRounds: ToolRow[] = [];
  for (let round = 1; round <= config.runs; round += 1) {
    if (config.runs > 1) say(`round ${round} of ${config.runs}`);
    ferryRounds.push(await timePgferry(config, stack, source, DB.pgferry, 'base', round, 'counts'));
    copydbRounds.push(await timeTool(config, source, `pgcopydb clone`, DB.pgcopydb, runPgcopydb));
    dumpRounds.push(
      await timeTool(
        config,
        source,
        `pg_dump -Fd -j ${config.jobs} + pg_restore -j ${config.jobs}`,
        DB.dump,
        runDumpRestore,
      ),
    );
  }
  // Memory and stages come from the first round: a fresh worker, like the larger run's.
  const base = ferryRounds[0]!;

  const downtimes = await onlineDowntimes(config, machine, stack);
  const fallback = config.downtimeScales.length > 0 ? await fallbackRun(config, machine, stack) : undefined;
  await stop();

  const runs: PgferryRun[] = [base];
  let largerCopydb: ToolRow | undefined;
  if (config.memoryFactor > 0) {
    const f = config.memoryFactor;
    const shape = {
      scale: config.scale * f,
      wideRows: config.wideRows * f,
      wideBytes: config.wideBytes,
      narrowRows: config.narrowRows * f,
    };
    if (!config.keep) await dropDatabase(config.server, DB.source);
    say(`generating ${DB.sourceBig} (×${f})…`);
    const big = await generateSource(config.server, DB.sourceBig, shape);
    say(
      `${DB.sourceBig}: ${(big.bytes / 2 ** 20).toFixed(0)} MB in ${big.seconds.toFixed(0)} s; a fresh worker for it…`,
    );
    const bigStack = await startStack(config);
    runs.push(await timePgferry(config, bigStack.stack, big, DB.pgferryBig, `x${f}`, 1, 'counts'));
    await bigStack.stop();
    // pgcopydb on the same larger source: tells time that grows faster than the data in pgferry
    // from time the server itself needs (WAL, index sorts that spill to disk).
    largerCopydb = await timeTool(config, big, 'pgcopydb clone', DB.pgcopydbBig, runPgcopydb);
    if (!config.keep) await dropDatabase(config.server, DB.sourceBig);
  }

  return {
    machine,
    config,
    command: commandLine(argv),
    source: { database: source.database, bytes: source.bytes, counts: source.counts },
    tools: [
      combineRounds(ferryRounds.map((r) => r.tool)),
      combineRounds(copydbRounds),
      combineRounds(dumpRounds),
    ],
    pgferryRuns: runs.map(
      ({ label, sourceBytes, wallSeconds, rss, cpu, breakdown: b, differences, error }) => ({
        label,
        sourceBytes,
        wallSeconds,
        rss,
        cpu,
        breakdown: b,
        differences,
        error,
      }),
    ),
    downtimes,
    fallback,
    largerCopydb,
    loadAverageAtEnd: os.loadavg(),
  };
}

/**
 * `--shape`: each shape's source made in turn, every tool timed on it in interleaved rounds (pgferry
 * with --validate counts and with its default validation, pgcopydb, pg_dump + pg_restore), on one
 * dev stack. The default run's offline, online and memory runs are not part of it.
 */
async function shapesBench(config: BenchConfig, argv: readonly string[]): Promise<ShapeResults> {
  const machine = await machineFacts(config.server);
  say(`${machine.cpus} CPUs, ${machine.postgres}, ${machine.pgcopydb}, Node ${machine.node}`);
  for (const name of Object.values(SHAPE_DB)) await dropDatabase(config.server, name);
  if (!config.keep) {
    cleanups.add(async () => {
      for (const name of Object.values(SHAPE_DB)) await dropDatabase(config.server, name);
    });
  }
  say('starting pgferry dev (Temporal dev server + worker)…');
  const { stack, stop } = await startStack(config);
  const shapes = [];
  for (const shape of config.shapes) {
    shapes.push(await measureShape(config, stack, shape, machine.postgresMajor));
  }
  await stop();
  return { machine, config, command: commandLine(argv), shapes, loadAverageAtEnd: os.loadavg() };
}

/** A shape run is broken when a copy lost rows or pgferry failed; another tool's failure is only reported. */
function shapesBroken(results: ShapeResults): boolean {
  return results.shapes.some((s) =>
    Object.entries(s.tools).some(
      ([key, t]) =>
        t !== undefined &&
        (t.differences.length > 0 || ((key === 'counts' || key === 'checksums') && t.error !== undefined)),
    ),
  );
}

async function runShapes(settings: BenchConfig, argv: readonly string[]): Promise<number> {
  const results = await shapesBench(settings, argv);
  process.stdout.write(`\n${renderShapeReport(results)}\n\ncommand: ${results.command}\n`);
  if (settings.out) await writeFile(settings.out, `${JSON.stringify(results, null, 2)}\n`);
  return shapesBroken(results) ? 1 : 0;
}

/** `--fleet`: the fleet run's report; broken when a tool failed or a copy differs from its source. */
async function runFleet(
  settings: BenchConfig,
  fleet: FleetSettings,
  argv: readonly string[],
): Promise<number> {
  const results = await fleetBench(settings, fleet, commandLine(argv), cleanups);
  process.stdout.write(`\n${renderFleetReport(results)}\n\ncommand: ${results.command}\n`);
  if (settings.out) await writeFile(settings.out, `${JSON.stringify(results, null, 2)}\n`);
  const n = results.source.databases.length;
  const many = results.many ? [results.many.pgferry, results.many.pgcopydb] : [];
  const broken =
    [results.fleet, results.loop].some((t) => t.error !== undefined || t.verified !== n) ||
    many.some((t) => t.error !== undefined || t.differences.length > 0);
  return broken ? 1 : 0;
}

async function main(argv: readonly string[]): Promise<number> {
  let config: BenchConfig | 'help';
  try {
    config = loadConfig(argv, process.env);
  } catch (err) {
    process.stderr.write(`bench: ${message(err)}\n${usage()}\n`);
    return err instanceof BenchConfigError || err instanceof TypeError ? 2 : 1;
  }
  if (config === 'help') {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const settings = config;
  const onSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: cleaning up…`);
    void cleanups.runAll().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (settings.fleet) return await runFleet(settings, settings.fleet, argv);
    if (settings.shapes.length > 0) return await runShapes(settings, argv);
    const results = await bench(settings, argv);
    process.stdout.write(`\n${renderReport(results)}\n\ncommand: ${results.command}\n`);
    if (settings.out) await writeFile(settings.out, `${JSON.stringify(results, null, 2)}\n`);
    // A benchmark of a copy that lost rows, or of a tool that failed, is no benchmark.
    const broken = [
      ...results.tools,
      ...results.pgferryRuns,
      ...(results.largerCopydb ? [results.largerCopydb] : []),
    ].some((t) => t.error !== undefined || t.differences.length > 0);
    const onlineLost = [
      ...results.downtimes.map((at) => at.downtime),
      ...(results.fallback ? [results.fallback.fallback] : []),
    ].some((d) => d.measured && d.differences.length > 0);
    return broken || onlineLost ? 1 : 0;
  } catch (err) {
    say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  } finally {
    await cleanups.runAll();
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
