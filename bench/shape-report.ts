import type { BenchConfig } from './config';
import { describeCriticalPath } from './critical-path';
import { table, type Machine, type ToolRow } from './report';
import type { RoundPath, ShapeResult, Validation } from './shape-run';

/** Issue 13's goals for the shapes. */
export const SHAPE_GOALS = {
  /** pgferry --validate counts over pgcopydb, on every shape. */
  everyShapeCounts: 1.0,
  /** The geometric mean of that over the shapes. */
  meanCounts: 0.85,
  /** The geometric mean of pgferry with its default validation (checksums) over pgcopydb. */
  meanChecksums: 1.0,
  /** pgferry on the regression database over pg_dump | pg_restore. */
  regressionVsDump: 1.5,
} as const;

/** Everything a `--shape` run found. */
export interface ShapeResults {
  readonly machine: Machine;
  readonly config: BenchConfig;
  readonly command: string;
  readonly shapes: ShapeResult[];
  readonly loadAverageAtEnd: number[];
}

const MB = 2 ** 20;
const secs = (s: number | undefined) => (s === undefined ? '—' : s.toFixed(1));
const ok = (t: ToolRow | undefined) =>
  t !== undefined && t.error === undefined && t.differences.length === 0 && t.seconds !== undefined;

/** One tool's median over another's, when both ran whole. */
export function ratio(a: ToolRow | undefined, b: ToolRow | undefined): number | undefined {
  return ok(a) && ok(b) ? a!.seconds! / b!.seconds! : undefined;
}

const times = (r: number | undefined) => (r === undefined ? '—' : `${r.toFixed(2)}×`);

/** The geometric mean of the ratios that were measured, and how many there were. */
export function geometricMean(
  ratios: readonly (number | undefined)[],
): { mean: number; n: number } | undefined {
  const measured = ratios.filter((r): r is number => r !== undefined && r > 0);
  if (measured.length === 0) return undefined;
  return {
    mean: Math.exp(measured.reduce((sum, r) => sum + Math.log(r), 0) / measured.length),
    n: measured.length,
  };
}

function status(t: ToolRow | undefined): string {
  if (t === undefined) return '—';
  if (t.error !== undefined) return 'FAILED';
  return t.differences.length === 0 ? 'equal' : 'ROWS DIFFER';
}

/** The round whose time is closest to the median: its critical path stands for the shape's. */
function medianPath(paths: readonly RoundPath[], median: number | undefined): RoundPath | undefined {
  return [...paths]
    .filter((p) => p.path !== undefined && p.seconds !== undefined)
    .sort((a, b) => Math.abs(a.seconds! - (median ?? 0)) - Math.abs(b.seconds! - (median ?? 0)))[0];
}

function shapeSection(s: ShapeResult, c: BenchConfig): string[] {
  if (s.unavailable !== undefined) return [`shape ${s.shape}: NOT MEASURED: ${s.unavailable}`];
  const { counts, checksums, pgcopydb, dump } = s.tools;
  const runs = c.runs > 1;
  const rows = [counts, checksums, pgcopydb, dump].flatMap((t) =>
    t === undefined
      ? []
      : [
          [
            t.tool,
            secs(t.seconds),
            t.seconds === undefined ? '—' : (s.bytes / MB / t.seconds).toFixed(1),
            times(ratio(t, pgcopydb)),
            times(ratio(t, dump)),
            status(t),
            ...(runs ? [t.samples.map((x) => x.toFixed(1)).join(' ')] : []),
          ],
        ],
  );
  const lines = [
    `shape ${s.shape}: ${s.description}`,
    `  ${(s.bytes / MB).toFixed(0)} MB, ${s.relations} relations, ${s.tables} tables, ${s.rows.toLocaleString('en-US')} rows (source made in ${s.generateSeconds.toFixed(0)} s)`,
    table(
      [
        'tool',
        runs ? 'median s' : 'wall s',
        'MB/s',
        'vs pgcopydb',
        'vs pg_dump+pg_restore',
        'row counts',
        ...(runs ? ['each run, s'] : []),
      ],
      rows,
      [false, true, true, true, true, false, false],
    ),
  ];
  for (const t of [counts, checksums, pgcopydb, dump]) {
    if (t?.error) lines.push(`  ${t.tool} FAILED: ${t.error.split('\n').slice(0, 4).join(' / ')}`);
    if (t && t.differences.length > 0)
      lines.push(`  ${t.tool}: row counts differ: ${t.differences.slice(0, 5).join('; ')}`);
  }
  for (const v of ['counts', 'checksums'] as const) {
    const p = medianPath(s.paths[v], s.tools[v]?.seconds);
    const name = v === 'counts' ? 'pgferry --validate counts' : 'pgferry (checksums)';
    if (!p?.path) {
      const why = s.paths[v].find((r) => r.error)?.error;
      const failed = s.tools[v]?.error !== undefined;
      lines.push(
        `  critical path, ${name}: not read${failed ? ' (the run failed)' : why ? ` (${why.split('\n')[0]})` : ''}`,
      );
      continue;
    }
    const [first, second] = describeCriticalPath(p.path, c.jobs);
    lines.push(
      `  critical path, ${name} (round ${p.round}, ${secs(p.seconds)} s): ${first}`,
      `    ${second}`,
    );
  }
  return lines;
}

const METRICS: { label: string; of: Validation; vs: 'pgcopydb' | 'dump' }[] = [
  { label: 'counts / pgcopydb', of: 'counts', vs: 'pgcopydb' },
  { label: 'checksums / pgcopydb', of: 'checksums', vs: 'pgcopydb' },
  { label: 'counts / pg_dump+pg_restore', of: 'counts', vs: 'dump' },
  { label: 'checksums / pg_dump+pg_restore', of: 'checksums', vs: 'dump' },
];

function summaryTable(shapes: readonly ShapeResult[]): string {
  const measured = shapes.filter((s) => s.unavailable === undefined);
  const rows = measured.map((s) => [
    s.shape,
    (s.bytes / MB).toFixed(0),
    secs(s.tools.counts?.seconds),
    secs(s.tools.checksums?.seconds),
    secs(s.tools.pgcopydb?.seconds),
    secs(s.tools.dump?.seconds),
    ...METRICS.map((m) => times(ratio(s.tools[m.of], s.tools[m.vs]))),
    (() => {
      const p = medianPath(s.paths.counts, s.tools.counts?.seconds)?.path;
      const top = p?.idleLanes[0];
      return top ? `${top.step} ${top.seconds.toFixed(1)} s` : '—';
    })(),
  ]);
  rows.push([
    'geometric mean',
    '',
    '',
    '',
    '',
    '',
    ...METRICS.map((m) => {
      const g = geometricMean(measured.map((s) => ratio(s.tools[m.of], s.tools[m.vs])));
      return g ? `${times(g.mean)} (${g.n})` : '—';
    }),
    '',
  ]);
  return table(
    [
      'shape',
      'MB',
      'counts s',
      'checksums s',
      'pgcopydb s',
      'pg_dump+restore s',
      ...METRICS.map((m) => m.label),
      'longest with a lane idle (counts)',
    ],
    rows,
    [false, true, true, true, true, true, true, true, true, true, false],
  );
}

function goalLines(shapes: readonly ShapeResult[]): string[] {
  const measured = shapes.filter((s) => s.unavailable === undefined);
  const mark = (met: boolean) => (met ? 'MET' : 'NOT MET');
  const countsRatios = measured.map((s) => ({ s, r: ratio(s.tools.counts, s.tools.pgcopydb) }));
  const over = countsRatios.filter(({ r }) => r === undefined || r > SHAPE_GOALS.everyShapeCounts);
  const meanCounts = geometricMean(countsRatios.map(({ r }) => r));
  const meanChecksums = geometricMean(measured.map((s) => ratio(s.tools.checksums, s.tools.pgcopydb)));
  const regression = measured.find((s) => s.shape === 'regression');
  const regressionRatio = regression && ratio(regression.tools.counts, regression.tools.dump);
  const lines = [
    `goal — every shape, pgferry --validate counts ≤ ${SHAPE_GOALS.everyShapeCounts}× pgcopydb: ${
      measured.length === 0
        ? 'not measured'
        : `${mark(over.length === 0)}${over.length > 0 ? ` (over or not measured: ${over.map(({ s, r }) => `${s.shape} ${times(r)}`).join(', ')})` : ''}`
    }`,
    `goal — geometric mean of pgferry --validate counts / pgcopydb ≤ ${SHAPE_GOALS.meanCounts}×: ${
      meanCounts
        ? `${mark(meanCounts.mean <= SHAPE_GOALS.meanCounts)} (${times(meanCounts.mean)} over ${meanCounts.n} shapes)`
        : 'not measured'
    }`,
    `goal — geometric mean of pgferry (default validation: checksums) / pgcopydb ≤ ${SHAPE_GOALS.meanChecksums}×: ${
      meanChecksums
        ? `${mark(meanChecksums.mean <= SHAPE_GOALS.meanChecksums)} (${times(meanChecksums.mean)} over ${meanChecksums.n} shapes)`
        : 'not measured'
    }`,
    `goal — regression database, pgferry --validate counts ≤ ${SHAPE_GOALS.regressionVsDump}× pg_dump | pg_restore: ${
      regressionRatio === undefined
        ? `not measured${regression ? '' : ' (shape not run)'}`
        : `${mark(regressionRatio <= SHAPE_GOALS.regressionVsDump)} (${times(regressionRatio)})`
    }`,
  ];
  return lines;
}

/** The text report of a `--shape` run: a table per shape, the summary over them, the goals. */
export function renderShapeReport(r: ShapeResults): string {
  const m = r.machine;
  const c = r.config;
  return [
    `pgferry benchmark by shape, ${m.date}`,
    `machine: ${m.cpus} CPUs (${m.cpuModel}), ${(m.memoryBytes / 1024 ** 3).toFixed(1)} GiB RAM, Linux ${m.kernel}`,
    `software: ${m.postgres}; ${m.pgcopydb}; Node ${m.node}`,
    `code: commit ${m.commit}${m.uncommitted.length > 0 ? ` plus uncommitted changes in ${m.uncommitted.join(', ')}` : ''}`,
    `load average (1/5/15 min): ${m.loadAverage.map((l) => l.toFixed(2)).join(' ')} at the start, ${r.loadAverageAtEnd
      .map((l) => l.toFixed(2))
      .join(' ')} at the end`,
    `size ${c.size}; parallelism ${c.jobs} for every tool${c.split ? `; tables split above ${c.split}` : "; each tool's default table splitting"}; ${
      c.runs === 1 ? 'one round' : `${c.runs} interleaved rounds, medians`
    }; wall time from an absent target to a usable, indexed one`,
    '',
    ...r.shapes.flatMap((s) => [...shapeSection(s, c), '']),
    'all shapes (median wall seconds; ratios of medians; the last column: the step of pgferry --validate counts that ran longest with a lane idle):',
    summaryTable(r.shapes),
    '',
    ...goalLines(r.shapes),
  ].join('\n');
}
