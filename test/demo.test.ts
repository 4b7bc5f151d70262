import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from './helpers/pg';
import { runPgferry } from './helpers/processes';

describe('npm run demo', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs the whole tour on the embedded default and ends with a verified restore', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-demo-test-'));
    await chmod(dir, 0o755);
    const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_CLI_PATH: inject('temporalCliPath') };
    for (const key of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'PGFERRY_CODEC_KEY', 'PGFERRY_STATE_DIR'])
      delete env[key];
    const result = await runPgferry(
      ['demo', '--exit', '--json', '--port', String(await freePort()), '--ui-port', String(await freePort())],
      env,
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
