import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** How a finished command ended, what it printed, and how long it took. */
export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** Options of a command run. */
export interface CommandOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** A command that failed: its own exit code and the tail of its stderr, so the report says why. */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
  constructor(
    readonly command: string,
    readonly result: CommandResult,
  ) {
    super(
      `${command} exited with ${result.code ?? result.signal}: ${(result.stderr || result.stdout).trim().split('\n').slice(-8).join('\n')}`,
    );
  }
}

/** A command running in the background. */
export interface Background {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string;
  readonly exited: Promise<CommandResult>;
  /** Resolves once `pattern` has been printed; rejects when the process exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** Sends `signal` (if still running) and waits for the exit, with SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<CommandResult>;
}

/** Starts a program without a shell; its output is kept in memory (the tools here print little). */
export function start(file: string, args: readonly string[], options: CommandOptions = {}): Background {
  const began = performance.now();
  const child = spawn(file, [...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let both = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
    both += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    both += s;
  });
  const exited = new Promise<CommandResult>((resolve) => {
    // 'close', not 'exit': the pipes are drained by then, so the output is whole.
    child.once('close', (code, signal) =>
      resolve({ code, signal, stdout, stderr, seconds: (performance.now() - began) / 1000 }),
    );
    child.once('error', (err) =>
      resolve({ code: null, signal: null, stdout, stderr: `${stderr}${err.message}`, seconds: 0 }),
    );
  });
  let closed = false;
  void exited.then(() => (closed = true));
  const bg: Background = {
    child,
    pid: child.pid ?? -1,
    output: () => both,
    exited,
    waitFor: (pattern, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const timer = setInterval(() => {
          if (pattern.test(both)) finish();
        }, 100);
        const deadline = setTimeout(
          () =>
            finish(new Error(`${file}: no ${String(pattern)} within ${timeoutMs} ms:\n${both.slice(-2000)}`)),
          timeoutMs,
        );
        const onExit = (r: CommandResult) =>
          finish(
            pattern.test(both)
              ? undefined
              : new Error(
                  `${file} exited (${r.code ?? r.signal}) before ${String(pattern)}:\n${both.slice(-2000)}`,
                ),
          );
        void exited.then(onExit);
        function finish(err?: Error) {
          clearInterval(timer);
          clearTimeout(deadline);
          if (err) reject(err);
          else resolve();
        }
      }),
    stop: async (signal = 'SIGTERM', graceMs = 30_000) => {
      if (!closed) child.kill(signal);
      const kill = setTimeout(() => {
        if (!closed) child.kill('SIGKILL');
      }, graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(kill);
      }
    },
  };
  return bg;
}

/** Runs a program to its end and times it; never throws for a non-zero exit. */
export async function run(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return start(file, args, options).exited;
}

/** Runs a program to its end and throws CommandFailed unless it exits 0. */
export async function runOk(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  const result = await run(file, args, options);
  if (result.code !== 0) throw new CommandFailed([file, ...args].join(' '), result);
  return result;
}

/** A TCP port on 127.0.0.1 that nobody listens on right now (the local-cluster provider's own). */
export { freePort } from '../activities/provision/local-cluster';
