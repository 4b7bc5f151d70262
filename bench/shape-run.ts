import { runDumpRestore, runPgcopydb } from './competitors';
import type { BenchConfig, ShapeName } from './config';
import { criticalPath, type CriticalPath } from './critical-path';
import {
  createDatabase,
  databaseSize,
  dbUrl,
  dropDatabase,
  relationCount,
  tableCounts,
  unfreezeDatabase,
  userTables,
  withClient,
} from './db';
import { readSpans } from './history';
import { message, say } from './log';
import { combineRounds, timePgferry, timeTool, type CountedSource } from './measure';
import type { DevStack } from './pgferry';
import { regressionSource, REGRESSION_DB } from './regression';
import type { ToolRow } from './report';
import { describeShape, fillShape, syntheticShape } from './shapes';

/** The databases of a shape run on the shared server; the regression source is kept, the rest dropped. */
export const SHAPE_DB = {
  source: 'bench_shape_src',
  pgferry: 'bench_shape_dst_pgferry',
  pgcopydb: 'bench_shape_dst_pgcopydb',
  dump: 'bench_shape_dst_pg_restore',
} as const;

/** One pgferry round's critical path, or why it has none. */
export interface RoundPath {
  readonly round: number;
  readonly seconds: number | undefined;
  readonly path: CriticalPath | undefined;
  readonly error: string | undefined;
}

/** The two pgferry runs of a shape: with --validate counts, and with the default (checksums). */
export type Validation = 'counts' | 'checksums';

/** What one shape measured. */
export interface ShapeResult {
  readonly shape: ShapeName;
  readonly description: string;
  /** Set when the shape could not be measured at all (its source could not be made). */
  readonly unavailable: string | undefined;
  readonly database: string;
  readonly bytes: number;
  readonly relations: number;
  readonly tables: number;
  readonly rows: number;
  readonly generateSeconds: number;
  /** pgferry --validate counts, pgferry (checksums), pgcopydb, pg_dump + pg_restore: medians of the rounds. */
  readonly tools: Record<Validation | 'pgcopydb' | 'dump', ToolRow | undefined>;
  /** pgferry's critical path in each round, by validation. */
  readonly paths: Record<Validation, RoundPath[]>;
}

/** The source of a shape: made afresh (synthetic) or the kept regression database. */
async function makeSource(
  config: BenchConfig,
  shape: ShapeName,
  major: number,
): Promise<{ source: CountedSource; description: string; seconds: number } | { unavailable: string }> {
  const began = Date.now();
  let database: string = SHAPE_DB.source;
  let description: string;
  if (shape === 'regression') {
    const got = await regressionSource(config.server, major);
    if ('unavailable' in got) return got;
    database = got.database;
    description = "PostgreSQL's regression database (what `make installcheck` leaves)";
    // A run stopped mid-way may have left it frozen.
    await unfreezeDatabase(config.server, database);
  } else {
    const synthetic = syntheticShape(shape, config.size)!;
    description = describeShape(synthetic);
    await createDatabase(config.server, database);
    await withClient(dbUrl(config.server, database), async (c) => {
      await fillShape(c, synthetic);
      await c.query('VACUUM ANALYZE');
    });
  }
  const tables = await userTables(config.server, database);
  return {
    source: {
      database,
      bytes: await databaseSize(config.server, database),
      counts: await tableCounts(config.server, database, tables),
    },
    description,
    seconds: (Date.now() - began) / 1000,
  };
}

/** A pgferry round, timed, with its critical path read from the history. */
async function pgferryRound(
  config: BenchConfig,
  stack: DevStack,
  source: CountedSource,
  shape: ShapeName,
  round: number,
  validation: Validation,
): Promise<{ row: ToolRow; path: RoundPath }> {
  const run = await timePgferry(
    config,
    stack,
    source,
    SHAPE_DB.pgferry,
    `${shape}-${validation}`,
    round,
    validation === 'counts' ? 'counts' : undefined,
  );
  let path: CriticalPath | undefined;
  let error = run.error;
  if (run.workflowId && run.wallSeconds !== undefined) {
    try {
      const spans = await readSpans(stack, run.workflowId);
      path = criticalPath(spans.spans, spans, config.jobs, run.wallSeconds);
    } catch (err) {
      error = `history: ${message(err)}`;
    }
  }
  return { row: run.tool, path: { round, seconds: run.wallSeconds, path, error } };
}

/** Every tool on one shape, `config.runs` interleaved rounds. */
export async function measureShape(
  config: BenchConfig,
  stack: DevStack,
  shape: ShapeName,
  major: number,
): Promise<ShapeResult> {
  say(`shape ${shape} (${config.size}): making the source…`);
  const made = await makeSource(config, shape, major);
  const empty = { counts: undefined, checksums: undefined, pgcopydb: undefined, dump: undefined };
  if ('unavailable' in made) {
    say(`shape ${shape}: not measured: ${made.unavailable}`);
    return {
      shape,
      description: '',
      unavailable: made.unavailable,
      database: '',
      bytes: 0,
      relations: 0,
      tables: 0,
      rows: 0,
      generateSeconds: 0,
      tools: empty,
      paths: { counts: [], checksums: [] },
    };
  }
  const { source } = made;
  const relations = await relationCount(config.server, source.database);
  const counts = Object.values(source.counts);
  say(
    `shape ${shape}: ${(source.bytes / 2 ** 20).toFixed(0)} MB, ${relations} relations, ${counts.length} tables, made in ${made.seconds.toFixed(0)} s`,
  );
  const rows: Record<Validation | 'pgcopydb' | 'dump', ToolRow[]> = {
    counts: [],
    checksums: [],
    pgcopydb: [],
    dump: [],
  };
  const paths: Record<Validation, RoundPath[]> = { counts: [], checksums: [] };
  const dumpTool = `pg_dump -Fd -j ${config.jobs} + pg_restore -j ${config.jobs}`;
  for (let round = 1; round <= config.runs; round += 1) {
    if (config.runs > 1) say(`shape ${shape}: round ${round} of ${config.runs}`);
    for (const validation of ['counts', 'checksums'] as const) {
      const r = await pgferryRound(config, stack, source, shape, round, validation);
      rows[validation].push(r.row);
      paths[validation].push(r.path);
    }
    rows.pgcopydb.push(await timeTool(config, source, 'pgcopydb clone', SHAPE_DB.pgcopydb, runPgcopydb));
    rows.dump.push(await timeTool(config, source, dumpTool, SHAPE_DB.dump, runDumpRestore));
  }
  if (source.database !== REGRESSION_DB && !config.keep) await dropDatabase(config.server, source.database);
  return {
    shape,
    description: made.description,
    unavailable: undefined,
    database: source.database,
    bytes: source.bytes,
    relations,
    tables: counts.length,
    rows: counts.reduce((sum, n) => sum + Math.max(0, n), 0),
    generateSeconds: made.seconds,
    tools: {
      counts: combineRounds(rows.counts),
      checksums: combineRounds(rows.checksums),
      pgcopydb: combineRounds(rows.pgcopydb),
      dump: combineRounds(rows.dump),
    },
    paths,
  };
}
