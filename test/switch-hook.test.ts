import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { adminUrl, clonedPair, createTemplateDatabase, dropDatabase, query, uniqueName } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { testEnv } from './helpers/temporal';
import { waitForStatus } from './helpers/wait';

const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');
const SECRET = 'switch-hook-test-secret';

/** One call the hook server received. */
interface HookCall {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

describe('the endpoint switch past the point of no return', () => {
  const template = uniqueName('hook_tpl');
  const databases: string[] = [];
  const calls: HookCall[] = [];
  let server: Server;
  let base: string;

  beforeAll(async () => {
    await createTemplateDatabase(template, FIXTURE);
    // /slow answers after 45 s (longer than any heartbeat timeout); /broken always fails.
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        calls.push({ path: req.url ?? '', headers: req.headers, body });
        if (req.url === '/broken') {
          res.statusCode = 503;
          res.end('down');
          return;
        }
        setTimeout(() => res.end('switched'), 45_000);
      });
    });
    server.keepAliveTimeout = 120_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    server?.close();
    for (const name of databases) await dropDatabase(name);
    await dropDatabase(template);
  });

  const suite = useTemporalSuite({ env: () => testEnv({ PGFERRY_WEBHOOK_SECRET: SECRET }) });

  const readOnly = async (db: string) =>
    (
      await query<{ v: string }>(
        adminUrl(5432, db),
        "SELECT current_setting('default_transaction_read_only') AS v",
      )
    )[0]?.v;

  it('completes when the hook takes 45 s, and the hook can check who called and recognise a repeat', async () => {
    const { source, target, name } = await clonedPair(template, 'hook', 'slow', databases);
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      autoApprove: true,
      freezeSource: true,
      switchHook: `${base}/slow`,
    });
    const result = await run.result();
    expect(result.outcome).toBe('completed');
    const call = calls.find((c) => c.path === '/slow');
    expect(call).toBeDefined();
    const timestamp = String(call!.headers['x-pgferry-timestamp']);
    const expected = `v1=${createHmac('sha256', SECRET).update(`${timestamp}.${call!.body}`).digest('hex')}`;
    expect(call!.headers['x-pgferry-signature']).toBe(expected);
    expect(String(call!.headers['idempotency-key'])).toContain(run.workflowId);
    expect(JSON.parse(call!.body)).toMatchObject({ event: 'pgferry.cutover', migration: name });
  });

  it('leaves a hook that fails for good in needs_attention, the source frozen and the target intact', async () => {
    const { source, target, name } = await clonedPair(template, 'hook', 'broken', databases);
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      autoApprove: true,
      freezeSource: true,
      onRollback: 'drop',
      switchHook: `${base}/broken`,
    });
    const status = await waitForStatus(
      suite.client,
      run.workflowId,
      'needs_attention',
      (s) => s.state === 'needs_attention',
    );
    expect(status.stage).toBe('finalize');
    expect(status.details?.attention).toMatchObject({ step: 'switchEndpoint', attempts: 1 });
    expect(String((status.details?.attention as { fix: string }).fix)).toMatch(/nothing is rolled back/);
    // Nothing was undone: the source stays frozen and the target, now the primary, holds the data.
    expect(await readOnly(source)).toBe('on');
    expect(
      diffFingerprints(
        await databaseFingerprint(adminUrl(5432, source)),
        await databaseFingerprint(adminUrl(5432, target)),
      ),
    ).toEqual([]);
    // A person gives up on the hook: cancelling leaves both as they are.
    await suite.client.cancel(run.workflowId);
    await run.result().catch(() => undefined);
    const ended = await suite.client.status(run.workflowId);
    expect(ended.state).toBe('cancelled');
    expect(await readOnly(source)).toBe('on');
    expect(
      (await query(adminUrl(5432, 'postgres'), 'SELECT 1 FROM pg_database WHERE datname = $1', [target]))
        .length,
    ).toBe(1);
  });
});
