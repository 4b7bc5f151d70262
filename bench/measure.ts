import { performance } from 'node:perf_hooks';
import type { CopyJob, ToolRun } from './competitors';
import type { BenchConfig } from './config';
import { childPids, processCpuSeconds, reapedChildrenCpuSeconds } from './cpu';
import { checkpoint, countDifferences, dbUrl, dropDatabase, tableCounts, unfreezeDatabase } from './db';
import { message, say } from './log';
import { breakdown, migrate, migrateArgs, type DevStack, type MigrateRun } from './pgferry';
import type { PgferryRun, ToolRow } from './report';
import { sampleRss } from './rss';
import type { Source } from './source';

/** What a timed run needs of a source: its database, its size, and the row counts a copy must match. */
export type CountedSource = Pick<Source, 'database' | 'bytes' | 'counts'>;

/** Drops a target after its counts were read, so the next tool starts from the same server state. */
async function verifyAndDrop(config: BenchConfig, source: CountedSource, target: string): Promise<string[]> {
  const counts = await tableCounts(config.server, target, Object.keys(source.counts));
  if (!config.keep) await dropDatabase(config.server, target);
  return countDifferences(source.counts, counts);
}

/** Times one run of another tool, checks the copy's row counts, and drops the copy. */
export async function timeTool(
  config: BenchConfig,
  source: CountedSource,
  tool: string,
  target: string,
  fn: (job: CopyJob) => Promise<ToolRun>,
): Promise<ToolRow> {
  say(`${tool}…`);
  await checkpoint(config.server);
  const cpuBefore = reapedChildrenCpuSeconds();
  try {
    const r = await fn({
      server: config.server,
      source: source.database,
      target,
      jobs: config.jobs,
      split: config.split,
    });
    const cpu = [{ label: 'tool processes', seconds: reapedChildrenCpuSeconds() - cpuBefore }];
    const differences = await verifyAndDrop(config, source, target);
    say(`${tool}: ${r.seconds.toFixed(1)} s${countsNote(differences)}`);
    return { ...okRow(tool, r.seconds, differences, r.commands), parts: r.parts, cpu };
  } catch (err) {
    say(`${tool} failed: ${message(err)}`);
    if (!config.keep) await dropDatabase(config.server, target);
    return failedRow(tool, message(err), []);
  }
}

function countsNote(differences: string[]): string {
  return differences.length > 0 ? `, ROW COUNTS DIFFER: ${differences.join('; ')}` : ', row counts equal';
}

function okRow(tool: string, seconds: number, differences: string[], commands: string[]): ToolRow {
  return {
    tool,
    seconds,
    samples: [seconds],
    differences,
    error: undefined,
    parts: [],
    commands,
    cpu: [],
  };
}

function failedRow(tool: string, error: string, commands: string[]): ToolRow {
  return {
    tool,
    seconds: undefined,
    samples: [],
    differences: [],
    error,
    parts: [],
    commands,
    cpu: [],
  };
}

/** The tool's name in the report: the validation says which of pgferry's runs it is. */
export function pgferryTool(validate: 'counts' | undefined): string {
  return `pgferry migrate --mode offline${validate ? ` --validate ${validate}` : ' (default validation: checksums)'}`;
}

/**
 * One pgferry migration: wall time of the CLI, the worker's RSS every 200 ms, the CPU of the worker
 * (and of the schema tools it runs), of the Temporal dev server and of the CLI, and the stages read
 * back from the history. `validate` undefined: pgferry's default validation (checksums); the
 * default run's offline rounds use `counts`, as its goal says.
 */
export async function timePgferry(
  config: BenchConfig,
  stack: DevStack,
  source: CountedSource,
  target: string,
  label: string,
  round: number,
  validate: 'counts' | undefined,
): Promise<PgferryRun & { tool: ToolRow; workflowId: string | undefined }> {
  const name = `bench-${label}-${round}-${Date.now()}`;
  const tool = pgferryTool(validate);
  const migration: MigrateRun = {
    name,
    source: dbUrl(config.server, source.database),
    target: dbUrl(config.server, target),
    mode: 'offline',
    jobs: config.jobs,
    split: config.split,
    ...(validate ? { validate } : {}),
  };
  const command = `pgferry ${migrateArgs(migration).join(' ')}`;
  await checkpoint(config.server);
  const server = childPids(stack.pid);
  const serverCpu = () => server.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
  const before = {
    worker: processCpuSeconds(stack.pid),
    tools: reapedChildrenCpuSeconds(stack.pid),
    server: serverCpu(),
    cli: reapedChildrenCpuSeconds(),
  };
  const sampler = sampleRss(stack.pid);
  const began = performance.now();
  const { outcome } = await migrate(stack, migration);
  const wallSeconds = (performance.now() - began) / 1000;
  const rss = sampler.stop();
  await unfreezeDatabase(config.server, source.database);
  const cpu = [
    { label: 'worker', seconds: processCpuSeconds(stack.pid) - before.worker },
    { label: "worker's pg_dump/pg_restore", seconds: reapedChildrenCpuSeconds(stack.pid) - before.tools },
    { label: 'Temporal dev server', seconds: serverCpu() - before.server },
    { label: 'CLI', seconds: reapedChildrenCpuSeconds() - before.cli },
  ];
  const run = { label, sourceBytes: source.bytes, rss, cpu };
  if (!outcome.ok) {
    const error = `${outcome.code}: ${outcome.message}`;
    say(`pgferry (${label}) failed: ${error}`);
    if (!config.keep) await dropDatabase(config.server, target);
    return {
      ...run,
      wallSeconds: undefined,
      breakdown: undefined,
      differences: [],
      error,
      tool: failedRow(tool, error, [command]),
      workflowId: undefined,
    };
  }
  const differences = await verifyAndDrop(config, source, target);
  const stages = await breakdown(stack, name).catch((err: unknown) => {
    say(`pgferry history ${name}: ${message(err)}`);
    return undefined;
  });
  say(
    `pgferry (${label}${round > 1 ? ` #${round}` : ''}): ${wallSeconds.toFixed(1)} s, ${outcome.chunks} chunks, peak worker RSS ${(rss.peakBytes / 2 ** 20).toFixed(0)} MB${countsNote(differences)}`,
  );
  return {
    ...run,
    wallSeconds,
    breakdown: stages,
    differences,
    error: undefined,
    tool: { ...okRow(tool, wallSeconds, differences, [command]), cpu },
    workflowId: outcome.workflowId,
  };
}

function median(values: readonly number[]): number | undefined {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return undefined;
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** One row from a tool's rounds: the median time, every sample, and any failure or lost row of any round. */
export function combineRounds(rounds: readonly ToolRow[]): ToolRow {
  const first = rounds[0]!;
  const samples = rounds.flatMap((r) => r.samples);
  const seconds = median(samples);
  // The parts of the round closest to the median, so that they add up to the time shown.
  const typical = [...rounds]
    .filter((r) => r.seconds !== undefined)
    .sort(
      (a, b) => Math.abs((a.seconds ?? 0) - (seconds ?? 0)) - Math.abs((b.seconds ?? 0) - (seconds ?? 0)),
    )[0];
  return {
    tool: first.tool,
    seconds,
    samples,
    differences: [...new Set(rounds.flatMap((r) => r.differences))],
    error: rounds.find((r) => r.error !== undefined)?.error,
    parts: typical?.parts ?? [],
    cpu: typical?.cpu ?? [],
    commands: first.commands.length > 0 ? first.commands : (typical?.commands ?? []),
  };
}
