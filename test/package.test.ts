import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl, runCommand } from './helpers/pg';
import { spawnPgferry, type PgferryProcess } from './helpers/processes';
import { useTemporalSuite } from './helpers/suite';
import { plainTemporal } from './helpers/temporal';
import { waitFor } from './helpers/wait';

const ROOT = path.resolve(__dirname, '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NPM = 'npm';
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

/** A program that uses the installed package as its users would, typed: tsc must accept it. */
const TYPED_USE = `
import { ErrorCode, PgferryClient, PgferryError, type MigrationOptions, type MigrationResult } from 'pgferry';

const options: MigrationOptions = {
  name: 'shop',
  source: 'postgres://postgres@db1:5432/shop',
  target: 'postgres://postgres@db2:5432/shop',
  mode: 'online',
};

export async function migrate(): Promise<MigrationResult> {
  const client = await PgferryClient.connect();
  try {
    const run = await client.migrate(options);
    return await run.result();
  } catch (err) {
    if (err instanceof PgferryError && err.code === ErrorCode.PreflightFailed) throw err;
    throw err;
  } finally {
    await client.close();
  }
}

// The types are real, not any: a mode that does not exist is refused.
// @ts-expect-error mode is offline or online
export const wrong: MigrationOptions = { ...options, mode: 'sideways' };
`;

describe('the npm package, packed and installed in an empty folder', () => {
  let dir: string;
  let app: string;
  let files: string[] = [];
  let node24 = '';
  let worker: PgferryProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-package-'));
    app = path.join(dir, 'app');
    await mkdir(app);
    await writeFile(
      path.join(app, 'package.json'),
      '{ "name": "app", "version": "1.0.0", "private": true }\n',
    );
    // --ignore-scripts: pack the dist/ this run has built, without rebuilding the shared checkout.
    const packed = await runCommand(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
      cwd: ROOT,
    });
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    if (!info) throw new Error(`npm pack said nothing: ${packed.stdout}`);
    files = info.files.map((f) => f.path);
    const tarball = path.join(dir, path.basename(info.filename));
    // The Node.js 24 binary from the npm package `node`, fetched meanwhile (npx caches it).
    const [, version24] = await Promise.all([
      runCommand(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: app }),
      runCommand('npx', ['-y', '-p', 'node@24', 'node', '-p', 'process.version + " " + process.execPath'], {
        cwd: dir,
      }),
    ]);
    const [v, execPath] = version24.stdout.trim().split(' ');
    if (!v?.startsWith('v24.') || !execPath) throw new Error(`not Node.js 24: ${version24.stdout}`);
    node24 = execPath;
  }, 300_000);

  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // No worker in this process: the one that runs the workflow below is the installed package's.
  const suite = useTemporalSuite({ worker: 'none' });

  it('holds what users need and nothing of the sources, tests or benchmarks', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'LICENSE',
        'bin/pgferry.js',
        'dist/client/index.js',
        'dist/client/index.d.ts',
        'dist/client/cli.js',
        'dist/workflows/index.js',
        'dist/worker/run.js',
        'docs/migration-input.schema.json',
        'test/fixtures/complex.sql',
      ]),
    );
    const stray = files.filter(
      (f) =>
        !/^(package\.json|README\.md|LICENSE|bin\/pgferry\.js|docs\/[\w-]+\.schema\.json|test\/fixtures\/complex\.sql)$/.test(
          f,
        ) && !f.startsWith('dist/'),
    );
    expect(stray).toEqual([]);
    expect(
      files.filter((f) => /^dist\/(test|bench)\//.test(f) || (/\.ts$/.test(f) && !f.endsWith('.d.ts'))),
    ).toEqual([]);
  });

  it('runs the CLI (npx pgferry --version) and loads the library (require and import) with Node.js 20', async () => {
    const cli = await runCommand('npx', ['pgferry', '--version'], { cwd: app });
    expect(cli.stdout.trim()).toBe(VERSION);
    const required = await runCommand(
      process.execPath,
      [
        '-e',
        "const p = require('pgferry'); console.log(typeof p.PgferryClient, typeof p.PgferryClient.connect)",
      ],
      { cwd: app },
    );
    expect(required.stdout.trim()).toBe('function function');
    const imported = await runCommand(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { PgferryClient } from 'pgferry'; console.log(typeof PgferryClient)",
      ],
      { cwd: app },
    );
    expect(imported.stdout.trim()).toBe('function');
  });

  it('gives TypeScript users its types: a typed program compiles, and a wrong option does not', async () => {
    await writeFile(path.join(app, 'use.ts'), TYPED_USE);
    await runCommand(
      process.execPath,
      [
        TSC,
        '--noEmit',
        '--strict',
        '--target',
        'es2022',
        '--module',
        'node16',
        '--moduleResolution',
        'node16',
        '--skipLibCheck',
        '--typeRoots',
        path.join(ROOT, 'node_modules', '@types'),
        '--types',
        'node',
        'use.ts',
      ],
      { cwd: app },
    );
  });

  it('runs on Node.js 24: the CLI, the library, and a worker from the tarball that runs a preflight workflow', async () => {
    const cli = await runCommand(node24, [
      path.join(app, 'node_modules', 'pgferry', 'bin', 'pgferry.js'),
      '--version',
    ]);
    expect(cli.stdout.trim()).toBe(VERSION);
    const lib = await runCommand(node24, ['-e', "console.log(typeof require('pgferry').PgferryClient)"], {
      cwd: app,
    });
    expect(lib.stdout.trim()).toBe('function');

    const cliPath = path.join(app, 'node_modules', 'pgferry', 'bin', 'pgferry.js');
    worker = spawnPgferry(['worker'], suite.env, app, cliPath, node24);
    await worker.waitFor(/ready/, 120_000);
    const since = new Date();
    const report = await suite.client.preflight({
      source: adminUrl(),
      target: adminUrl(5432, 'pgferry_package_smoke'),
      mode: 'offline',
    });
    expect(report.checks.find((c) => c.id === 'connect.source')?.ok).toBe(true);

    // The workflow's activities ran on that worker: its identity is pid@host.
    const temporal = await plainTemporal();
    try {
      const identity = await waitFor(
        'the preflight workflow in visibility',
        async () => {
          for await (const w of temporal.client.workflow.list({ query: "WorkflowType = 'preflight'" })) {
            if (w.startTime < since) continue;
            const history = await temporal.client.workflow.getHandle(w.workflowId).fetchHistory();
            const started = history.events?.find((e) => e.activityTaskStartedEventAttributes);
            return started?.activityTaskStartedEventAttributes?.identity ?? undefined;
          }
          return undefined;
        },
        20_000,
        250,
      );
      expect(identity).toMatch(new RegExp(`^${worker.child.pid}@`));
    } finally {
      await temporal.teardown();
    }
  });
});
