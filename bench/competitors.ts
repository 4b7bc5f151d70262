import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDatabase, dbUrl } from './db';
import { runOk } from './proc';

/** One timed copy by another tool: the whole job, from an absent target to a usable one. */
export interface ToolRun {
  readonly seconds: number;
  /** The commands, as the report shows them. */
  readonly commands: string[];
  /** Where the time went, when the tool runs in pieces. */
  readonly parts: { readonly label: string; readonly seconds: number }[];
}

/** Options shared by the runs. */
export interface CopyJob {
  readonly server: string;
  readonly source: string;
  readonly target: string;
  readonly jobs: number;
  readonly split: string | undefined;
}

const since = (t: number) => (performance.now() - t) / 1000;

/**
 * `pgcopydb clone` with the same parallelism: --table-jobs J COPY processes and --index-jobs J
 * index builders. pgcopydb wants an existing target, so creating it is part of the timed job, as
 * pgferry's provision step is part of its own. Its work folder is a fresh scratch directory.
 */
export async function runPgcopydb(job: CopyJob): Promise<ToolRun> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'pgferry-bench-pgcopydb-'));
  const args = [
    'clone',
    '--source',
    dbUrl(job.server, job.source),
    '--target',
    dbUrl(job.server, job.target),
    '--dir',
    path.join(scratch, 'work'),
    '--table-jobs',
    String(job.jobs),
    '--index-jobs',
    String(job.jobs),
    ...(job.split ? ['--split-tables-larger-than', job.split] : []),
  ];
  try {
    const began = performance.now();
    await createDatabase(job.server, job.target);
    await runOk('pgcopydb', args);
    return {
      seconds: since(began),
      commands: [`createdb ${job.target}`, `pgcopydb ${args.join(' ')}`],
      parts: [],
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * `pg_dump -Fd -j J` into a scratch folder, then `pg_restore -j J` into a new database. The
 * directory format cannot stream through a pipe, so the two run one after the other; the dump
 * keeps pg_dump's default compression, as people run it.
 */
export async function runDumpRestore(job: CopyJob): Promise<ToolRun> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'pgferry-bench-dump-'));
  const dir = path.join(scratch, 'dump');
  const dumpArgs = ['--format=directory', `--jobs=${job.jobs}`, '--file', dir, dbUrl(job.server, job.source)];
  const restoreArgs = [`--jobs=${job.jobs}`, `--dbname=${dbUrl(job.server, job.target)}`, dir];
  try {
    const began = performance.now();
    await runOk('pg_dump', dumpArgs);
    const dumped = since(began);
    const restoreBegan = performance.now();
    await createDatabase(job.server, job.target);
    await runOk('pg_restore', restoreArgs);
    const restored = since(restoreBegan);
    return {
      seconds: since(began),
      commands: [
        `pg_dump ${dumpArgs.join(' ')}`,
        `createdb ${job.target}`,
        `pg_restore ${restoreArgs.join(' ')}`,
      ],
      parts: [
        { label: 'pg_dump', seconds: dumped },
        { label: 'pg_restore', seconds: restored },
      ],
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
