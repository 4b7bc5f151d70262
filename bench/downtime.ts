import { countDifferences, dbUrl, dropDatabase, libpqArgs, MAIN_TABLES, tableCounts } from './db';
import { breakdown, migrate, migrateArgs, type Breakdown, type DevStack, type MigrateRun } from './pgferry';
import { start, type Background } from './proc';

/** The write load: pgbench's TPC-B-like script (three UPDATEs and an INSERT per transaction). */
const LOAD_CLIENTS = 2;
// A fixed rate rather than as fast as it goes: a steady load leaves the two cores to the
// migration, and a stall shows as missing transactions, not as lower throughput.
const LOAD_RATE_TPS = 200;

/** The tables the online run checks: the main ones and pgbench_history, which the load fills. */
export const ONLINE_TABLES = [...MAIN_TABLES, 'pgbench_history'];

/** What pgbench did while the migration ran. */
export interface LoadSummary {
  readonly description: string;
  /** Mean of the per-second progress figures. */
  readonly meanTps: number | undefined;
  /** Seconds of progress reported. */
  readonly seconds: number;
  /** Clients that stopped on an error: at cutover the frozen source refuses writes and ends sessions. */
  readonly abortedClients: number;
}

/** The online cutover downtime, or why it was not measured. */
export type Downtime =
  | {
      readonly measured: true;
      /** As pgferry records it: from the source frozen to the target ready. */
      readonly downtimeMs: number;
      readonly load: LoadSummary;
      readonly command: string;
      /** Wall time of the whole online migration, through the CLI. */
      readonly wallSeconds: number;
      /** Row counts that differ between the frozen source and the target, load included. */
      readonly differences: string[];
      readonly breakdown: Breakdown | undefined;
    }
  | {
      readonly measured: false;
      readonly reason: string;
      /** Absent when the load itself could not run. */
      readonly load: LoadSummary | undefined;
      readonly command: string;
    };

/** One online run's downtime and the size of its source. */
export interface DowntimeAt {
  /** pgbench scale of the online source (pgbench's tables only). */
  readonly scale: number;
  readonly sourceBytes: number | undefined;
  readonly downtime: Downtime;
}

/** The size-independence goal: the larger source's downtime at most this many times the smaller's, plus the slack. */
export const DOWNTIME_GROWTH_RATIO = 1.5;
export const DOWNTIME_GROWTH_SLACK_MS = 500;

/** The online run: a source database on a logical cluster, a target database on the shared server. */
export interface OnlineJob {
  readonly sourceServer: string;
  readonly sourceDatabase: string;
  readonly targetServer: string;
  readonly targetDatabase: string;
  readonly name: string;
  readonly jobs: number;
  readonly split: string | undefined;
  /** The load stops at the latest after this long, should the migration outlast it. */
  readonly maxLoadSeconds: number;
}

function loadDescription(until: string): string {
  return `pgbench -n -c ${LOAD_CLIENTS} -j ${LOAD_CLIENTS} -R ${LOAD_RATE_TPS} (TPC-B-like writes), ${until}`;
}

/** The write load on a database, for at most `seconds`; its progress lines once a second. */
export function startLoad(server: string, database: string, seconds: number): Background {
  return start('pgbench', [
    '--no-vacuum',
    `--client=${LOAD_CLIENTS}`,
    `--jobs=${LOAD_CLIENTS}`,
    `--rate=${LOAD_RATE_TPS}`,
    `--time=${seconds}`,
    '--progress=1',
    ...libpqArgs(server, database),
  ]);
}

/** What a load's output says: its mean rate, how long it ran, the clients that ended on an error. */
export function summarizeLoad(output: string, until = 'from before the start until cutover'): LoadSummary {
  const tps = [...output.matchAll(/^progress: [\d.]+ s, ([\d.]+) tps/gm)].map((m) => Number(m[1]));
  return {
    description: loadDescription(until),
    meanTps: tps.length > 0 ? tps.reduce((a, b) => a + b, 0) / tps.length : undefined,
    seconds: tps.length,
    abortedClients: [...output.matchAll(/client \d+ (?:script \d+ )?aborted/g)].length,
  };
}

/**
 * Runs an online migration while pgbench writes to the source, and reads the downtime pgferry
 * records (source frozen → target ready). Afterwards the frozen source and the target must hold
 * the same rows, the load's included. When pgferry refuses online mode (Unsupported) or the run
 * fails, the result says so instead of a number.
 */
export async function measureOnlineDowntime(stack: DevStack, job: OnlineJob): Promise<Downtime> {
  const online: MigrateRun = {
    name: job.name,
    source: dbUrl(job.sourceServer, job.sourceDatabase),
    target: dbUrl(job.targetServer, job.targetDatabase),
    mode: 'online',
    jobs: job.jobs,
    split: job.split,
  };
  const command = `pgferry ${migrateArgs(online).join(' ')}`;
  const load = startLoad(job.sourceServer, job.sourceDatabase, job.maxLoadSeconds);
  try {
    // The migration starts under a load already running, as it would in production.
    await load.waitFor(/^progress: /m, 15_000);
    const began = Date.now();
    const { outcome } = await migrate(stack, online);
    const wallSeconds = (Date.now() - began) / 1000;
    // The cutover ended the load's sessions; whatever is left of it stops here.
    await load.stop('SIGINT', 5_000);
    const summary = summarizeLoad(load.output());
    if (!outcome.ok) {
      const reason =
        outcome.code === 'Unsupported'
          ? `online mode not implemented yet (pgferry answered ${outcome.code}: ${outcome.message})`
          : `the online migration failed: ${outcome.code}: ${outcome.message}`;
      return { measured: false, reason, load: summary, command };
    }
    if (outcome.downtimeMs === undefined) {
      return {
        measured: false,
        reason: 'the migration completed but reported no downtime',
        load: summary,
        command,
      };
    }
    const differences = countDifferences(
      await tableCounts(job.sourceServer, job.sourceDatabase, ONLINE_TABLES),
      await tableCounts(job.targetServer, job.targetDatabase, ONLINE_TABLES),
    );
    return {
      measured: true,
      downtimeMs: outcome.downtimeMs,
      load: summary,
      command,
      wallSeconds,
      differences,
      breakdown: await breakdown(stack, job.name).catch(() => undefined),
    };
  } finally {
    await load.stop('SIGKILL', 1_000);
    await dropDatabase(job.targetServer, job.targetDatabase);
  }
}
