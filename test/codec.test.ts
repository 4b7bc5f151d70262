import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../domain/constants';
import { ErrorCode, PgferryError } from '../domain/errors';
import { ENCRYPTED_ENCODING, EncryptionCodec, KEY_ID_METADATA, type CodecKey } from '../worker/codec';
import { loadCodecKey, loadConfig } from '../worker/config';

const decoder = new TextDecoder();

function key(id: string): CodecKey {
  return { id, key: randomBytes(32) };
}

/** What a client does to a workflow argument: the payload converter, then the codec. */
async function seal(codec: EncryptionCodec, value: unknown): Promise<Payload> {
  const [payload] = await codec.encode([defaultPayloadConverter.toPayload(value)]);
  return payload!;
}

/** What a worker does to it: the codec, then the payload converter. */
async function open(codec: EncryptionCodec, payload: Payload): Promise<unknown> {
  const [decoded] = await codec.decode([payload]);
  return defaultPayloadConverter.fromPayload(decoded!);
}

function metadata(payload: Payload, name: string): string | undefined {
  const value = payload.metadata?.[name];
  return value ? decoder.decode(value) : undefined;
}

describe('EncryptionCodec', () => {
  const values: unknown[] = [
    { source: 'postgres://postgres@db.example.com:5432/app', to: '/backups', jobs: 2 },
    { nested: { list: [1, 'zwei', null, true], unicode: 'café 日本 🐘' } },
    'a plain string',
    42,
    null,
    undefined,
  ];

  it('returns every JSON value unchanged after a round trip through the payload converter.', async () => {
    const codec = new EncryptionCodec(key('k1'));
    for (const value of values) {
      expect(await open(codec, await seal(codec, value))).toEqual(value);
    }
  });

  it('encodes and decodes a batch of payloads in order.', async () => {
    const codec = new EncryptionCodec(key('k1'));
    const sealed = await codec.encode(values.map((v) => defaultPayloadConverter.toPayload(v)));
    const opened = await codec.decode(sealed);
    expect(opened.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(values);
  });

  it('leaves no trace of the plaintext in the encrypted payload.', async () => {
    const codec = new EncryptionCodec(key('k1'));
    const plain = defaultPayloadConverter.toPayload({ password: 'hunter2-secret' });
    // The check is only meaningful if the plain payload does carry the secret.
    expect(Buffer.from(plain.data!).includes('hunter2-secret')).toBe(true);
    const [sealed] = await codec.encode([plain]);
    expect(Buffer.from(sealed!.data!).includes('hunter2-secret')).toBe(false);
    expect(Buffer.from(sealed!.data!).toString('base64')).not.toContain(
      Buffer.from('hunter2-secret').toString('base64'),
    );
    for (const value of Object.values(sealed!.metadata ?? {})) {
      expect(decoder.decode(value)).not.toContain('hunter2');
    }
    // Nor does it say what the inner encoding was.
    expect(metadata(sealed!, 'encoding')).not.toBe('json/plain');
  });

  it('marks an encrypted payload as binary/encrypted and names its key.', async () => {
    const codec = new EncryptionCodec(key('key-2026'));
    const sealed = await seal(codec, { any: 'thing' });
    expect(metadata(sealed, 'encoding')).toBe(ENCRYPTED_ENCODING);
    expect(metadata(sealed, 'encoding')).toBe('binary/encrypted');
    expect(metadata(sealed, KEY_ID_METADATA)).toBe('key-2026');
  });

  it('uses a fresh IV, so that the same value never encrypts to the same bytes twice.', async () => {
    const codec = new EncryptionCodec(key('k1'));
    const a = await seal(codec, 'same');
    const b = await seal(codec, 'same');
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false);
  });

  it('passes a plain payload from an unencrypting client through decode unchanged.', async () => {
    const codec = new EncryptionCodec(key('k1'));
    const plain = defaultPayloadConverter.toPayload({ hello: 'world' });
    const [decoded] = await codec.decode([plain]);
    expect(decoded).toBe(plain);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual({ hello: 'world' });
  });

  it('refuses a payload made under a key it does not have, as InvalidInput naming the key setting.', async () => {
    const sealed = await seal(new EncryptionCodec(key('theirs')), { x: 1 });
    const decoding = new EncryptionCodec(key('ours')).decode([sealed]);
    await expect(decoding).rejects.toBeInstanceOf(PgferryError);
    await expect(new EncryptionCodec(key('ours')).decode([sealed])).rejects.toMatchObject({
      code: ErrorCode.InvalidInput,
      field: 'PGFERRY_CODEC_KEY',
    });
  });

  it('refuses a payload made under another key of the same id.', async () => {
    const sealed = await seal(new EncryptionCodec(key('k1')), { x: 1 });
    await expect(new EncryptionCodec(key('k1')).decode([sealed])).rejects.toThrow();
  });

  it('refuses ciphertext that was tampered with anywhere: IV, body or tag.', async () => {
    const codec = new EncryptionCodec(key('k1'));
    const sealed = await seal(codec, { amount: 100 });
    const length = sealed.data!.length;
    for (const at of [0, 20, length - 1]) {
      const data = Buffer.from(sealed.data!);
      data[at] = data[at]! ^ 0x01;
      await expect(codec.decode([{ ...sealed, data }])).rejects.toThrow();
    }
  });

  it('refuses ciphertext that was cut short.', async () => {
    const codec = new EncryptionCodec(key('k1'));
    const sealed = await seal(codec, { amount: 100 });
    await expect(codec.decode([{ ...sealed, data: sealed.data!.subarray(0, 20) }])).rejects.toThrow();
  });

  it('decodes payloads of the old key after rotation, and encrypts new ones under the new key.', async () => {
    const oldKey = key('k1');
    const newKey = key('k2');
    const before = new EncryptionCodec(oldKey);
    const after = new EncryptionCodec(newKey, [oldKey]);
    const old = await seal(before, { made: 'before rotation' });
    expect(await open(after, old)).toEqual({ made: 'before rotation' });
    const fresh = await seal(after, { made: 'after rotation' });
    expect(metadata(fresh, KEY_ID_METADATA)).toBe('k2');
    // A process that never got the new key cannot read what was written after the rotation.
    await expect(before.decode([fresh])).rejects.toMatchObject({ code: ErrorCode.InvalidInput });
  });

  it('refuses a key that is not 32 bytes long, current or older.', () => {
    for (const length of [0, 16, 31, 33, 64]) {
      let caught: unknown;
      try {
        new EncryptionCodec({ id: 'bad', key: randomBytes(length) });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(PgferryError);
      expect(caught).toMatchObject({ code: ErrorCode.InvalidInput, field: 'PGFERRY_CODEC_KEY' });
    }
    expect(() => new EncryptionCodec(key('k2'), [{ id: 'k1', key: randomBytes(16) }])).toThrow(PgferryError);
  });
});

describe('loadConfig', () => {
  /** The PgferryError loadConfig throws for `env`; anything else fails the test. */
  function configError(env: NodeJS.ProcessEnv): PgferryError {
    try {
      loadConfig(env);
    } catch (err) {
      if (err instanceof PgferryError) return err;
      throw err;
    }
    throw new Error('expected loadConfig to refuse the environment');
  }

  it('falls back to the shared defaults when the environment says nothing.', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      temporal: {
        address: DEFAULTS.temporalAddress,
        namespace: DEFAULTS.temporalNamespace,
        tls: undefined,
        apiKey: undefined,
        profile: undefined,
      },
      dataConcurrency: DEFAULTS.dataConcurrency,
      codecKey: undefined,
      codecKeyId: 'k1',
      clusterUser: 'postgres',
      logLevel: 'info',
      pgBinDir: undefined,
    });
    const stateDir = path.resolve(DEFAULTS.stateDir);
    expect(config.stateDir).toBe(stateDir);
    expect(config.codecKeyFile).toBe(path.join(stateDir, 'codec-key.json'));
    expect(config.clustersDir).toBe(path.join(stateDir, 'clusters'));
  });

  it('reads every setting it knows from the environment and ignores the rest.', () => {
    const config = loadConfig({
      PATH: '/usr/bin',
      HOME: '/home/someone',
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_NAMESPACE: 'pgferry',
      PGFERRY_STATE_DIR: '/var/lib/pgferry',
      PGFERRY_CODEC_KEY_ID: 'prod-2026',
      PGFERRY_CODEC_KEY_FILE: '/etc/pgferry/key.json',
      PGFERRY_PG_BINDIR: '/usr/lib/postgresql/17/bin',
      PGFERRY_CLUSTERS_DIR: '/srv/clusters',
      PGFERRY_CLUSTER_BINDIRS: '15=/opt/pg15/bin,17=/opt/pg17/bin',
      PGFERRY_CLUSTER_USER: 'pgferry',
      PGFERRY_DATA_CONCURRENCY: '8',
      PGFERRY_LOG_LEVEL: 'debug',
      SLACK_BOT_TOKEN: 'xoxb-1',
      SLACK_API_URL: 'https://slack.example/api/',
      PGFERRY_SLACK_CHANNEL: 'C0123ABCD',
      PGFERRY_WEBHOOK_SECRET: 'shh',
    });
    expect(config).toEqual({
      temporal: {
        address: 'temporal:7233',
        namespace: 'pgferry',
        tls: undefined,
        apiKey: undefined,
        metadata: undefined,
        profile: undefined,
        configFile: undefined,
      },
      stateDir: '/var/lib/pgferry',
      codecKeyFile: '/etc/pgferry/key.json',
      codecKey: undefined,
      codecKeyId: 'prod-2026',
      pgBinDir: '/usr/lib/postgresql/17/bin',
      clustersDir: '/srv/clusters',
      clusterBinDirs: { 15: '/opt/pg15/bin', 17: '/opt/pg17/bin' },
      defaultClusterVersion: 15,
      clusterUser: 'pgferry',
      dataConcurrency: 8,
      logLevel: 'debug',
      slackBotToken: 'xoxb-1',
      slackApiUrl: 'https://slack.example/api/',
      slackChannel: 'C0123ABCD',
      webhookSecret: 'shh',
    });
  });

  it('takes the newest configured cluster major when 15 is not among them, unless one is set.', () => {
    expect(loadConfig({ PGFERRY_CLUSTER_BINDIRS: '13=/a,17=/b' }).defaultClusterVersion).toBe(17);
    expect(
      loadConfig({ PGFERRY_CLUSTER_BINDIRS: '13=/a,17=/b', PGFERRY_CLUSTER_VERSION: '13' })
        .defaultClusterVersion,
    ).toBe(13);
  });

  it('refuses a bad PGFERRY_DATA_CONCURRENCY, naming it in the error field and message.', () => {
    for (const value of ['lots', '0', '257', '1.5']) {
      const err = configError({ PGFERRY_DATA_CONCURRENCY: value });
      expect(err.code).toBe(ErrorCode.InvalidInput);
      expect(err.field).toBe('PGFERRY_DATA_CONCURRENCY');
      expect(err.message).toContain('PGFERRY_DATA_CONCURRENCY');
    }
  });

  it('takes an empty variable as unset, as compose makes of an unset one.', () => {
    expect(loadConfig({ PGFERRY_DATA_CONCURRENCY: '', TEMPORAL_ADDRESS: '' })).toMatchObject({
      dataConcurrency: 4,
      temporal: expect.objectContaining({ address: 'localhost:7233' }),
    });
    expect(loadConfig({ PGFERRY_CODEC_KEY: '' }).codecKey).toBeUndefined();
  });

  it('names the variable at fault for other bad settings too.', () => {
    const cases: [string, string][] = [
      ['PGFERRY_LOG_LEVEL', 'loud'],
      ['PGFERRY_CODEC_KEY_ID', 'has spaces'],
      ['PGFERRY_CLUSTER_BINDIRS', '/usr/lib/postgresql/15/bin'],
      ['PGFERRY_CLUSTER_VERSION', '9'],
    ];
    for (const [name, value] of cases) {
      expect(configError({ [name]: value })).toMatchObject({ code: ErrorCode.InvalidInput, field: name });
    }
  });
});

describe('loadCodecKey', () => {
  const dirs: string[] = [];
  async function stateDir(): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'pgferry-codec-test-'));
    dirs.push(dir);
    return dir;
  }

  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('makes a 0600 key file in the state dir on first use and returns the same key the second time.', async () => {
    const dir = await stateDir();
    const config = loadConfig({ PGFERRY_STATE_DIR: dir });
    const first = await loadCodecKey(config);
    const file = path.join(dir, 'codec-key.json');
    expect(config.codecKeyFile).toBe(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(first.key).toHaveLength(32);
    expect(first.id).toMatch(/^k1-[0-9a-f]{6}$/);
    const second = await loadCodecKey(config);
    expect(second.id).toBe(first.id);
    expect(second.key.equals(first.key)).toBe(true);
    // And the key it made is one the codec accepts.
    expect(() => new EncryptionCodec(first)).not.toThrow();
  });

  it('creates a state dir that does not exist yet.', async () => {
    const dir = path.join(await stateDir(), 'nested', 'state');
    const made = await loadCodecKey(loadConfig({ PGFERRY_STATE_DIR: dir }));
    expect(made.key).toHaveLength(32);
    expect((await stat(path.join(dir, 'codec-key.json'))).isFile()).toBe(true);
  });

  it('gives two processes starting at once the same key.', async () => {
    const config = loadConfig({ PGFERRY_STATE_DIR: await stateDir() });
    const [a, b] = await Promise.all([loadCodecKey(config), loadCodecKey(config)]);
    expect(a.id).toBe(b.id);
    expect(a.key.equals(b.key)).toBe(true);
  });

  it('lets PGFERRY_CODEC_KEY win over the key file, under PGFERRY_CODEC_KEY_ID.', async () => {
    const dir = await stateDir();
    const fromFile = await loadCodecKey(loadConfig({ PGFERRY_STATE_DIR: dir }));
    const raw = randomBytes(32);
    const fromEnv = await loadCodecKey(
      loadConfig({
        PGFERRY_STATE_DIR: dir,
        PGFERRY_CODEC_KEY: raw.toString('base64'),
        PGFERRY_CODEC_KEY_ID: 'ops',
      }),
    );
    expect(fromEnv.id).toBe('ops');
    expect(fromEnv.key.equals(raw)).toBe(true);
    expect(fromEnv.key.equals(fromFile.key)).toBe(false);
  });

  it('makes no key file when PGFERRY_CODEC_KEY is set.', async () => {
    const dir = await stateDir();
    await loadCodecKey(
      loadConfig({ PGFERRY_STATE_DIR: dir, PGFERRY_CODEC_KEY: randomBytes(32).toString('base64') }),
    );
    await expect(stat(path.join(dir, 'codec-key.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a key file that is not a pgferry key file, naming PGFERRY_CODEC_KEY_FILE.', async () => {
    const dir = await stateDir();
    const file = path.join(dir, 'codec-key.json');
    await writeFile(file, 'not json');
    await expect(loadCodecKey(loadConfig({ PGFERRY_STATE_DIR: dir }))).rejects.toMatchObject({
      code: ErrorCode.InvalidInput,
      field: 'PGFERRY_CODEC_KEY_FILE',
    });
    // The file is left alone: a person decides whether to remove it.
    expect(await readFile(file, 'utf8')).toBe('not json');
  });
});
