import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';

/** The Temporal CLI version pgferry builds when none is installed (newer tags cannot be `go install`ed). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

/** Where the Temporal CLI was found, or that the SDK's own download is the last resort. */
export type TemporalCli =
  | { readonly kind: 'binary'; readonly path: string; readonly how: string }
  | { readonly kind: 'sdk-download'; readonly how: string };

/** True when `file` exists and may be executed. */
export function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where `go install` puts binaries: the first entry of $(go env GOPATH), then bin; undefined without Go. */
export function goBinDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    const gopath = execFileSync('go', ['env', 'GOPATH'], {
      encoding: 'utf8',
      env,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return gopath ? path.join(gopath.split(path.delimiter)[0] ?? gopath, 'bin') : undefined;
  } catch {
    return undefined;
  }
}

/** Finds an installed Temporal CLI: $TEMPORAL_CLI_PATH, then PATH, then $(go env GOPATH)/bin. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): TemporalCli | undefined {
  const fromEnv = env.TEMPORAL_CLI_PATH;
  if (fromEnv && executable(fromEnv)) return { kind: 'binary', path: fromEnv, how: 'TEMPORAL_CLI_PATH' };
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, 'temporal');
    if (executable(candidate)) return { kind: 'binary', path: candidate, how: 'PATH' };
  }
  const goBin = goBinDir(env);
  if (goBin && executable(path.join(goBin, 'temporal'))) {
    return { kind: 'binary', path: path.join(goBin, 'temporal'), how: '$(go env GOPATH)/bin' };
  }
  return undefined;
}

/**
 * Finds the Temporal CLI, building it with `go install` when Go is there and it is not; the SDK's
 * download is the last resort. Idempotent; says what it does on `say`.
 */
export async function setupTemporalCli(
  say: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TemporalCli> {
  if (fromEnvMissing(env))
    say(`TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} is not an executable; looking elsewhere`);
  const found = findTemporalCli(env);
  if (found) {
    say(`temporal CLI: ${found.kind === 'binary' ? found.path : ''} (found via ${found.how})`);
    return found;
  }
  const goBin = goBinDir(env);
  if (goBin) {
    say(
      `temporal CLI: not installed; building ${TEMPORAL_CLI_MODULE} with go install (takes a few minutes)…`,
    );
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('go', ['install', TEMPORAL_CLI_MODULE], {
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      child.once('error', () => resolve(-1));
      child.once('close', resolve);
    });
    const built = path.join(goBin, 'temporal');
    if (code === 0 && executable(built)) {
      say(`temporal CLI: built at ${built}`);
      return { kind: 'binary', path: built, how: 'go install' };
    }
    say(`temporal CLI: go install failed (exit ${String(code)})`);
  } else {
    say('temporal CLI: not installed and Go is not available to build it');
  }
  say("temporal CLI: falling back to the Temporal SDK's own download of the dev server");
  return { kind: 'sdk-download', how: 'the SDK download' };
}

function fromEnvMissing(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.TEMPORAL_CLI_PATH) && !executable(env.TEMPORAL_CLI_PATH ?? '');
}
