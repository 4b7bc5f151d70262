import { appendFile, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

/** The repository root: a build copied below it finds node_modules by walking up. */
const ROOT = path.resolve(__dirname, '..');

/** Builds of pgferry that workers of a chaos session run, by number (0: the build the session started with). */
export interface Builds {
  /** The CLI entry point of build `n`, copying it first when it is new. */
  cli(n: number): Promise<string>;
  /** Removes every copy. */
  remove(): Promise<void>;
}

/**
 * Snapshots the compiled pgferry (bin/, dist/, package.json) into `dir` (below the repository, so
 * node_modules resolves), so that a rebuild of dist/ by someone else during a long session changes
 * nothing under it. Build n > 0 is the same code with a comment appended to the workflows' entry
 * module: its bundle, and so the SDK's build id, differ — a new deploy whose commands are the same.
 */
export async function snapshotBuilds(dir: string): Promise<Builds> {
  if (!path.resolve(dir).startsWith(ROOT + path.sep))
    throw new Error(`builds must live below ${ROOT} to find its node_modules`);
  const made = new Map<number, Promise<string>>();
  const copy = async (n: number): Promise<string> => {
    const home = path.join(dir, `build-${n}`);
    await rm(home, { recursive: true, force: true });
    await mkdir(home, { recursive: true });
    await cp(path.join(ROOT, 'bin'), path.join(home, 'bin'), { recursive: true });
    // Build n copies build 0, not dist/: every build of a session is the same code.
    const from = n === 0 ? path.join(ROOT, 'dist') : path.join(dir, 'build-0', 'dist');
    await cp(from, path.join(home, 'dist'), { recursive: true });
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    if (n > 0) {
      pkg.version = `${pkg.version}-chaos.${n}`;
      await appendFile(path.join(home, 'dist', 'workflows', 'index.js'), `\n// chaos build ${n}\n`);
    }
    await writeFile(path.join(home, 'package.json'), JSON.stringify(pkg, null, 2));
    return path.join(home, 'bin', 'pgferry.js');
  };
  const cli = (n: number): Promise<string> => {
    let found = made.get(n);
    if (!found) {
      found = copy(n);
      made.set(n, found);
    }
    return found;
  };
  await cli(0);
  return { cli, remove: () => rm(dir, { recursive: true, force: true }) };
}
