import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from './helpers/pg';
import { runPgferry } from './helpers/processes';

/** The environment of a demo as a user starts it: no Temporal address, namespace, key or state dir of the tests. */
function demoEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_CLI_PATH: inject('temporalCliPath') };
  for (const key of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'PGFERRY_CODEC_KEY', 'PGFERRY_STATE_DIR'])
    delete env[key];
  return env;
}

describe('npm run demo', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  /** A folder of its own, which the postgres OS user can reach (the clusters run as that user). */
  const folder = async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pgferry-demo-test-'));
    await chmod(dir, 0o755);
    dirs.push(dir);
    return dir;
  };

  it('runs the headline: an online migration under a write load stops at the gate, is approved by --yes, cuts over and leaves its report', async () => {
    const dir = await folder();
    const port = await freePort();
    const result = await runPgferry(
      [
        'demo',
        '--yes',
        '--countdown',
        '2',
        '--exit',
        '--port',
        String(port),
        '--ui-port',
        String(await freePort()),
      ],
      demoEnv(),
      dir,
    );
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    // At the gate: the UI link and the exact command to approve, reaching this demo's server.
    expect(result.stderr).toMatch(
      /Temporal UI {2}http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/migration-shop-\d{6}/,
    );
    expect(result.stderr).toContain(
      `approve      TEMPORAL_ADDRESS=127.0.0.1:${port} npx pgferry approve shop-`,
    );
    expect(result.stderr).toMatch(/approving by itself in 2 s \(--yes\)/);
    // The end: downtime, both validations equal, the write load, the report.
    expect(result.stdout).toMatch(/migration shop-\d{6} completed: .* cut over with [\d,]+ ms of downtime/);
    expect(result.stdout).toMatch(/validation while replicating \(checksums\): equal, \d+ tables/);
    expect(result.stdout).toMatch(/validation at the cutover \(counts\): equal, \d+ tables/);
    const writes = /write load on the source: ([\d,]+) rounds committed/.exec(result.stdout);
    expect(Number(writes?.[1]?.replace(/,/g, ''))).toBeGreaterThan(10);
    const report = /^report {7}(.+\.html)$/m.exec(result.stdout)?.[1];
    expect(report).toBe(path.join(dir, '.pgferry', 'reports', path.basename(report ?? '')));
    const html = await readFile(report ?? '', 'utf8');
    expect(html).toContain('id="chart-lag"');
    expect(html).toMatch(/approved<\/span><\/td><td>demo<\/td>/);
  }, 240_000);

  it('runs the backup tour with --backup and ends with a verified restore', async () => {
    const dir = await folder();
    const result = await runPgferry(
      [
        'demo',
        '--backup',
        '--exit',
        '--json',
        '--port',
        String(await freePort()),
        '--ui-port',
        String(await freePort()),
      ],
      demoEnv(),
      dir,
    );
    expect(result.code, result.stderr).toBe(0);
    const body = JSON.parse(result.stdout) as {
      ok: boolean;
      report: { tables: unknown[]; largeObjectsRestored: number };
      ui: string;
    };
    expect(body.ok).toBe(true);
    expect(body.report.tables.length).toBeGreaterThan(10);
    expect(body.report.largeObjectsRestored).toBe(3);
    expect(body.ui).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows$/);
  }, 180_000);
});
