import type { BenchConfig } from './config';
import {
  DOWNTIME_GROWTH_RATIO,
  DOWNTIME_GROWTH_SLACK_MS,
  type Downtime,
  type DowntimeAt,
  type LoadSummary,
} from './downtime';
import type { FallbackAt } from './fallback';
import type { Breakdown } from './pgferry';
import type { RssSummary } from './rss';

/** The goal of the issue: pgferry's offline wall time at most this fraction of pgcopydb's. */
export const OFFLINE_GOAL_RATIO = 0.9;
/** The goal for the online cutover. */
export const DOWNTIME_GOAL_MS = 2000;
/** Peak RSS may move this much between the two sizes and still count as flat (GC timing, noise). */
export const MEMORY_FLAT_TOLERANCE = 0.1;

/** The machine and software the numbers were taken on. */
export interface Machine {
  readonly date: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly postgres: string;
  readonly postgresSettings: Record<string, string>;
  readonly postgresMajor: number;
  readonly pgcopydb: string;
  readonly node: string;
  /** 1, 5 and 15 minute load averages when the benchmark began: other work on the machine skews times. */
  readonly loadAverage: number[];
  /** The commit measured, and the files outside bench/ that differed from it (others edit as we run). */
  readonly commit: string;
  readonly uncommitted: string[];
}

/** One tool's timed run, checked against the source's row counts. */
export interface ToolRow {
  readonly tool: string;
  /** The median of the samples. */
  readonly seconds: number | undefined;
  /** The wall time of every round that succeeded. */
  readonly samples: number[];
  /** Row-count differences of the main tables; empty when the copy is whole. */
  readonly differences: string[];
  readonly error: string | undefined;
  readonly parts: { readonly label: string; readonly seconds: number }[];
  readonly commands: string[];
  /** CPU seconds of the tool's own processes (not PostgreSQL's), by process. */
  readonly cpu: CpuShare[];
}

/** CPU seconds one process (or group of processes) used during a run. */
export interface CpuShare {
  readonly label: string;
  readonly seconds: number;
}

/** One pgferry run measured for memory and stages. */
export interface PgferryRun {
  readonly label: string;
  readonly sourceBytes: number;
  readonly wallSeconds: number | undefined;
  readonly rss: RssSummary | undefined;
  readonly cpu: CpuShare[];
  readonly breakdown: Breakdown | undefined;
  readonly differences: string[];
  readonly error: string | undefined;
}

/** Everything the benchmark found. */
export interface BenchResults {
  readonly machine: Machine;
  readonly config: BenchConfig;
  readonly command: string;
  readonly source: {
    readonly database: string;
    readonly bytes: number;
    readonly counts: Record<string, number>;
  };
  readonly tools: ToolRow[];
  readonly pgferryRuns: PgferryRun[];
  /** The online cutover downtime at each measured size, smallest first. */
  readonly downtimes: DowntimeAt[];
  /** The fallback window's way back, at the smallest downtime scale; absent with --downtime-scales none. */
  readonly fallback: FallbackAt | undefined;
  /** pgcopydb on the larger source of the memory run, to compare pgferry's scaling with. */
  readonly largerCopydb: ToolRow | undefined;
  /** Load averages when the benchmark ended. */
  readonly loadAverageAtEnd: number[];
}

const MB = 1024 * 1024;
const mb = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;
const secs = (s: number | undefined) => (s === undefined ? '—' : s.toFixed(1));

function pad(cells: string[], widths: number[], right: boolean[]): string {
  return cells
    .map((c, i) => (right[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
    .join('  ')
    .trimEnd();
}

/** A plain-text table whose columns fit their widest cell. */
export function table(header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [
    pad(header, widths, right),
    pad(
      widths.map((w) => '-'.repeat(w)),
      widths,
      right,
    ),
    ...rows.map((r) => pad(r, widths, right)),
  ].join('\n');
}

/** pgferry's wall time over pgcopydb's, when both ran. */
export function offlineRatio(r: BenchResults): number | undefined {
  const wall = (tool: string) =>
    r.tools.find((t) => t.tool.startsWith(tool) && t.error === undefined)?.seconds;
  const ferry = wall('pgferry');
  const copydb = wall('pgcopydb');
  return ferry !== undefined && copydb !== undefined ? ferry / copydb : undefined;
}

/** The peak RSS of the larger run over the smaller's, when both ran. */
export function memoryRatio(r: BenchResults): number | undefined {
  const [base, big] = r.pgferryRuns;
  return base?.rss && big?.rss ? big.rss.peakBytes / base.rss.peakBytes : undefined;
}

function toolTable(r: BenchResults): string {
  const ref = (prefix: string) =>
    r.tools.find((t) => t.tool.startsWith(prefix) && t.error === undefined)?.seconds;
  const copydb = ref('pgcopydb');
  const dump = ref('pg_dump');
  const ratio = (s: number | undefined, base: number | undefined) =>
    s === undefined || base === undefined ? '—' : `${(s / base).toFixed(2)}×`;
  const runs = r.config.runs > 1;
  const rows = r.tools.map((t) => [
    t.tool,
    secs(t.seconds),
    t.seconds === undefined ? '—' : (r.source.bytes / MB / t.seconds).toFixed(1),
    ratio(t.seconds, copydb),
    ratio(t.seconds, dump),
    t.cpu.length > 0 ? t.cpu.reduce((sum, c) => sum + c.seconds, 0).toFixed(1) : '—',
    t.error !== undefined ? 'FAILED' : t.differences.length === 0 ? 'equal' : 'ROWS DIFFER',
    ...(runs ? [t.samples.map((x) => x.toFixed(1)).join(' ')] : []),
  ]);
  return table(
    [
      'tool',
      runs ? 'median wall s' : 'wall s',
      'MB/s',
      'vs pgcopydb',
      'vs pg_dump+pg_restore',
      'client CPU s',
      'row counts',
      ...(runs ? ['each run, s'] : []),
    ],
    rows,
    [false, true, true, true, true, true, false, false],
  );
}

function stageTable(runs: PgferryRun[]): string {
  const withBreakdown = runs.filter((run) => run.breakdown !== undefined);
  const names: string[] = [];
  for (const run of withBreakdown)
    for (const s of run.breakdown?.stages ?? []) if (!names.includes(s.stage)) names.push(s.stage);
  const rows = names.map((name) => [
    name,
    ...withBreakdown.map((run) => {
      const s = run.breakdown?.stages.find((x) => x.stage === name);
      const share =
        s && run.breakdown ? ` (${((100 * s.seconds) / run.breakdown.workflowSeconds).toFixed(0)}%)` : '';
      return s ? `${s.seconds.toFixed(2)}${share}` : '—';
    }),
  ]);
  rows.push([
    'workflow, start to close',
    ...withBreakdown.map((run) => (run.breakdown?.workflowSeconds ?? 0).toFixed(2)),
  ]);
  rows.push(['CLI wall (start, polling, exit)', ...withBreakdown.map((run) => secs(run.wallSeconds))]);
  return table(['stage', ...withBreakdown.map((run) => `${run.label} s`)], rows, [
    false,
    ...withBreakdown.map(() => true),
  ]);
}

function stepTable(runs: PgferryRun[]): string {
  const withBreakdown = runs.filter((run) => run.breakdown !== undefined);
  const names: string[] = [];
  for (const run of withBreakdown)
    for (const s of run.breakdown?.steps ?? []) if (!names.includes(s.step)) names.push(s.step);
  const rows = names.map((name) => [
    name,
    ...withBreakdown.map((run) => {
      const s = run.breakdown?.steps.find((x) => x.step === name);
      if (!s) return '—';
      const retried = s.retries > 0 ? `, ${s.retries} retries` : '';
      return s.count === 1
        ? `${s.totalSeconds.toFixed(2)}${retried}`
        : `${s.count}× sum ${s.totalSeconds.toFixed(2)} max ${s.maxSeconds.toFixed(2)}${retried}`;
    }),
  ]);
  return table(['step (activity)', ...withBreakdown.map((run) => `${run.label} s`)], rows, [
    false,
    ...withBreakdown.map(() => false),
  ]);
}

function memoryLines(r: BenchResults): string[] {
  const lines = r.pgferryRuns.map((run) =>
    run.rss
      ? `  ${run.label.padEnd(8)} source ${mb(run.sourceBytes).padStart(7)}: worker RSS idle ${mb(run.rss.startBytes)}, peak ${mb(run.rss.peakBytes)}, after ${mb(run.rss.endBytes)} (${run.rss.samples} samples)`
      : `  ${run.label.padEnd(8)} not measured${run.error ? `: ${run.error}` : ''}`,
  );
  const ratio = memoryRatio(r);
  const [base, big] = r.pgferryRuns;
  if (ratio !== undefined && base && big) {
    const flat = ratio <= 1 + MEMORY_FLAT_TOLERANCE;
    lines.push(
      `  peak ×${ratio.toFixed(2)} for ×${(big.sourceBytes / base.sourceBytes).toFixed(2)} data: ${flat ? 'FLAT (goal met)' : 'GROWS (goal not met)'}`,
    );
    const copydb = r.largerCopydb;
    if (big.wallSeconds !== undefined && copydb?.seconds !== undefined) {
      const baseCopydb = r.tools.find((t) => t.tool.startsWith('pgcopydb'))?.seconds;
      const growth = (s: number | undefined, b: number | undefined) =>
        s !== undefined && b !== undefined ? ` (×${(s / b).toFixed(2)} of its ${base.label} time)` : '';
      lines.push(
        `  wall at ${big.label}: pgferry ${big.wallSeconds.toFixed(1)} s${growth(big.wallSeconds, base.wallSeconds)}; pgcopydb ${copydb.seconds.toFixed(1)} s${growth(copydb.seconds, baseCopydb)}; pgferry/pgcopydb ${(big.wallSeconds / copydb.seconds).toFixed(2)}×${copydb.differences.length > 0 ? ' (pgcopydb ROW COUNTS DIFFER)' : ''}`,
      );
    }
  } else {
    lines.push('  growth with table size: not measured (the second size did not run)');
  }
  return lines;
}

/** Each size's downtime, then whether the larger one's stays within the growth allowed. */
function downtimesLines(all: readonly DowntimeAt[]): string[] {
  if (all.length === 0) return ['  not measured: skipped (--downtime-scales none)'];
  const lines = all.flatMap((at) => [
    `  pgbench scale ${at.scale}${at.sourceBytes === undefined ? '' : ` (${mb(at.sourceBytes)})`}:`,
    ...downtimeLines(at.downtime).map((l) => `  ${l}`),
  ]);
  const measured = all.filter((at) => at.downtime.measured);
  const small = measured[0];
  const big = measured[measured.length - 1];
  if (small === undefined || big === undefined || small === big) {
    return [...lines, '  growth with size: not measured (fewer than two sizes measured)'];
  }
  const ms = (at: DowntimeAt) => (at.downtime.measured ? at.downtime.downtimeMs : Number.NaN);
  const limit = DOWNTIME_GROWTH_RATIO * ms(small) + DOWNTIME_GROWTH_SLACK_MS;
  const met = ms(big) <= limit && measured.every((at) => ms(at) < DOWNTIME_GOAL_MS);
  return [
    ...lines,
    `  growth with size: ${(ms(big) / 1000).toFixed(2)} s at scale ${big.scale} against ${(ms(small) / 1000).toFixed(2)} s at scale ${small.scale}; allowed ${(limit / 1000).toFixed(2)} s (${DOWNTIME_GROWTH_RATIO}× + ${DOWNTIME_GROWTH_SLACK_MS / 1000} s), every size < ${DOWNTIME_GOAL_MS / 1000} s: ${met ? 'MET' : 'NOT MET'}`,
  ];
}

function downtimeLines(d: Downtime): string[] {
  const load = d.load;
  const loadLine = load
    ? `  load: ${load.description}; mean ${load.meanTps === undefined ? '—' : load.meanTps.toFixed(0)} tps over ${load.seconds} s, ${load.abortedClients} of its clients stopped by the frozen source`
    : '  load: did not run';
  if (!d.measured) return [`  not measured: ${d.reason}`, loadLine];
  const met = d.downtimeMs < DOWNTIME_GOAL_MS;
  return [
    `  downtime ${(d.downtimeMs / 1000).toFixed(2)} s (pgferry's record: source frozen → target ready): ${met ? 'MET' : 'NOT MET'} (goal < ${DOWNTIME_GOAL_MS / 1000} s)`,
    loadLine,
    `  the whole online migration: ${d.wallSeconds.toFixed(1)} s; row counts of the frozen source and the target, load included: ${
      d.differences.length === 0 ? 'equal' : `DIFFER: ${d.differences.join('; ')}`
    }`,
  ];
}

/** The fallback's downtime against the goal, its loads, and whether the old source got every write back. */
function fallbackLines(at: FallbackAt | undefined): string[] {
  if (at === undefined) return ['  not measured: skipped (--downtime-scales none)'];
  const f = at.fallback;
  const head = `  pgbench scale ${at.scale}${at.sourceBytes === undefined ? '' : ` (${mb(at.sourceBytes)})`}, into PostgreSQL 17:`;
  if (!f.measured) return [head, `    not measured: ${f.reason}`];
  const load = (l: LoadSummary) =>
    `${l.description}; mean ${l.meanTps === undefined ? '—' : l.meanTps.toFixed(0)} tps over ${l.seconds} s`;
  return [
    head,
    `    downtime ${(f.downtimeMs / 1000).toFixed(2)} s (pgferry's record: target frozen → source unfrozen): ${f.downtimeMs < DOWNTIME_GOAL_MS ? 'MET' : 'NOT MET'} (goal < ${DOWNTIME_GOAL_MS / 1000} s); \`pgferry fallback\` answered in ${f.commandSeconds.toFixed(1)} s`,
    `    load: ${load(f.loads.source)}`,
    `    then: ${load(f.loads.target)}`,
    `    the old source against the frozen target (row counts, pgbench's balance and delta sums): ${
      f.differences.length === 0 ? 'equal' : `DIFFER: ${f.differences.join('; ')}`
    }`,
    `    commands: ${f.commands.join('; ')}`,
  ];
}

/** The text report: the tool table, the goals, the memory runs and pgferry's stages. */
export function renderReport(r: BenchResults): string {
  const m = r.machine;
  const c = r.config;
  const ratio = offlineRatio(r);
  const lines = [
    `pgferry benchmark, ${m.date}`,
    `machine: ${m.cpus} CPUs (${m.cpuModel}), ${(m.memoryBytes / 1024 ** 3).toFixed(1)} GiB RAM, Linux ${m.kernel}`,
    `software: ${m.postgres}; ${m.pgcopydb}; Node ${m.node}`,
    `code: commit ${m.commit}${m.uncommitted.length > 0 ? ` plus uncommitted changes in ${m.uncommitted.join(', ')}` : ''}`,
    `load average (1/5/15 min): ${m.loadAverage.map((l) => l.toFixed(2)).join(' ')} at the start, ${r.loadAverageAtEnd
      .map((l) => l.toFixed(2))
      .join(' ')} at the end`,
    `server settings: ${Object.entries(m.postgresSettings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
    `source ${r.source.database}: ${mb(r.source.bytes)} (pg_database_size; MB = 2^20 bytes) — pgbench scale ${c.scale}, bench_wide ${c.wideRows.toLocaleString('en-US')} rows × ${c.wideBytes} B TOASTed text, bench_narrow ${c.narrowRows.toLocaleString('en-US')} rows`,
    `parallelism: ${c.jobs} for every tool${c.split ? `; tables split above ${c.split}` : "; each tool's default table splitting"}`,
    '',
    `offline copy (${c.runs === 1 ? 'one run of each tool' : `${c.runs} runs of each tool, interleaved; median`}; wall time from an absent target to a usable, indexed one):`,
    toolTable(r),
  ];
  lines.push(
    "  client CPU: the tools' own processes (pgferry: worker, its pg_dump/pg_restore, Temporal dev server, CLI), not PostgreSQL's",
  );
  for (const t of r.tools) {
    if (t.cpu.length > 1)
      lines.push(`  ${t.tool} CPU: ${t.cpu.map((c) => `${c.label} ${c.seconds.toFixed(1)} s`).join(', ')}`);
    if (t.parts.length > 0)
      lines.push(`  ${t.tool}: ${t.parts.map((p) => `${p.label} ${p.seconds.toFixed(1)} s`).join(', ')}`);
    if (t.error) lines.push(`  ${t.tool} FAILED: ${t.error}`);
    if (t.differences.length > 0) lines.push(`  ${t.tool}: row counts differ: ${t.differences.join('; ')}`);
  }
  lines.push(
    '',
    `goal — pgferry offline (--validate counts) ≤ ${OFFLINE_GOAL_RATIO}× pgcopydb's wall time: ${
      ratio === undefined
        ? 'not measured'
        : `${ratio <= OFFLINE_GOAL_RATIO ? 'MET' : 'NOT MET'} (${ratio.toFixed(2)}×)`
    }`,
    `goal — online cutover downtime under a pgbench write load, default validation, < ${DOWNTIME_GOAL_MS / 1000} s at every size:`,
    ...downtimesLines(r.downtimes),
    `goal — the fallback window's way back (--fallback-window, then \`pgferry fallback\` under a write load on the new primary), < ${DOWNTIME_GOAL_MS / 1000} s:`,
    ...fallbackLines(r.fallback),
    'goal — worker memory flat (no growth with table size):',
    ...memoryLines(r),
    '',
    'pgferry stages (from `pgferry history NAME --json`; % of the workflow):',
    stageTable(r.pgferryRuns),
    '',
    stepTable(r.pgferryRuns),
  );
  // The online runs side by side, one column a size: what grows with the size shows.
  const online: PgferryRun[] = r.downtimes.flatMap(({ scale, sourceBytes, downtime: d }) =>
    d.measured && d.breakdown
      ? [
          {
            label: `scale ${scale}`,
            sourceBytes: sourceBytes ?? 0,
            wallSeconds: d.wallSeconds,
            rss: undefined,
            cpu: [],
            breakdown: d.breakdown,
            differences: d.differences,
            error: undefined,
          },
        ]
      : [],
  );
  if (online.length > 0) {
    lines.push('', 'online runs, under the write load:', stageTable(online), '', stepTable(online));
  }
  return lines.join('\n');
}
