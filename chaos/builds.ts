import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { bundleWorkflowsOffHeap } from '../worker/run';

/** The repository root: a build copied below it finds node_modules by walking up. */
const ROOT = path.resolve(__dirname, '..');

/** Builds of pgferry that workers of a chaos session run, by number (0: the build the session started with). */
export interface Builds {
  /** The worker entry point of build `n` (copied and bundled first when it is new). */
  worker(n: number): Promise<string>;
  /** Removes every copy. */
  remove(): Promise<void>;
}

/**
 * A worker process of one build, as `pgferry worker` runs it but on the build's prebuilt workflow
 * bundle (as production deployments do; the tests' in-process workers do the same): webpack at
 * every start took 20–50 s of a loaded machine per restart. Prints `ready` once polling; SIGTERM
 * and SIGINT shut it down gracefully.
 */
const WORKER_JS = `'use strict';
const path = require('node:path');
const { loadConfig } = require('./dist/worker/config.js');
const { startWorker } = require('./dist/worker/run.js');
const { installRuntime } = require('./dist/worker/runtime.js');
installRuntime('ERROR');
startWorker(loadConfig(process.env), {
  workflowBundlePath: path.join(__dirname, 'workflow-bundle.js'),
  onReady: () => console.log('ready'),
})
  .then((worker) => {
    const stop = () => worker.shutdown();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return worker.done;
  })
  .then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
`;

/** One build on disk: its worker entry point and its bundle's hash. */
interface Built {
  readonly worker: string;
  readonly bundleHash: string;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Snapshots the compiled pgferry (dist/, package.json) into `dir` (below the repository, so
 * node_modules resolves), so that a rebuild of dist/ by someone else during a long session changes
 * nothing under it, and bundles its workflows once. Build n > 0 is the same code with a comment
 * appended to the workflows' entry module: its bundle, and so the SDK's build id (a hash of the
 * bundle), differ — a new deploy whose commands are the same.
 */
export async function snapshotBuilds(dir: string): Promise<Builds> {
  if (!path.resolve(dir).startsWith(ROOT + path.sep))
    throw new Error(`builds must live below ${ROOT} to find its node_modules`);
  if (!existsSync(path.join(ROOT, 'dist', 'worker', 'run.js')))
    throw new Error('chaos runs the compiled pgferry: run `npm run build` first');
  const made = new Map<number, Promise<Built>>();
  const copy = async (n: number): Promise<Built> => {
    const home = path.join(dir, `build-${n}`);
    await rm(home, { recursive: true, force: true });
    await mkdir(home, { recursive: true });
    // Build n copies build 0, not dist/: every build of a session is the same code.
    await cp(n === 0 ? path.join(ROOT, 'dist') : path.join(dir, 'build-0', 'dist'), path.join(home, 'dist'), {
      recursive: true,
    });
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    if (n > 0) {
      pkg.version = `${pkg.version}-chaos.${n}`;
      await appendFile(path.join(home, 'dist', 'workflows', 'index.js'), `\n// chaos build ${n}\n`);
    }
    await writeFile(path.join(home, 'package.json'), JSON.stringify(pkg, null, 2));
    const bundle = await bundleWorkflowsOffHeap(path.join(home, 'dist', 'workflows', 'index.js'));
    await writeFile(path.join(home, 'workflow-bundle.js'), bundle);
    await writeFile(path.join(home, 'worker.js'), WORKER_JS);
    const bundleHash = sha256(bundle);
    if (n > 0 && bundleHash === (await build(0)).bundleHash)
      throw new Error(`build ${n}'s workflow bundle is build 0's: it would not be a new build`);
    return { worker: path.join(home, 'worker.js'), bundleHash };
  };
  const build = (n: number): Promise<Built> => {
    let found = made.get(n);
    if (!found) {
      found = copy(n);
      made.set(n, found);
    }
    return found;
  };
  // The first upgrade's build is made now, so that its copy and bundling do not stretch a fault.
  await build(0);
  await build(1);
  return {
    worker: async (n) => (await build(n)).worker,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
