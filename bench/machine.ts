import * as os from 'node:os';
import * as path from 'node:path';
import { serverFacts } from './db';
import { run } from './proc';
import type { Machine } from './report';

/** The commit of the code measured, and the engine files changed since (bench/ and BENCHMARKS.md aside). */
async function codeVersion(): Promise<{ commit: string; uncommitted: string[] }> {
  const repo = { cwd: path.resolve(__dirname, '..') };
  const head = await run('git', ['rev-parse', '--short', 'HEAD'], repo);
  const status = await run('git', ['status', '--porcelain', '--untracked-files=no'], repo);
  return {
    commit: head.code === 0 ? head.stdout.trim() : 'unknown',
    uncommitted: status.stdout
      .split('\n')
      .map((line) => line.slice(3).trim())
      .filter((file) => file !== '' && !file.startsWith('bench/') && file !== 'BENCHMARKS.md'),
  };
}

/** The machine, the servers and tools, and the code a run measures, for its report. */
export async function machineFacts(server: string): Promise<Machine> {
  const facts = await serverFacts(server);
  const pgcopydb = await run('pgcopydb', ['--version']);
  return {
    date: new Date().toISOString(),
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? '?',
    memoryBytes: os.totalmem(),
    kernel: os.release(),
    postgres: facts.version.split(' on ')[0] ?? facts.version,
    postgresSettings: facts.settings,
    postgresMajor: facts.major,
    pgcopydb:
      /pgcopydb version \S+/.exec(pgcopydb.stdout + pgcopydb.stderr)?.[0] ?? 'pgcopydb (version unknown)',
    node: process.version,
    loadAverage: os.loadavg(),
    ...(await codeVersion()),
  };
}

/** The command line to repeat this run, with the BENCH_* variables that were set. */
export function commandLine(argv: readonly string[]): string {
  const vars = Object.entries(process.env)
    .filter(([k, v]) => k.startsWith('BENCH_') && v)
    .map(([k, v]) => `${k}=${v ?? ''}`);
  return [...vars, 'npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' ');
}
