import { spawn } from 'node:child_process';
import { constants, accessSync } from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, PgferryError } from '../domain/errors';
import { releasePidFile, writePidRecord, type PidRecord } from './orphans';

/** Options of one run of an external tool (pg_dump, pg_restore, initdb, pg_ctl). */
export interface ToolOptions {
  readonly env?: Record<string, string>;
  /** Called with each line the tool writes to stderr (pg_dump --verbose reports progress there). */
  readonly onLine?: (line: string) => void;
  /** Aborting kills the tool's whole process group. */
  readonly signal?: AbortSignal;
  /**
   * The tool's pid, start time and command line are recorded here while it runs, so that a later
   * attempt kills it if it outlives this one (killOrphan), and no other process.
   */
  readonly pidFile?: string;
  /** Run as this OS user (through runuser) when the worker runs as root: initdb refuses root. */
  readonly asUser?: string;
}

/** How a tool run ended. */
export interface ToolResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The last lines of stderr, for error messages. */
  readonly stderrTail: string;
  readonly stdout: string;
}

/** Finds a PostgreSQL tool in `binDir` when given, else on PATH. */
export function findTool(name: string, binDir: string | undefined): string {
  const dirs = binDir ? [binDir] : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new PgferryError(
    ErrorCode.ToolMissing,
    `${name} was not found ${binDir ? `in ${binDir}` : 'on PATH'}`,
    {
      fix: `install the PostgreSQL client tools (apt-get install postgresql-client) or set PGFERRY_PG_BINDIR`,
    },
  );
}

/** Runs a tool to its end in its own process group; never throws for a non-zero exit. */
export async function runTool(
  bin: string,
  args: readonly string[],
  options: ToolOptions = {},
): Promise<ToolResult> {
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const [command, argv] =
    options.asUser && asRoot ? ['runuser', ['-u', options.asUser, '--', bin, ...args]] : [bin, [...args]];
  // detached: a process group of its own, so that one kill reaches pg_dump's parallel workers too.
  const child = spawn(command, argv, {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const tail: string[] = [];
  let stdout = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    if (stdout.length < 1_000_000) stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      options.onLine?.(line);
    }
  });
  const kill = () => {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  options.signal?.addEventListener('abort', kill, { once: true });
  const ended = new Promise<ToolResult>((resolve, reject) => {
    child.once('error', (err) => reject(err));
    child.once('close', (code, signal) => {
      if (partial) tail.push(partial);
      resolve({ code, signal, stderrTail: tail.join('\n').trim(), stdout });
    });
  });
  // Handled below; this keeps a spawn error from counting as unhandled while the pid file is written.
  ended.catch(() => undefined);
  let record: PidRecord | undefined;
  try {
    if (options.pidFile && child.pid !== undefined) {
      record = await writePidRecord(options.pidFile, child.pid, [command, ...argv]);
    }
    return await ended;
  } catch (err) {
    kill();
    await ended.catch(() => undefined);
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', kill);
    if (options.pidFile && record) await releasePidFile(options.pidFile, record);
  }
}

/** The major version a tool reports (`pg_dump (PostgreSQL) 15.20` → 15). */
export async function toolMajorVersion(bin: string): Promise<number> {
  const result = await runTool(bin, ['--version']);
  const match = /(\d+)(?:\.\d+)?/.exec(result.stdout);
  return match ? Number(match[1]) : 0;
}

/**
 * A tool's non-zero exit, in the tool's own last words. Retryable: a failure mid-dump or mid-restore
 * is rarely the user's input (a dropped connection, a full disk being cleared).
 */
export function toolFailure(tool: string, stderrTail: string, field: string): PgferryError {
  return new PgferryError(
    ErrorCode.ToolFailed,
    `${tool} failed: ${stderrTail.split('\n').slice(-5).join(' | ')}`,
    { field },
  );
}
