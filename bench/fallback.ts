import { z } from 'zod';
import { countDifferences, dbUrl, tableCounts, withClient } from './db';
import { ONLINE_TABLES, startLoad, summarizeLoad, type LoadSummary } from './downtime';
import { say } from './log';
import { pgferry, type DevStack } from './pgferry';

/** The window asked for: long enough that the fallback, not its end, closes it. */
const WINDOW = '1h';
/** How long the application writes on the new primary before the fallback: rows to carry back. */
const WRITES_ON_TARGET_SECONDS = 5;

/** The fallback downtime, or why it was not measured. */
export type Fallback =
  | {
      readonly measured: true;
      /** As pgferry records it: the target frozen → the source unfrozen, on the target's clock. */
      readonly downtimeMs: number;
      /** `pgferry fallback` from its start to its answer, the CLI's own start included. */
      readonly commandSeconds: number;
      /** The load on the source until the cutover, then on the new primary until the fallback. */
      readonly loads: { readonly source: LoadSummary; readonly target: LoadSummary };
      /** Row counts that differ between the old source, primary again, and the frozen target. */
      readonly differences: string[];
      readonly commands: string[];
    }
  | { readonly measured: false; readonly reason: string; readonly commands: string[] };

/** The fallback run's databases: the source on one logical cluster, the target on another. */
export interface FallbackJob {
  readonly sourceServer: string;
  readonly targetServer: string;
  readonly database: string;
  readonly name: string;
  readonly jobs: number;
  /** The source load stops at the latest after this long, should the migration outlast it. */
  readonly maxLoadSeconds: number;
}

/** A command's failure; anything else is its answer (status prints the status itself, with no `ok`). */
const Failure = z.object({
  ok: z.literal(false),
  error: z.object({ code: z.string(), message: z.string() }),
});

const WindowState = z.object({
  state: z.string(),
  details: z
    .object({ fallbackWindow: z.object({ state: z.string(), problem: z.string().optional() }).optional() })
    .optional(),
});

const FallbackAnswer = z.object({
  ok: z.literal(true),
  fallback: z.object({ downtimeMs: z.number().optional() }),
});

/**
 * The load's effect beyond row counts: pgbench's updates move balances and its inserts add
 * deltas, so a lost or doubled write changes a sum even where no count moves.
 */
async function balances(url: string): Promise<Record<string, number>> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<Record<string, string>>(
      `SELECT (SELECT sum(abalance) FROM pgbench_accounts) AS "sum(abalance)",
              (SELECT sum(bbalance) FROM pgbench_branches) AS "sum(bbalance)",
              (SELECT sum(tbalance) FROM pgbench_tellers) AS "sum(tbalance)",
              (SELECT coalesce(sum(delta), 0) FROM pgbench_history) AS "sum(delta)"`,
    );
    return Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, Number(v)]));
  });
}

/** Runs the CLI and reads its one JSON document; a failure or unreadable answer becomes an Error. */
async function cli(stack: DevStack, args: string[]): Promise<unknown> {
  const result = await pgferry(stack, args);
  let doc: unknown;
  try {
    doc = JSON.parse(result.stdout);
  } catch {
    throw new Error(
      `pgferry ${args[0]}: exit ${result.code ?? result.signal}, no JSON: ${(result.stderr || result.stdout).slice(-800)}`,
    );
  }
  const failed = Failure.safeParse(doc);
  if (failed.success)
    throw new Error(`pgferry ${args[0]}: ${failed.data.error.code}: ${failed.data.error.message}`);
  return doc;
}

/** Polls `pgferry status` until the fallback window is open; a migration that ends first is an Error. */
async function windowOpen(stack: DevStack, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = WindowState.parse(await cli(stack, ['status', name, '--json']));
    const window = status.details?.fallbackWindow;
    if (window?.state === 'open') return;
    if (window && window.state !== 'open')
      throw new Error(`the fallback window is ${window.state}: ${window.problem ?? ''}`);
    if (!['running', 'waiting'].includes(status.state))
      throw new Error(`the migration ended (${status.state}) without a fallback window`);
    if (Date.now() > deadline) throw new Error(`no open fallback window after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/**
 * The way back, measured: an online migration with --fallback-window under a pgbench
 * load on the source; after the cutover the load moves to the new primary for a few seconds, and
 * `pgferry fallback` moves the application back while it writes. pgferry's record of the downtime
 * (target frozen → source unfrozen) is the figure; the old source must then hold every row the
 * frozen target holds.
 */
export async function measureFallback(stack: DevStack, job: FallbackJob): Promise<Fallback> {
  const source = dbUrl(job.sourceServer, job.database);
  const target = dbUrl(job.targetServer, job.database);
  const migrate = ['migrate', '--name', job.name, '--source', source, '--target', target];
  const options = ['--mode', 'online', '--jobs', String(job.jobs), '--fallback-window', WINDOW];
  const fallback = ['fallback', job.name, '--as', 'bench', '--reason', 'the benchmark falls back'];
  const commands = [
    `pgferry ${[...migrate, ...options, '--auto-approve'].join(' ')}`,
    `pgferry ${fallback.join(' ')}`,
  ];
  const onSource = startLoad(job.sourceServer, job.database, job.maxLoadSeconds);
  let onTarget: ReturnType<typeof startLoad> | undefined;
  try {
    await onSource.waitFor(/^progress: /m, 15_000);
    await cli(stack, [...migrate, ...options, '--auto-approve', '--json']);
    await windowOpen(stack, job.name, job.maxLoadSeconds * 1000);
    await onSource.stop('SIGINT', 5_000);
    say(
      `fallback window open; writes on the new primary for ${WRITES_ON_TARGET_SECONDS} s, then the fallback…`,
    );
    onTarget = startLoad(job.targetServer, job.database, job.maxLoadSeconds);
    await onTarget.waitFor(/^progress: /m, 15_000);
    await new Promise((resolve) => setTimeout(resolve, WRITES_ON_TARGET_SECONDS * 1000));
    const began = Date.now();
    const answer = FallbackAnswer.parse(await cli(stack, [...fallback, '--json']));
    const commandSeconds = (Date.now() - began) / 1000;
    // The target's freeze ended the load's sessions; whatever is left of it stops here.
    await onTarget.stop('SIGINT', 5_000);
    if (answer.fallback.downtimeMs === undefined)
      return { measured: false, reason: 'the fallback reported no downtime', commands };
    const differences = [
      ...countDifferences(
        await tableCounts(job.targetServer, job.database, ONLINE_TABLES),
        await tableCounts(job.sourceServer, job.database, ONLINE_TABLES),
      ),
      ...countDifferences(await balances(target), await balances(source)),
    ];
    return {
      measured: true,
      downtimeMs: answer.fallback.downtimeMs,
      commandSeconds,
      loads: {
        source: summarizeLoad(onSource.output()),
        target: summarizeLoad(
          onTarget.output(),
          'on the new primary, from the open window until the fallback',
        ),
      },
      differences,
      commands,
    };
  } catch (err) {
    return { measured: false, reason: err instanceof Error ? err.message : String(err), commands };
  } finally {
    await onSource.stop('SIGKILL', 1_000);
    await onTarget?.stop('SIGKILL', 1_000);
  }
}

/** The fallback run: its source's size and what the fallback measured. */
export interface FallbackAt {
  /** pgbench scale of the source (pgbench's tables only). */
  readonly scale: number;
  readonly sourceBytes: number | undefined;
  readonly fallback: Fallback;
}
