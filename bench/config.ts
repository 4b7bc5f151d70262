import { parseArgs } from 'node:util';
import { z } from 'zod';

/** The benchmark's settings, parsed once from flags and BENCH_* variables (flags win). */
export interface BenchConfig {
  /** pgbench scale of the source: 100,000 pgbench_accounts rows per unit. */
  readonly scale: number;
  /** The parallelism every tool gets: pgferry --jobs, pgcopydb --table-jobs/--index-jobs, pg_dump/pg_restore -j. */
  readonly jobs: number;
  /** Rows of bench_wide, each with one incompressible text value that PostgreSQL moves to TOAST. */
  readonly wideRows: number;
  /** Characters of each bench_wide body. */
  readonly wideBytes: number;
  /** Rows of bench_narrow (id bigint, n integer, flag boolean). */
  readonly narrowRows: number;
  /** The memory run copies a source this many times larger; 0 skips it. */
  readonly memoryFactor: number;
  /** A size such as 64MB for pgferry --split-larger-than and pgcopydb --split-tables-larger-than; unset: each tool's default. */
  readonly split: string | undefined;
  /** Timed runs of each tool; the table shows the median (a shared machine is noisy). */
  readonly runs: number;
  /** pgbench scales of the online runs whose cutover downtime is measured (default flags); empty skips them. */
  readonly downtimeScales: number[];
  /** The longest the pgbench write load of the online run may last (it normally ends at cutover). */
  readonly loadSeconds: number;
  /** The server: postgres://USER@HOST:PORT (no database, no password). */
  readonly server: string;
  /** Keep the bench_* databases at the end (to look at them). */
  readonly keep: boolean;
  /** Also write the results as JSON to this file. */
  readonly out: string | undefined;
  /** The shapes to measure instead of the default run (offline, online, memory); empty: the default run. */
  readonly shapes: ShapeName[];
  /** How large each shape's source is: `small` for a quick check, `default` for a realistic size. */
  readonly size: ShapeSize;
  /** `--fleet`: the fleet run (many small databases, and one of many tables) instead of the default run. */
  readonly fleet: FleetSettings | undefined;
}

/** The fleet run's settings (`--fleet`). */
export interface FleetSettings {
  /** Small databases on the throw-away source cluster. */
  readonly databases: number;
  /** The user data of each (tables and indexes), in MB. */
  readonly sizeMb: number;
  /** Databases per wave of `pgferry fleet`. */
  readonly waveSize: number;
  /** Members copying at once, and the loop's `xargs -P`. */
  readonly concurrency: number;
  /** Tables of the one large-catalog database (the many-tables shape); 0 skips it. */
  readonly tables: number;
}

/** The shapes `--shape` knows, in the order `--shape all` runs them (the mix of the others last). */
export const SHAPE_NAMES = [
  'index-heavy',
  'wide-inline',
  'toast',
  'many-tables',
  'regression',
  'partitioned',
  'narrow',
  'mixed',
] as const;

/** One shape of source database. */
export type ShapeName = (typeof SHAPE_NAMES)[number];

/** The sizes of `--size`. */
export type ShapeSize = 'small' | 'default';

/** The flags, the variables that stand for them, and their help. */
const OPTIONS = {
  scale: { env: 'BENCH_SCALE', help: 'pgbench scale of the source (default 20)' },
  jobs: { env: 'BENCH_JOBS', help: 'parallelism of every tool (default 2)' },
  'wide-rows': { env: 'BENCH_WIDE_ROWS', help: 'rows of the TOASTed wide table (default 20000)' },
  'wide-bytes': { env: 'BENCH_WIDE_BYTES', help: 'bytes of text per wide row (default 8192)' },
  'narrow-rows': { env: 'BENCH_NARROW_ROWS', help: 'rows of the narrow table (default 2000000)' },
  'memory-factor': {
    env: 'BENCH_MEMORY_FACTOR',
    help: 'size of the second pgferry run, in sources (default 2; 0 skips it)',
  },
  split: {
    env: 'BENCH_SPLIT',
    help: 'split tables larger than this (e.g. 64MB), for pgferry and pgcopydb alike',
  },
  runs: { env: 'BENCH_RUNS', help: 'timed runs of each tool; the median is reported (default 3)' },
  'downtime-scales': {
    env: 'BENCH_DOWNTIME_SCALES',
    help: 'pgbench scales of the online downtime runs, comma-separated (default 10,40; the smallest also measures the fallback; none skips both)',
  },
  'load-seconds': {
    env: 'BENCH_LOAD_SECONDS',
    help: 'longest pgbench write load of the online run; it ends at cutover (default 600)',
  },
  server: {
    env: 'BENCH_SERVER',
    help: 'postgres://USER@HOST:PORT (default postgres://postgres@127.0.0.1:5432)',
  },
  keep: { env: 'BENCH_KEEP', help: 'keep the bench_* databases (BENCH_KEEP=1)' },
  out: { env: 'BENCH_OUT', help: 'also write the results as JSON to this file' },
  shape: {
    env: 'BENCH_SHAPE',
    help: `measure these shapes instead of the default run, comma-separated, or all: ${SHAPE_NAMES.join(', ')}`,
  },
  size: { env: 'BENCH_SIZE', help: 'size of the --shape sources: small (a quick check) or default' },
  fleet: {
    env: 'BENCH_FLEET',
    help: 'the fleet run instead: pgferry fleet against a pg_dump | pg_restore loop, and a many-tables database (BENCH_FLEET=1)',
  },
  'fleet-databases': { env: 'BENCH_FLEET_DATABASES', help: 'databases of the fleet run (default 200)' },
  'fleet-size-mb': { env: 'BENCH_FLEET_SIZE_MB', help: 'MB of user data in each (default 10)' },
  'wave-size': { env: 'BENCH_WAVE_SIZE', help: 'databases per wave of the fleet (default 20)' },
  concurrency: {
    env: 'BENCH_CONCURRENCY',
    help: "members copying at once, and the loop's xargs -P (default 8)",
  },
  'fleet-tables': {
    env: 'BENCH_FLEET_TABLES',
    help: 'tables of the many-tables database of the fleet run (default 2000; 0 skips it)',
  },
} as const;

type OptionName = keyof typeof OPTIONS;

const count = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** An on/off setting: a flag, or its variable set to 1, true or yes. */
const flag = z
  .union([z.boolean(), z.enum(['1', '0', 'true', 'false', 'yes', 'no'])])
  .transform((v) => v === true || v === '1' || v === 'true' || v === 'yes')
  .default(false);

const Schema = z.object({
  scale: count(1, 100_000).default(20),
  jobs: count(1, 64).default(2),
  'wide-rows': count(0, 100_000_000).default(20_000),
  'wide-bytes': count(1, 100_000_000).default(8192),
  'narrow-rows': count(0, 10_000_000_000).default(2_000_000),
  'memory-factor': count(0, 100).default(2),
  // Passed on to both tools as they are; only the shape is checked here.
  split: z
    .string()
    .regex(/^\d+(\.\d+)?\s*[kmgt]?b?$/i, 'expected a size such as 64MB or 1GB')
    .optional(),
  runs: count(1, 20).default(3),
  'downtime-scales': z
    .string()
    .regex(/^(none|\d+(,\d+)*)$/, 'expected scales such as 10,40, or none')
    .transform((v) =>
      v === 'none'
        ? []
        : v
            .split(',')
            .map(Number)
            .sort((a, b) => a - b),
    )
    .refine((scales) => scales.every((s) => s >= 1 && s <= 100_000), 'each scale from 1 to 100000')
    .default([10, 40]),
  'load-seconds': count(5, 3600).default(600),
  server: z
    .string()
    .regex(
      /^postgres(ql)?:\/\/[^:/@]+@[^:/]+:\d+\/?$/,
      'expected postgres://USER@HOST:PORT, without a password',
    )
    .default('postgres://postgres@127.0.0.1:5432'),
  keep: flag,
  out: z.string().min(1).optional(),
  shape: z
    .string()
    .transform((v) => v.split(',').map((name) => name.trim()))
    .refine(
      (names) => names.every((n) => n === 'all' || (SHAPE_NAMES as readonly string[]).includes(n)),
      `expected all or shape names from ${SHAPE_NAMES.join(', ')}`,
    )
    .transform((names) =>
      names.includes('all') ? [...SHAPE_NAMES] : SHAPE_NAMES.filter((n) => names.includes(n)),
    )
    .default([]),
  size: z.enum(['small', 'default']).default('default'),
  fleet: flag,
  'fleet-databases': count(1, 10_000).default(200),
  'fleet-size-mb': count(1, 10_000).default(10),
  'wave-size': count(1, 1000).default(20),
  concurrency: count(1, 64).default(8),
  'fleet-tables': count(0, 100_000).default(2000),
});

/** The help text of `npm run bench -- --help`. */
export function usage(): string {
  const lines = ['usage: npm run bench -- [--flag value]…   (or the BENCH_* variables; flags win)', ''];
  for (const [name, o] of Object.entries(OPTIONS))
    lines.push(`  --${name.padEnd(16)} ${o.env.padEnd(22)} ${o.help}`);
  return lines.join('\n');
}

/** A setting that does not parse: the flag or variable it came from, and why. */
export class BenchConfigError extends Error {
  override readonly name = 'BenchConfigError';
}

/** Reads flags (`--scale 40`) over BENCH_* variables over the defaults; an empty variable counts as unset. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): BenchConfig | 'help' {
  const text = { type: 'string' } as const;
  const { values } = parseArgs({
    args: [...argv],
    options: {
      scale: text,
      jobs: text,
      'wide-rows': text,
      'wide-bytes': text,
      'narrow-rows': text,
      'memory-factor': text,
      split: text,
      runs: text,
      'downtime-scales': text,
      'load-seconds': text,
      server: text,
      keep: { type: 'boolean' },
      out: text,
      shape: text,
      size: text,
      fleet: { type: 'boolean' },
      'fleet-databases': text,
      'fleet-size-mb': text,
      'wave-size': text,
      concurrency: text,
      'fleet-tables': text,
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) return 'help';
  const raw: Partial<Record<OptionName, string | boolean>> = {};
  const origin: Partial<Record<OptionName, string>> = {};
  for (const [name, o] of Object.entries(OPTIONS) as [OptionName, (typeof OPTIONS)[OptionName]][]) {
    const flag = values[name];
    const fromEnv = env[o.env];
    if (flag !== undefined) {
      raw[name] = flag;
      origin[name] = `--${name}`;
    } else if (fromEnv !== undefined && fromEnv !== '') {
      raw[name] = fromEnv;
      origin[name] = o.env;
    }
  }
  const parsed = Schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '?') as OptionName;
      return `${origin[key] ?? `--${key}`}: ${issue.message}`;
    });
    throw new BenchConfigError(problems.join('; '));
  }
  const v = parsed.data;
  return {
    scale: v.scale,
    jobs: v.jobs,
    wideRows: v['wide-rows'],
    wideBytes: v['wide-bytes'],
    narrowRows: v['narrow-rows'],
    memoryFactor: v['memory-factor'],
    split: v.split,
    runs: v.runs,
    downtimeScales: v['downtime-scales'],
    loadSeconds: v['load-seconds'],
    server: v.server.replace(/\/$/, ''),
    keep: v.keep,
    out: v.out,
    shapes: v.shape,
    size: v.size,
    fleet: v.fleet
      ? {
          databases: v['fleet-databases'],
          sizeMb: v['fleet-size-mb'],
          waveSize: v['wave-size'],
          concurrency: v.concurrency,
          tables: v['fleet-tables'],
        }
      : undefined,
  };
}
