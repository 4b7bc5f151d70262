import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ErrorCode, PgferryError } from '../domain/errors';
import { pollUntil } from './cancel';

/**
 * What a pid file records of a running tool: its pid, and what tells that process apart from one
 * that reuses the pid later (its start time and command line, as /proc shows them).
 */
export interface PidRecord {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks after boot. */
  readonly startTime: string;
  /** The program and arguments it was started with. */
  readonly cmdline: readonly string[];
}

/** Where one step keeps the traces of its tool on this host, the same at every attempt of the step. */
export interface ToolTrace {
  /** The pid file of the step's running tool (runTool's `pidFile`). */
  readonly pidFile: string;
  /** The application_name of the tool's database sessions (PGAPPNAME), to find them from anywhere. */
  readonly appName: string;
}

/** What /proc/<pid>/stat says of a process. */
interface ProcStat {
  /** Field 3: R, S, D, …; Z (zombie) and X (dead) no longer run. */
  readonly state: string;
  /** Field 5: the process group. */
  readonly pgrp: number;
  /** Field 22. */
  readonly startTime: string;
}

// A SIGKILLed group is waited for this long; a process that outlives it is stuck in the kernel.
const GROUP_EXIT_TIMEOUT_MS = 15_000;
const GROUP_EXIT_POLL_MS = 20;

/**
 * The trace of the step named by `key` (what it does and to which database or directory): the pid
 * file lives in a directory of the worker's user under the temp dir, named by a hash of the key.
 */
export async function toolTrace(key: string): Promise<ToolTrace> {
  const hash = createHash('sha256').update(key).digest('hex');
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  const dir = path.join(tmpdir(), `pgferry-tools-${uid}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return {
    pidFile: path.join(dir, `${hash.slice(0, 32)}.pid`),
    appName: `pgferry tool ${hash.slice(0, 16)}`,
  };
}

/** Reads a process's stat from /proc; undefined when it is gone (or there is no /proc). */
async function procStat(pid: number): Promise<ProcStat | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // Field 2, the command name, is in parentheses and may itself hold spaces and parentheses;
  // after it, fields are single-space separated, starting with field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', pgrp: Number(fields[2]), startTime: fields[19] ?? '' };
}

/** A process's arguments from /proc; empty once it has exited. */
async function procCmdline(pid: number): Promise<string[]> {
  const text = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const args = text.split('\0');
  if (args.at(-1) === '') args.pop();
  return args;
}

function running(stat: ProcStat | undefined): stat is ProcStat {
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/**
 * Whether a process's command line is the recorded tool's: its arguments, after a program of the
 * same name. Not the same path: a wrapper (Debian's pg_wrapper behind /usr/bin/pg_restore, a perl
 * script) re-executes the real binary under the same pid and start time, with the same arguments.
 */
function sameCommand(current: readonly string[], recorded: readonly string[]): boolean {
  const [program, ...args] = recorded;
  const at = current.length - args.length;
  if (program === undefined || at < 1) return false;
  return (
    path.basename(current[at - 1] ?? '') === path.basename(program) &&
    args.every((arg, i) => current[at + i] === arg)
  );
}

/**
 * Writes the record of a tool just started as `cmdline` to `pidFile` (whole or not at all: written
 * aside, then renamed). Returns it, or undefined when the tool has already exited and there is
 * nothing to record.
 */
export async function writePidRecord(
  pidFile: string,
  pid: number,
  cmdline: readonly string[],
): Promise<PidRecord | undefined> {
  const stat = await procStat(pid);
  if (!running(stat)) return undefined;
  const record: PidRecord = { pid, startTime: stat.startTime, cmdline };
  const aside = `${pidFile}.${process.pid}.tmp`;
  await writeFile(aside, JSON.stringify(record));
  await rename(aside, pidFile);
  return record;
}

/** The record a pid file holds; undefined when there is none or it is not one (an older plain pid). */
async function readPidRecord(pidFile: string): Promise<PidRecord | undefined> {
  const text = await readFile(pidFile, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<PidRecord>;
    const { pid, startTime, cmdline } = parsed;
    if (!Number.isInteger(pid) || typeof startTime !== 'string' || !Array.isArray(cmdline)) return undefined;
    return { pid: pid!, startTime, cmdline: cmdline.map(String) };
  } catch {
    return undefined;
  }
}

/**
 * Removes the pid file when it still records this run: a later attempt that killed this tool has
 * replaced it with its own tool's, which stays.
 */
export async function releasePidFile(pidFile: string, record: PidRecord): Promise<void> {
  const current = await readPidRecord(pidFile);
  if (current?.pid === record.pid && current.startTime === record.startTime)
    await rm(pidFile, { force: true });
}

/** True while any process of group `pgid` still runs. */
async function groupRuns(pgid: number): Promise<boolean> {
  const names = await readdir('/proc').catch(() => [] as string[]);
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await procStat(Number(name));
    if (running(stat) && stat.pgrp === pgid) return true;
  }
  return false;
}

/**
 * Stops a tool that an earlier attempt of the step left running (its worker died, or Temporal gave
 * up on it), named by the step's pid file, and returns once every process of its group has exited;
 * then removes the file. Only a process that is provably that tool is killed: /proc must show the
 * recorded start time and command line (sameCommand), as the leader of its own process group
 * (runTool starts each tool in one). A pid reused by another process, a record that does not parse, or a system
 * without /proc leaves everything running. Returns the record of the tool it stopped, if any.
 */
export async function killOrphan(pidFile: string): Promise<PidRecord | undefined> {
  const record = await readPidRecord(pidFile);
  const stat = record && (await procStat(record.pid));
  const ours =
    record !== undefined &&
    running(stat) &&
    stat.startTime === record.startTime &&
    stat.pgrp === record.pid &&
    sameCommand(await procCmdline(record.pid), record.cmdline);
  if (ours) {
    try {
      // The whole group: pg_dump's and pg_restore's parallel workers, runuser's child.
      process.kill(-record.pid, 'SIGKILL');
    } catch {
      // exited in between
    }
    const deadline = Date.now() + GROUP_EXIT_TIMEOUT_MS;
    await pollUntil({ intervalMs: GROUP_EXIT_POLL_MS, what: 'waiting for an orphaned tool' }, async () => {
      if (!(await groupRuns(record.pid))) return true;
      if (Date.now() < deadline) return undefined;
      throw new PgferryError(
        ErrorCode.ToolFailed,
        `${record.cmdline[0] ?? 'a tool'} (pid ${record.pid}) left running by an earlier attempt did not exit within ${GROUP_EXIT_TIMEOUT_MS / 1000} s of SIGKILL`,
        {
          fix: `it waits in the kernel (I/O on a hung disk or mount): end it on the worker host (kill -9 -${record.pid})`,
        },
      );
    });
  }
  await rm(pidFile, { force: true });
  return ours ? record : undefined;
}
