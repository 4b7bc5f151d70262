import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionCodec } from '../worker/codec';
import { bearerMatches, isLoopback } from '../worker/codec-access';
import { startCodecServer, type CodecServer } from '../worker/codec-server';
import { freePort } from './helpers/pg';
import { runPgferry, spawnPgferry, type PgferryProcess } from './helpers/processes';

const UI = 'http://127.0.0.1:8233';
const FOREIGN = 'http://evil.example';
const TOKEN = 's3cret-token-0123456789abcdef';

type Wire = { metadata: Record<string, string>; data: string };

const post = (url: string, route: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

const preflight = (url: string, origin: string) =>
  fetch(`${url}/decode`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type,x-namespace',
    },
  });

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const plain: Wire = {
  metadata: { encoding: Buffer.from('json/plain').toString('base64') },
  data: Buffer.from(JSON.stringify({ by: 'alice', reason: 'hunter2-free' })).toString('base64'),
};

/** A payload as `codec` encrypts it, in the codec protocol's JSON. */
async function sealed(codec: EncryptionCodec, json: string): Promise<Wire> {
  const [p] = await codec.encode([
    { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(json) },
  ]);
  return {
    metadata: Object.fromEntries(
      Object.entries(p!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
    data: Buffer.from(p!.data!).toString('base64'),
  };
}

const dataOf = async (res: Response) =>
  ((await res.json()) as { payloads: Wire[] }).payloads.map((p) => Buffer.from(p.data, 'base64').toString());

describe('the codec server the Temporal UI and CLI decode payloads with', () => {
  const codec = new EncryptionCodec({ id: 'k-test', key: randomBytes(32) });
  let guarded: CodecServer;
  let open: CodecServer;

  beforeAll(async () => {
    guarded = await startCodecServer({
      codec,
      port: 0,
      auth: { kind: 'token', token: TOKEN },
      origins: [UI],
    });
    open = await startCodecServer({ codec, port: 0, auth: { kind: 'none' }, origins: [UI] });
  });

  afterAll(async () => {
    await guarded?.close();
    await open?.close();
  });

  it('listens on 127.0.0.1 unless told otherwise', () => {
    expect(new URL(guarded.url).hostname).toBe('127.0.0.1');
  });

  it('refuses /decode and /encode without the token or with a wrong one (401, JSON error), and decodes with it', async () => {
    const body = { payloads: [await sealed(codec, '"ok"')] };
    for (const route of ['/decode', '/encode']) {
      const missing = await post(guarded.url, route, body);
      expect(missing.status).toBe(401);
      expect(((await missing.json()) as { error: string }).error).toMatch(/Bearer/);
      for (const wrong of [
        bearer('wrong'),
        bearer(`${TOKEN}x`),
        bearer(TOKEN.slice(0, -1)),
        { authorization: TOKEN },
      ]) {
        const res = await post(guarded.url, route, body, wrong);
        expect(res.status, JSON.stringify(wrong)).toBe(401);
        expect(await res.text()).not.toContain(TOKEN);
      }
    }
    const ok = await post(guarded.url, '/decode', body, bearer(TOKEN));
    expect(ok.status).toBe(200);
    expect(await dataOf(ok)).toEqual(['"ok"']);
  });

  it('encrypts over POST /encode and decrypts back over POST /decode', async () => {
    const encoded = (await (
      await post(guarded.url, '/encode', { payloads: [plain] }, bearer(TOKEN))
    ).json()) as {
      payloads: Wire[];
    };
    const one = encoded.payloads[0]!;
    expect(Buffer.from(one.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
    expect(Buffer.from(one.data, 'base64').toString('latin1')).not.toContain('alice');
    const decoded = (await (
      await post(guarded.url, '/decode', { payloads: [one, plain] }, bearer(TOKEN))
    ).json()) as {
      payloads: unknown[];
    };
    // What it did not encrypt passes as it is.
    expect(decoded.payloads).toEqual([plain, plain]);
  });

  it('answers the UI’s origin with CORS headers for the headers the UI sends', async () => {
    const pre = await preflight(guarded.url, UI);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(UI);
    expect(pre.headers.get('vary')).toMatch(/Origin/);
    const allowed = (pre.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const header of ['authorization', 'content-type', 'x-namespace']) expect(allowed).toContain(header);
    const res = await post(guarded.url, '/decode', { payloads: [plain] }, { origin: UI, ...bearer(TOKEN) });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI);
    // A 401 carries the CORS headers too, so that the UI can tell what went wrong.
    const denied = await post(guarded.url, '/decode', { payloads: [plain] }, { origin: UI });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe(UI);
  });

  it('refuses a foreign origin with 403, on the preflight and on the request, even with the token', async () => {
    for (const server of [guarded, open]) {
      const pre = await preflight(server.url, FOREIGN);
      expect(pre.status).toBe(403);
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
      const res = await post(
        server.url,
        '/decode',
        { payloads: [plain] },
        { origin: FOREIGN, ...bearer(TOKEN) },
      );
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      // The UI's own port on another host is another origin.
      expect((await preflight(server.url, 'http://127.0.0.2:8233')).status).toBe(403);
      expect((await preflight(server.url, 'null')).status).toBe(403);
    }
  });

  it('serves without a token only when started with auth none, still for the UI’s origin only', async () => {
    const res = await post(
      open.url,
      '/decode',
      { payloads: [await sealed(codec, '"open"')] },
      { origin: UI },
    );
    expect(res.status).toBe(200);
    expect(await dataOf(res)).toEqual(['"open"']);
  });

  it('refuses bad requests clearly', async () => {
    expect((await post(guarded.url, '/decode', { nothing: true }, bearer(TOKEN))).status).toBe(400);
    expect((await post(guarded.url, '/other', { payloads: [] }, bearer(TOKEN))).status).toBe(404);
    const unknownKey: Wire = {
      metadata: {
        encoding: Buffer.from('binary/encrypted').toString('base64'),
        'encryption-key-id': Buffer.from('k-other').toString('base64'),
      },
      data: '',
    };
    expect((await post(guarded.url, '/decode', { payloads: [unknownKey] }, bearer(TOKEN))).status).toBe(400);
  });

  it('compares the bearer token whole, whatever the lengths', () => {
    expect(bearerMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(`bearer  ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(undefined, TOKEN)).toBe(false);
    expect(bearerMatches('Bearer ', TOKEN)).toBe(false);
    expect(bearerMatches(`Bearer ${TOKEN} extra`, TOKEN)).toBe(false);
    expect(bearerMatches(`Basic ${TOKEN}`, TOKEN)).toBe(false);
    expect(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('localhost')).toBe(true);
    expect(isLoopback('0.0.0.0') || isLoopback('192.168.1.5') || isLoopback('::')).toBe(false);
  });
});

describe('pgferry codec serve', () => {
  const key = randomBytes(32);
  const codec = new EncryptionCodec({ id: 'k-cli', key });
  let dir: string;
  const running: PgferryProcess[] = [];

  /** A user's shell with the worker's codec key and no token. */
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = {
      ...process.env,
      PGFERRY_CODEC_KEY: key.toString('base64'),
      PGFERRY_CODEC_KEY_ID: 'k-cli',
      PGFERRY_STATE_DIR: path.join(dir, '.pgferry'),
      PGFERRY_LOG_LEVEL: 'warn',
      ...extra,
    };
    if (!('PGFERRY_CODEC_TOKEN' in extra)) delete e.PGFERRY_CODEC_TOKEN;
    return e;
  };

  /** Starts `pgferry codec serve ARGS --json` and waits for its ready document. */
  const serve = async (args: string[], e = env()): Promise<{ proc: PgferryProcess; url: string }> => {
    const proc = spawnPgferry(
      ['codec', 'serve', '--port', String(await freePort()), ...args, '--json'],
      e,
      dir,
    );
    running.push(proc);
    await proc.waitFor(/"ready": true/, 30_000);
    return { proc, url: (JSON.parse(proc.stdout) as { url: string }).url };
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-codec-'));
    await writeFile(path.join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  });

  afterAll(async () => {
    for (const p of running) p.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to start without a token or --insecure-no-auth: exit 2, naming the flag, the variable and the fix', async () => {
    const human = await runPgferry(['codec', 'serve', '--port', String(await freePort())], env(), dir);
    expect(human.code).toBe(2);
    expect(human.stderr).toContain('--token-file');
    expect(human.stderr).toContain('PGFERRY_CODEC_TOKEN');
    expect(human.stderr).toContain('--insecure-no-auth');
    const json = await runPgferry(['codec', 'serve', '--json'], env(), dir);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      error: { code: 'InvalidInput', field: 'token-file' },
    });
    const short = await runPgferry(['codec', 'serve', '--json'], env({ PGFERRY_CODEC_TOKEN: 'short' }), dir);
    expect(short.code).toBe(2);
    expect(JSON.parse(short.stdout)).toMatchObject({ error: { field: 'PGFERRY_CODEC_TOKEN' } });
  });

  it('refuses --insecure-no-auth on an address other machines reach, and a wildcard origin', async () => {
    const wide = await runPgferry(
      ['codec', 'serve', '--insecure-no-auth', '--host', '0.0.0.0', '--json'],
      env(),
      dir,
    );
    expect(wide.code).toBe(2);
    expect(JSON.parse(wide.stdout)).toMatchObject({ error: { field: 'insecure-no-auth' } });
    const star = await runPgferry(
      ['codec', 'serve', '--token-file', 'token', '--ui-origin', '*', '--json'],
      env(),
      dir,
    );
    expect(star.code).toBe(2);
    expect(JSON.parse(star.stdout)).toMatchObject({ error: { field: 'ui-origin' } });
  });

  it('with --token-file, requires the token and never prints it', async () => {
    const { proc, url } = await serve(['--token-file', 'token']);
    expect(new URL(url).hostname).toBe('127.0.0.1');
    const body = { payloads: [await sealed(codec, '"cli"')] };
    expect((await post(url, '/decode', body)).status).toBe(401);
    expect((await post(url, '/decode', body, bearer('nope'))).status).toBe(401);
    const ok = await post(url, '/decode', body, { ...bearer(TOKEN), origin: 'http://localhost:8233' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
    expect(await dataOf(ok)).toEqual(['"cli"']);
    expect((await preflight(url, FOREIGN)).status).toBe(403);
    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    expect(proc.stdout + proc.stderr).not.toContain(TOKEN);
  });

  it('takes PGFERRY_CODEC_TOKEN and the --ui-origin it is given', async () => {
    const ui = 'https://temporal.example.com';
    const { url } = await serve(['--ui-origin', ui], env({ PGFERRY_CODEC_TOKEN: TOKEN }));
    const ok = await post(url, '/decode', { payloads: [plain] }, { ...bearer(TOKEN), origin: ui });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ui);
    expect((await preflight(url, UI)).status).toBe(403);
  });

  it('with --insecure-no-auth, serves without a token and says so', async () => {
    const { proc, url } = await serve(['--insecure-no-auth']);
    expect(proc.stderr).toMatch(/warning: --insecure-no-auth/);
    expect(JSON.parse(proc.stdout)).toMatchObject({ auth: 'none' });
    const res = await post(url, '/decode', { payloads: [await sealed(codec, '"insecure"')] });
    expect(res.status).toBe(200);
    expect(await dataOf(res)).toEqual(['"insecure"']);
  });

  it('warns when --host is not a loopback address', async () => {
    const { proc } = await serve(['--host', '0.0.0.0', '--token-file', 'token']);
    expect(proc.stderr).toMatch(/warning: the codec server listens on 0\.0\.0\.0/);
  });
});
