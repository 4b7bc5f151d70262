import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../worker/logger';
import { query, startThrowawayCluster, uniqueName, type ThrowawayCluster } from './helpers/pg';
import { migrateArgs, runPgferry, spawnPgferry, type PgferryProcess } from './helpers/processes';
import { testEnv } from './helpers/temporal';

/** A password no other text of the run contains by chance. */
const secret = (tag: string) => `${tag}-${randomBytes(12).toString('hex')}`;

describe("the worker's log", () => {
  const password = secret('right');
  const wrong = secret('wrong');
  const inline = secret('inline');
  let cluster: ThrowawayCluster;
  let worker: PgferryProcess;
  let env: NodeJS.ProcessEnv;
  /** Everything the CLI printed in this file, beside the worker's own output. */
  const printed: string[] = [];

  /** postgres@the cluster, its password from `variable` on the worker. */
  const urlWith = (db: string, variable: string) =>
    `postgresql://postgres@127.0.0.1:${cluster.port}/${db}?password_env=${variable}`;

  beforeAll(async () => {
    env = testEnv({
      PGFERRY_LOG_LEVEL: 'trace',
      PGFERRY_PASSWORD_LOGS: password,
      PGFERRY_PASSWORD_WRONG: wrong,
    });
    // The worker bundles its workflows while the cluster starts.
    worker = spawnPgferry(['worker'], env);
    const ready = worker.waitFor(/ready/, 120_000);
    ready.catch(() => undefined); // awaited below, after the cluster work
    cluster = await startThrowawayCluster({ auth: 'scram', password });
    await query(cluster.url(), 'CREATE DATABASE app');
    await query(
      cluster.url('app'),
      `CREATE TABLE items (id int PRIMARY KEY, v text);
       INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 2000) g;`,
    );
    await ready;
  });

  afterAll(async () => {
    if (worker) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    await cluster?.stop();
  });

  it('carries the workflow id, run id, activity type and attempt on the lines of an activity, as JSON', async () => {
    const name = uniqueName('logged');
    const cli = await runPgferry(
      [
        ...migrateArgs(
          name,
          urlWith('app', 'PGFERRY_PASSWORD_LOGS'),
          urlWith(`${name}_copy`, 'PGFERRY_PASSWORD_LOGS'),
        ),
        '--auto-approve',
        '--wait',
        '--json',
      ],
      env,
    );
    printed.push(cli.stdout, cli.stderr);
    expect(cli.code, cli.stderr).toBe(0);
    const lines = worker.stderr
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const copied = lines.find((l) => l.msg === 'chunk copied' && l.workflowId === `migration-${name}`);
    expect(copied).toMatchObject({
      app: 'pgferry',
      activityType: expect.stringMatching(/^copyChunks?$/) as unknown,
      runId: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      attempt: 1,
    });
    // Lines outside an activity carry none of it.
    expect(
      lines.filter((l) => l.activityType === undefined).every((l) => l.workflowId === undefined || l.sdk),
    ).toBe(true);
  });

  it('never holds a password: not the right one, not a wrong one a server refused, not one written into a URL', async () => {
    const refusedByServer = await runPgferry(
      [
        ...migrateArgs(
          uniqueName('wrongpw'),
          urlWith('app', 'PGFERRY_PASSWORD_WRONG'),
          urlWith('nowhere', 'PGFERRY_PASSWORD_WRONG'),
        ),
        '--auto-approve',
        '--wait',
        '--json',
      ],
      env,
    );
    printed.push(refusedByServer.stdout, refusedByServer.stderr);
    expect(refusedByServer.code).not.toBe(0);
    expect(refusedByServer.stdout + refusedByServer.stderr).toMatch(/password|authentication/i);

    const inUrl = `postgresql://postgres:${inline}@127.0.0.1:${cluster.port}/app`;
    const refusedUrl = await runPgferry(
      [...migrateArgs(uniqueName('inlinepw'), inUrl, urlWith('nowhere', 'PGFERRY_PASSWORD_LOGS')), '--json'],
      env,
    );
    printed.push(refusedUrl.stdout, refusedUrl.stderr);
    expect(refusedUrl.code).toBe(2);

    const everything = [worker.stdout, worker.stderr, ...printed].join('\n');
    expect(everything.length).toBeGreaterThan(1000);
    for (const value of [password, wrong, inline]) {
      expect(everything).not.toContain(value);
      expect(everything).not.toContain(encodeURIComponent(value));
      expect(everything).not.toContain(Buffer.from(value).toString('base64'));
    }
  });

  it('writes text for a terminal with --log-format pretty, and redacts keys named like secrets', () => {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString('utf8');
        done();
      },
    });
    const pretty = createLogger('info', { format: 'pretty', destination: sink });
    pretty.info({ chunk: 'public.items', bytes: 42, source: { password: 'hunter2' } }, 'chunk copied');
    expect(text).toMatch(/INFO.*chunk copied/);
    expect(text).toContain('public.items');
    expect(() => JSON.parse(text.trim()) as unknown).toThrow();
    expect(text).not.toContain('hunter2');

    let json = '';
    const jsonSink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        json += chunk.toString('utf8');
        done();
      },
    });
    createLogger('info', { destination: jsonSink }).info(
      { token: 'xoxb-1', env: { PGPASSWORD: 'p' } },
      'hello',
    );
    expect(JSON.parse(json)).toMatchObject({
      msg: 'hello',
      token: '[redacted]',
      env: { PGPASSWORD: '[redacted]' },
    });
  });

  it('refuses a bad --log-format or --metrics-port as bad input, naming the flag', async () => {
    const format = await runPgferry(['worker', '--log-format', 'yaml', '--json'], env);
    expect(format.code).toBe(2);
    expect(format.stdout + format.stderr).toContain('log-format');
    const port = await runPgferry(['worker', '--metrics-port', '0', '--json'], env);
    expect(port.code).toBe(2);
    expect(port.stdout + port.stderr).toContain('metrics-port');
    const variable = await runPgferry(['worker', '--json'], { ...env, PGFERRY_LOG_FORMAT: 'xml' });
    expect(variable.code).toBe(2);
    expect(variable.stdout + variable.stderr).toContain('PGFERRY_LOG_FORMAT');
  });
});
