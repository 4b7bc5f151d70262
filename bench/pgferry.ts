import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { freePort, start, type Background, type CommandResult } from './proc';

/** The compiled CLI that `npm run bench` has just built. */
const CLI = path.resolve(__dirname, '..', 'bin', 'pgferry.js');

/** A `pgferry dev` process (Temporal dev server + worker) in a scratch folder, and the env to reach it. */
export interface DevStack {
  /** The dev process: the worker runs in it, so its RSS is the worker's. */
  readonly pid: number;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** What the dev process printed (the worker's log), for the report when something fails. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts a fresh `pgferry dev` with its own history file, ports and codec key, so that each
 * measured run begins with a new worker process (its RSS owes nothing to earlier runs).
 * `dataConcurrency`: the worker's data activities at once, when not the default for `jobs`.
 */
export async function startDevStack(jobs: number, dataConcurrency?: number): Promise<DevStack> {
  const cwd = await mkdtemp(path.join(tmpdir(), 'pgferry-bench-'));
  const [port, uiPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    // One key for the dev process and every CLI call; it lives only as long as this run.
    PGFERRY_CODEC_KEY: randomBytes(32).toString('base64'),
    PGFERRY_STATE_DIR: path.join(cwd, '.pgferry'),
    // The worker must be able to run `jobs` chunks at once, or --jobs would not mean what it says
    // (a fleet: its members' chunks at once, as its operator would set it).
    PGFERRY_DATA_CONCURRENCY: String(dataConcurrency ?? Math.max(4, jobs)),
  };
  const dev: Background = start(
    process.execPath,
    [
      CLI,
      'dev',
      '--port',
      String(port),
      '--ui-port',
      String(uiPort),
      '--db-filename',
      path.join(cwd, 'temporal.db'),
    ],
    { cwd, env },
  );
  try {
    await dev.waitFor(/ready/, 180_000);
  } catch (err) {
    await dev.stop('SIGKILL');
    await rm(cwd, { recursive: true, force: true });
    throw err;
  }
  return {
    pid: dev.pid,
    env,
    cwd,
    output: () => dev.output(),
    stop: async () => {
      await dev.stop('SIGTERM', 30_000);
      await rm(cwd, { recursive: true, force: true });
    },
  };
}

/** Runs the pgferry CLI against a dev stack. */
export async function pgferry(stack: DevStack, args: readonly string[]): Promise<CommandResult> {
  return start(process.execPath, [CLI, ...args], { cwd: stack.cwd, env: stack.env }).exited;
}

const Failure = z.object({
  ok: z.literal(false),
  error: z.object({ code: z.string(), message: z.string(), fix: z.string().optional() }),
});

const MigrateSuccess = z.object({
  ok: z.literal(true),
  workflowId: z.string(),
  tables: z.number(),
  chunks: z.number(),
  rows: z.number(),
  bytes: z.number(),
  validation: z.object({ ok: z.boolean(), level: z.string() }).optional(),
  downtimeMs: z.number().optional(),
});

/** What `pgferry migrate --wait --json` said, or its error. */
export type MigrateOutcome =
  z.infer<typeof MigrateSuccess> | { readonly ok: false; readonly code: string; readonly message: string };

/** Options of one migration run. */
export interface MigrateRun {
  readonly name: string;
  readonly source: string;
  readonly target: string;
  readonly mode: 'offline' | 'online';
  readonly jobs: number;
  readonly split: string | undefined;
  /** --validate as given; undefined: pgferry's default (checksums). */
  readonly validate?: 'counts';
}

/** The flags of `pgferry migrate` for a run, as the benchmark report prints them. */
export function migrateArgs(run: MigrateRun): string[] {
  return [
    'migrate',
    '--name',
    run.name,
    '--source',
    run.source,
    '--target',
    run.target,
    '--mode',
    run.mode,
    '--jobs',
    String(run.jobs),
    ...(run.split ? ['--split-larger-than', run.split] : []),
    ...(run.validate ? ['--validate', run.validate] : []),
    '--auto-approve',
    '--wait',
    '--json',
  ];
}

/** Runs `pgferry migrate … --wait --json` and reads its one JSON document. */
export async function migrate(
  stack: DevStack,
  run: MigrateRun,
): Promise<{ outcome: MigrateOutcome; result: CommandResult }> {
  const result = await pgferry(stack, migrateArgs(run));
  return { outcome: readMigrateOutput(result), result };
}

function readMigrateOutput(result: CommandResult): MigrateOutcome {
  let doc: unknown;
  try {
    doc = JSON.parse(result.stdout);
  } catch {
    return {
      ok: false,
      code: 'NoJson',
      message: `exit ${result.code ?? result.signal}; no JSON on stdout: ${(result.stderr || result.stdout).slice(-1000)}`,
    };
  }
  const failure = Failure.safeParse(doc);
  if (failure.success)
    return { ok: false, code: failure.data.error.code, message: failure.data.error.message };
  const success = MigrateSuccess.safeParse(doc);
  if (success.success) return success.data;
  return { ok: false, code: 'BadJson', message: `unexpected output: ${result.stdout.slice(0, 500)}` };
}

const Timeline = z.object({
  startedAt: z.string(),
  closedAt: z.string().optional(),
  outcome: z.string(),
  stages: z.array(z.object({ stage: z.string(), durationMs: z.number().optional() })),
  steps: z.array(
    z.object({
      step: z.string(),
      durationMs: z.number().optional(),
      outcome: z.string(),
      attempt: z.number().optional(),
    }),
  ),
});

/** One stage of the migration and its time; a stage entered twice (schema) is told apart by section. */
export interface StageTime {
  readonly stage: string;
  readonly seconds: number;
}

/** One kind of step (activity) with its count, total and longest time, and retried attempts. */
export interface StepTime {
  readonly step: string;
  readonly count: number;
  readonly totalSeconds: number;
  readonly maxSeconds: number;
  readonly retries: number;
}

/** Where a migration's time went, from `pgferry history NAME --json`. */
export interface Breakdown {
  /** From the workflow's start to its close, as the history says. */
  readonly workflowSeconds: number;
  readonly stages: StageTime[];
  readonly steps: StepTime[];
}

// The migration enters `schema` twice: pre-data before the copy, post-data (indexes, constraints) after.
const SCHEMA_SECTIONS = ['schema (pre-data)', 'schema (post-data: indexes, constraints)'];

/** Reads the stage and step durations of a finished migration. */
export async function breakdown(stack: DevStack, name: string): Promise<Breakdown> {
  const result = await pgferry(stack, ['history', name, '--json']);
  const timeline = Timeline.parse(JSON.parse(result.stdout));
  let schemaSeen = 0;
  const stages = timeline.stages
    .filter((s) => s.stage !== 'done')
    .map((s) => ({
      stage: s.stage === 'schema' ? (SCHEMA_SECTIONS[schemaSeen++] ?? 'schema') : s.stage,
      seconds: (s.durationMs ?? 0) / 1000,
    }));
  const steps = new Map<
    string,
    { count: number; totalSeconds: number; maxSeconds: number; retries: number }
  >();
  for (const s of timeline.steps) {
    const seconds = (s.durationMs ?? 0) / 1000;
    const entry = steps.get(s.step) ?? { count: 0, totalSeconds: 0, maxSeconds: 0, retries: 0 };
    entry.count += 1;
    entry.totalSeconds += seconds;
    entry.maxSeconds = Math.max(entry.maxSeconds, seconds);
    entry.retries += Math.max(0, (s.attempt ?? 1) - 1);
    steps.set(s.step, entry);
  }
  const closed = timeline.closedAt ? Date.parse(timeline.closedAt) : Date.parse(timeline.startedAt);
  return {
    workflowSeconds: (closed - Date.parse(timeline.startedAt)) / 1000,
    stages,
    steps: [...steps.entries()].map(([step, e]) => ({ step, ...e })),
  };
}
