import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SEARCH_ATTRIBUTES } from '../domain/constants';
import { adminUrl, createEmptyDatabase, dropDatabase, freePort, query, uniqueName } from './helpers/pg';
import { runPgferry, spawnPgferry, type PgferryProcess } from './helpers/processes';

/** The environment of a user's shell: no test namespace or test key, only the dev server's address. */
function userEnv(port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    PGFERRY_LOG_LEVEL: 'warn',
  };
  for (const key of ['TEMPORAL_NAMESPACE', 'PGFERRY_CODEC_KEY', 'PGFERRY_CODEC_KEY_ID', 'PGFERRY_STATE_DIR'])
    delete env[key];
  return { ...env, TEMPORAL_CLI_PATH: inject('temporalCliPath') };
}

describe('pgferry dev, the embedded default', () => {
  const source = uniqueName('dev_src');
  let dir: string;
  let port: number;
  let uiPort: number;
  let codecPort: number;
  const running: PgferryProcess[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-dev-'));
    port = await freePort();
    uiPort = await freePort();
    codecPort = await freePort();
    await createEmptyDatabase(source);
    await query(adminUrl(5432, source), 'CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g');
  });

  afterAll(async () => {
    for (const p of running) p.child.kill('SIGKILL');
    await dropDatabase(source);
    await rm(dir, { recursive: true, force: true });
  });

  const dev = (...extra: string[]) => {
    const proc = spawnPgferry(
      [
        'dev',
        '--port',
        String(port),
        '--ui-port',
        String(uiPort),
        '--codec-port',
        String(codecPort),
        ...extra,
      ],
      userEnv(port),
      dir,
    );
    running.push(proc);
    return proc;
  };

  it('starts the server, its UI, the search attributes and a worker, keeps history across a restart, and stops on signals', async () => {
    const first = dev();
    await first.waitFor(/ready/, 90_000);
    expect(first.stdout).toContain(`127.0.0.1:${port}`);

    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);
    // The UI was started pointing at pgferry's codec server, which answers the UI's origin.
    const settings = await (await fetch(`http://127.0.0.1:${uiPort}/api/v1/settings`)).text();
    expect(settings).toContain(`http://127.0.0.1:${codecPort}`);
    const preflight = await fetch(`http://127.0.0.1:${codecPort}/decode`, {
      method: 'OPTIONS',
      headers: { origin: `http://127.0.0.1:${uiPort}` },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBe(`http://127.0.0.1:${uiPort}`);
    // It takes no token (the dev UI cannot send one over http), so it is loopback only, refuses
    // other origins, and the output says so.
    expect(first.stderr).toMatch(/codec server at http:\/\/127\.0\.0\.1:\d+ takes no token/);
    const decoded = await fetch(`http://127.0.0.1:${codecPort}/decode`, {
      method: 'POST',
      headers: { origin: `http://localhost:${uiPort}`, 'content-type': 'application/json' },
      body: JSON.stringify({ payloads: [] }),
    });
    expect(decoded.status).toBe(200);
    const foreign = await fetch(`http://127.0.0.1:${codecPort}/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.example' },
    });
    expect(foreign.status).toBe(403);

    const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({
        namespace: 'default',
      });
      expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining([...SEARCH_ATTRIBUTES]));
    } finally {
      await connection.close();
    }

    // The CLI in the same folder finds the same codec key (.pgferry/codec-key.json) and the worker runs the backup.
    const backup = await runPgferry(
      ['backup', '--source', adminUrl(5432, source), '--to', path.join(dir, 'backups'), '--wait', '--json'],
      userEnv(port),
      dir,
    );
    expect(backup.code, backup.stderr).toBe(0);
    const { workflowId, rows } = JSON.parse(backup.stdout) as { workflowId: string; rows: number };
    expect(rows).toBe(1000);

    first.child.kill('SIGINT');
    const stopped = await first.exited;
    expect(stopped.code).toBe(0);
    await expect(fetch(`http://127.0.0.1:${uiPort}/`)).rejects.toThrow();

    // Same SQLite file: the finished backup is still in the history.
    const second = dev('--no-worker');
    await second.waitFor(/ready/, 90_000);
    const status = await runPgferry(['status', workflowId, '--json'], userEnv(port), dir);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: workflowId, state: 'completed' });
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 240_000);
});
