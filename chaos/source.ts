import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { query, runCommand, type ThrowawayCluster } from '../test/helpers/pg';
import { sleep } from '../test/helpers/wait';
import { startWriter, type WriterTally } from '../test/helpers/writer';

/** The database every run migrates. */
export const DATABASE = 'app';

const FIXTURE = path.resolve(__dirname, '..', 'test', 'fixtures', 'complex.sql');

/**
 * Loads the source: the test fixture (partitions, inheritance, large objects, odd names and types),
 * pgbench's tables at `scale`, and a table whose writer advances a sequence. Online replication needs
 * a replica identity on every table, so the ones without a key get FULL (as a user would).
 */
export async function loadSource(source: ThrowawayCluster, scale: number): Promise<void> {
  await query(source.url(), `CREATE DATABASE ${DATABASE}`);
  const url = source.url(DATABASE);
  await runCommand('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', FIXTURE, url]);
  await runCommand('pgbench', ['--initialize', `--scale=${scale}`, '--quiet', ...pgbenchTarget(source)]);
  await query(
    url,
    `ALTER TABLE public.raw_log REPLICA IDENTITY FULL;
     ALTER TABLE inventory.stock_p0 REPLICA IDENTITY FULL;
     ALTER TABLE inventory.stock_p1 REPLICA IDENTITY FULL;
     ALTER TABLE public.pgbench_history REPLICA IDENTITY FULL;
     CREATE TABLE public.live (id bigserial PRIMARY KEY, v text NOT NULL);
     INSERT INTO public.live (v) SELECT 'seed ' || g FROM generate_series(1, 1000) g;`,
  );
  await query(url, 'VACUUM ANALYZE');
}

function pgbenchTarget(source: ThrowawayCluster): string[] {
  return ['--host', '127.0.0.1', '--port', String(source.port), '--username', 'postgres', DATABASE];
}

/** What the load wrote before it was stopped. */
export interface LoadTally {
  /** pgbench transactions committed on the source (rows of pgbench_history). */
  readonly pgbenchTransactions: number;
  /** Rounds of the sequence writer: committed, and refused (the freeze). */
  readonly writer: WriterTally;
}

/** The writes of the second application: an insert that advances a sequence, an update, a delete. */
const LIVE_WRITES = [
  "INSERT INTO public.live (v) VALUES ('w' || clock_timestamp())",
  "UPDATE public.live SET v = v || '+' WHERE id = (SELECT max(id) - 3 FROM public.live)",
  'DELETE FROM public.live WHERE id = (SELECT min(id) FROM public.live) AND id % 5 = 0',
];

/**
 * The write load during a migration: pgbench (TPC-B-like, two clients, `rate` transactions a second)
 * started again whenever it ends (its clients give up on an ended session or a read-only source,
 * as at the freeze), and a writer on public.live. Stopped after the cutover.
 */
export function startLoad(source: ThrowawayCluster, rate: number): { stop: () => Promise<LoadTally> } {
  let running = true;
  let child: ChildProcess | undefined;
  const pgbench = (async () => {
    while (running) {
      const args = ['--no-vacuum', '--client=2', '--jobs=1', `--rate=${rate}`, '--time=3600'];
      child = spawn('pgbench', [...args, ...pgbenchTarget(source)], { stdio: 'ignore' });
      await new Promise((resolve) => child?.once('exit', resolve));
      if (running) await sleep(500);
    }
  })();
  const writer = startWriter(source.url(DATABASE), LIVE_WRITES, 50);
  return {
    stop: async () => {
      running = false;
      child?.kill('SIGTERM');
      await pgbench;
      const tally = await writer.stop();
      const rows = await query<{ n: string }>(
        source.url(DATABASE),
        'SELECT count(*) AS n FROM public.pgbench_history',
      );
      return { pgbenchTransactions: Number(rows[0]?.n ?? 0), writer: tally };
    },
  };
}
