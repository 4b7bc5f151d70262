// npm run bench:startup — the fixed costs of a run (issue 13 point 3), against their goals:
//   the CLI's own start (`pgferry --version`),
//   from the CLI's start to the first COPY on the source, on an idle stack,
//   from the end of the last index build to the CLI's exit.
// Settings: BENCH_SERVER (postgres://USER@HOST:PORT, default the shared 127.0.0.1:5432 server),
// BENCH_STARTUP_RUNS (timed migrations, default 3; the median is printed).
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { createDatabase, dbUrl, dropDatabase, unfreezeDatabase, withClient } from './db';
import { readSpans } from './history';
import { say } from './log';
import { migrateArgs, pgferry, startDevStack, type DevStack } from './pgferry';
import { start } from './proc';

const SERVER = (process.env.BENCH_SERVER ?? 'postgres://postgres@127.0.0.1:5432').replace(/\/$/, '');
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 3);
const SOURCE = 'bench_startup_src';
const TARGET = 'bench_startup_tgt';
const CLI = path.resolve(__dirname, '..', 'bin', 'pgferry.js');
const GOALS = { version: 0.8, firstCopy: 0.5, lastIndexToExit: 0.3 };

/** A small database: one table of 200,000 rows (its COPY lasts long enough to be seen), two small ones with a foreign key. */
async function makeSource(): Promise<void> {
  await createDatabase(SERVER, SOURCE);
  await withClient(dbUrl(SERVER, SOURCE), async (c) => {
    await c.query(`
      CREATE TABLE items (id bigint PRIMARY KEY, n integer NOT NULL, label text NOT NULL);
      INSERT INTO items SELECT i, i % 1000, 'item ' || i FROM generate_series(1, 200000) i;
      CREATE INDEX items_n ON items (n);
      CREATE TABLE owners (id integer PRIMARY KEY, name text NOT NULL);
      INSERT INTO owners SELECT i, 'owner ' || i FROM generate_series(1, 100) i;
      CREATE TABLE pets (id serial PRIMARY KEY, owner integer NOT NULL REFERENCES owners (id), name text);
      INSERT INTO pets (owner, name) SELECT 1 + i % 100, 'pet ' || i FROM generate_series(1, 1000) i;`);
    await c.query('VACUUM ANALYZE');
  });
}

/** Watches the source's sessions for a COPY and keeps the earliest start seen (the server's clock). */
function watchFirstCopy(): { stop(): Promise<number | undefined> } {
  const client = new Client({ connectionString: dbUrl(SERVER, 'postgres') });
  let first: number | undefined;
  let running = true;
  const loop = (async () => {
    await client.connect();
    while (running) {
      const { rows } = await client.query<{ at: Date | null }>(
        "SELECT min(query_start) AS at FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'COPY%TO STDOUT%'",
        [SOURCE],
      );
      const at = rows[0]?.at?.getTime();
      if (at !== undefined && (first === undefined || at < first)) first = at;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await client.end();
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return first;
    },
  };
}

/** One migration's figures: seconds from the CLI's start to the first COPY, and from the last index to its exit. */
interface RunFigures {
  readonly firstCopy: number | undefined;
  readonly lastIndexToExit: number | undefined;
  /** The steps that ended after the last index, with their seconds, and the workflow's close. */
  readonly tail: string[];
  /** The workflow's start and the steps that started before the first COPY, as offsets from the CLI's start. */
  readonly head: string[];
  readonly workflowToExit: number;
}

async function migrateOnce(stack: DevStack, name: string): Promise<RunFigures> {
  await unfreezeDatabase(SERVER, SOURCE).catch(() => undefined);
  await dropDatabase(SERVER, TARGET);
  const watcher = watchFirstCopy();
  const startedAt = Date.now();
  const result = await pgferry(
    stack,
    migrateArgs({
      name,
      source: dbUrl(SERVER, SOURCE),
      target: dbUrl(SERVER, TARGET),
      mode: 'offline',
      jobs: 2,
      split: undefined,
      validate: 'counts',
    }),
  );
  const exitedAt = Date.now();
  const firstCopyAt = await watcher.stop();
  if (result.code !== 0) throw new Error(`pgferry migrate failed: ${result.stdout}${result.stderr}`);
  const { spans, start, close } = await readSpans(stack, `migration-${name}`);
  const at = (t: number) => `+${((t - startedAt) / 1000).toFixed(3)}s`;
  const head = [
    `workflow started ${at(start)}`,
    ...spans
      .filter((s) => firstCopyAt === undefined || s.start < firstCopyAt)
      .map((s) => `${s.step} ${at(s.start)}..${at(s.end)}`),
    `first COPY ${firstCopyAt === undefined ? 'not seen' : at(firstCopyAt)}`,
  ];
  const indexes = spans.filter((s) => s.step === 'buildTableIndexes' || s.step === 'copySchemaSection');
  // The first copySchemaSection is the pre-data: it is no index build.
  const lastIndex = Math.max(...indexes.slice(1).map((s) => s.end));
  const tail = spans
    .filter((s) => s.end > lastIndex)
    .map((s) => `${s.step} ${((s.end - Math.max(s.start, lastIndex)) / 1000).toFixed(3)}s`);
  return {
    firstCopy: firstCopyAt === undefined ? undefined : (firstCopyAt - startedAt) / 1000,
    lastIndexToExit: Number.isFinite(lastIndex) ? (exitedAt - lastIndex) / 1000 : undefined,
    head,
    tail: [...tail, `workflow closed +${((close - lastIndex) / 1000).toFixed(3)}s`],
    workflowToExit: (exitedAt - close) / 1000,
  };
}

/** The wall seconds of `pgferry --version`, each in a fresh process. */
async function versionSeconds(times: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < times; i += 1) {
    const t0 = performance.now();
    const r = await start(process.execPath, [CLI, '--version']).exited;
    if (r.code !== 0) throw new Error(`pgferry --version exited ${r.code}`);
    out.push((performance.now() - t0) / 1000);
  }
  return out;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
}

function line(label: string, seconds: number, goal: number, all: readonly number[]): string {
  const verdict = seconds <= goal ? 'MET' : 'NOT MET';
  return `${label.padEnd(34)} ${seconds.toFixed(3)} s  (goal < ${goal} s: ${verdict}; runs ${all.map((s) => s.toFixed(3)).join(', ')})`;
}

async function main(): Promise<void> {
  const version = await versionSeconds(7);
  say(line('pgferry --version', median(version), GOALS.version, version));
  await makeSource();
  const stack = await startDevStack(2);
  try {
    // The first run warms the worker (workflow bundle, connections, sticky cache): not counted.
    await migrateOnce(stack, `startup-warm-${process.pid}`);
    const runs: RunFigures[] = [];
    for (let i = 0; i < RUNS; i += 1) runs.push(await migrateOnce(stack, `startup-${process.pid}-${i}`));
    const first = runs.map((r) => r.firstCopy).filter((s): s is number => s !== undefined);
    const last = runs.map((r) => r.lastIndexToExit).filter((s): s is number => s !== undefined);
    say(line('pgferry --version', median(version), GOALS.version, version));
    say(line('CLI start -> first COPY', median(first), GOALS.firstCopy, first));
    say(line('last index -> CLI exit', median(last), GOALS.lastIndexToExit, last));
    for (const [i, r] of runs.entries()) {
      say(`  run ${i + 1} before the first COPY: ${r.head.join(', ')}`);
      say(
        `  run ${i + 1} after the last index: ${r.tail.join(', ')}; CLI exit +${r.workflowToExit.toFixed(3)}s after the close`,
      );
    }
  } finally {
    await stack.stop();
    await unfreezeDatabase(SERVER, SOURCE).catch(() => undefined);
    await dropDatabase(SERVER, TARGET);
    await dropDatabase(SERVER, SOURCE);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
