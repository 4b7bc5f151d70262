import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './cli-path';
import { waitFor } from './wait';

/** A pgferry process under test, with what it printed so far. */
export interface PgferryProcess {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves when a line matching `pattern` has been printed (stdout or stderr), or rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or signal) once it has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `node bin/pgferry.js ARGS` (the compiled CLI, or another build's entry point `cli`) in the
 * background, on this Node.js or on the `node` binary given (another Node.js version).
 */
export function spawnPgferry(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
  cli: string = CLI,
  node: string = process.execPath,
): PgferryProcess {
  const child = spawn(node, [cli, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc: PgferryProcess = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    waitFor: async (pattern, timeoutMs = 60_000) => {
      await waitFor(
        () => `${String(pattern)}; stdout: ${proc.stdout}\nstderr: ${proc.stderr.slice(-2000)}`,
        () => (pattern.test(proc.stdout) || pattern.test(proc.stderr) ? true : undefined),
        timeoutMs,
      );
    },
  };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (proc.stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (proc.stderr += chunk));
  return proc;
}

/** Runs `node bin/pgferry.js ARGS` to its end. */
export async function runPgferry(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnPgferry(args, env, cwd);
  const { code } = await proc.exited;
  return { code, stdout: proc.stdout, stderr: proc.stderr };
}

/** The start of a CLI migration, `migrate --name NAME --source URL --target URL`, then `extra`. */
export function migrateArgs(name: string, source: string, target: string, ...extra: string[]): string[] {
  return ['migrate', '--name', name, '--source', source, '--target', target, ...extra];
}
