import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionCodec } from '../worker/codec';
import { startCodecServer, type CodecServer } from '../worker/codec-server';

const UI = 'http://127.0.0.1:8233';

describe('the codec server the Temporal UI and CLI decode payloads with', () => {
  const codec = new EncryptionCodec({ id: 'k-test', key: randomBytes(32) });
  let open: CodecServer;
  let guarded: CodecServer;

  beforeAll(async () => {
    open = await startCodecServer({ codec, port: 0, origins: [UI] });
    guarded = await startCodecServer({ codec, port: 0, token: 's3cret-token' });
  });

  afterAll(async () => {
    await open?.close();
    await guarded?.close();
  });

  const post = (server: CodecServer, path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  const plain = {
    metadata: { encoding: Buffer.from('json/plain').toString('base64') },
    data: Buffer.from(JSON.stringify({ by: 'alice', reason: 'hunter2-free' })).toString('base64'),
  };

  it('encrypts over POST /encode and decrypts back over POST /decode', async () => {
    const encoded = (await (await post(open, '/encode', { payloads: [plain] })).json()) as {
      payloads: { metadata: Record<string, string>; data: string }[];
    };
    const sealed = encoded.payloads[0]!;
    expect(Buffer.from(sealed.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
    expect(Buffer.from(sealed.data, 'base64').toString('latin1')).not.toContain('alice');
    const decoded = (await (await post(open, '/decode', { payloads: [sealed] })).json()) as {
      payloads: unknown[];
    };
    expect(decoded.payloads[0]).toEqual(plain);
  });

  it('decodes what a worker encrypted, and passes plain payloads through', async () => {
    const [sealed] = await codec.encode([
      { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"ok"') },
    ]);
    const body = {
      payloads: [
        {
          metadata: {
            encoding: Buffer.from(sealed!.metadata!.encoding!).toString('base64'),
            'encryption-key-id': Buffer.from('k-test').toString('base64'),
          },
          data: Buffer.from(sealed!.data!).toString('base64'),
        },
        plain,
      ],
    };
    const decoded = (await (await post(open, '/decode', body)).json()) as { payloads: { data: string }[] };
    expect(Buffer.from(decoded.payloads[0]!.data, 'base64').toString()).toBe('"ok"');
    expect(decoded.payloads[1]).toEqual(plain);
  });

  it('answers the UI’s CORS preflight for its origin only', async () => {
    const preflight = await fetch(`${open.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: UI,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(UI);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/X-Namespace/i);
    const foreign = await fetch(`${open.url}/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.example' },
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('requires the bearer token when PGFERRY_CODEC_TOKEN is set, and refuses bad requests clearly', async () => {
    expect((await post(guarded, '/decode', { payloads: [plain] })).status).toBe(401);
    expect(
      (await post(guarded, '/decode', { payloads: [plain] }, { authorization: 'Bearer wrong' })).status,
    ).toBe(401);
    expect(
      (await post(guarded, '/decode', { payloads: [plain] }, { authorization: 'Bearer s3cret-token' }))
        .status,
    ).toBe(200);
    expect((await post(open, '/decode', { nothing: true })).status).toBe(400);
    expect((await post(open, '/other', { payloads: [] })).status).toBe(404);
    const unknownKey = {
      metadata: {
        encoding: Buffer.from('binary/encrypted').toString('base64'),
        'encryption-key-id': Buffer.from('k-other').toString('base64'),
      },
      data: '',
    };
    expect((await post(open, '/decode', { payloads: [unknownKey] })).status).toBe(400);
  });
});
