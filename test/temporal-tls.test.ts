import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PgferryClient } from '../client/pgferry-client';
import { ErrorCode, PgferryError } from '../domain/errors';
import { loadConfig } from '../worker/config';
import { startWorker, type RunningWorker } from '../worker/run';
import { loadTemporalConnection } from '../worker/temporal-connection';
import { makeCertificate, makeCertificateAuthority } from './helpers/certificates';
import { adminUrl, dropDatabase, query, runCommand, uniqueName } from './helpers/pg';
import { runPgferry, spawnPgferry } from './helpers/processes';
import { startTestWorker, stopWorker, testEnv, testNamespace } from './helpers/temporal';
import { startTlsTerminator, type TlsTerminator } from './helpers/tls-terminator';

/*
 * A Temporal frontend that requires TLS with a client certificate. `temporal server start-dev` (CLI
 * v1.5.1) has no TLS flags, so this is a TLS terminator written in the test (node:tls with
 * `requestCert` and `rejectUnauthorized`, ALPN h2, a CA, server and client certificates made here
 * with openssl) in front of the suite's plaintext dev server: each accepted TLS connection is piped
 * to the dev server's gRPC port. What it proves is the client side: the worker, the CLI, the library
 * and `chatops serve` read the profile of temporal.toml (@temporalio/envconfig) and present its
 * CA, server name and client certificate; a real cluster's TLS is the same handshake.
 */

interface CliError {
  ok: false;
  error: { code: string; message: string; field?: string; fix?: string };
}

function jsonOf<T>(stdout: string): T {
  return JSON.parse(stdout) as T;
}

async function databaseExists(name: string): Promise<boolean> {
  return (await query(adminUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
}

async function rejection(promise: Promise<unknown>): Promise<PgferryError> {
  const err = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  if (!(err instanceof PgferryError)) throw err;
  return err;
}

describe('a Temporal server that requires TLS with a client certificate, reached from a temporal.toml profile', () => {
  let dir: string;
  let terminator: TlsTerminator;
  /** The environment of every pgferry here: the config file, no TEMPORAL_ADDRESS or TEMPORAL_NAMESPACE. */
  let env: NodeJS.ProcessEnv;
  let worker: RunningWorker | undefined;
  const databases = [uniqueName('tls_lib'), uniqueName('tls_cli')];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-temporal-tls-'));
    const ca = await makeCertificateAuthority(dir, 'ca');
    const server = await makeCertificate(dir, ca, 'server', {
      commonName: 'localhost',
      serverNames: 'DNS:localhost,IP:127.0.0.1',
    });
    const client = await makeCertificate(dir, ca, 'client', { commonName: 'pgferry-client' });
    terminator = await startTlsTerminator({ server, clientCa: ca.cert, upstream: inject('temporalAddress') });
    const common = `address = "${terminator.address}"\nnamespace = "${testNamespace()}"\n`;
    const file = path.join(dir, 'temporal.toml');
    await writeFile(
      file,
      [
        `[profile.tls]\n${common}`,
        `[profile.tls.tls]\nserver_name = "localhost"\nserver_ca_cert_path = "${ca.cert}"`,
        `client_cert_path = "${client.cert}"\nclient_key_path = "${client.key}"\n`,
        `[profile.nocert]\n${common}`,
        `[profile.nocert.tls]\nserver_name = "localhost"\nserver_ca_cert_path = "${ca.cert}"\n`,
        `[profile.broken]\n${common}`,
        `[profile.broken.tls]\nserver_ca_cert_path = "${ca.cert}"`,
        `client_cert_path = "${path.join(dir, 'no-such.crt')}"\nclient_key_path = "${client.key}"\n`,
      ].join('\n'),
    );
    env = testEnv({ TEMPORAL_CONFIG_FILE: file });
    delete env.TEMPORAL_ADDRESS;
    delete env.TEMPORAL_NAMESPACE;
  });

  afterAll(async () => {
    await stopWorker(worker);
    await terminator?.close();
    for (const name of databases) await dropDatabase(name);
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the worker, the library, the CLI and chatops serve over mTLS with --profile tls.', async () => {
    // The worker (its run function, on the prebuilt bundle) with the profile from TEMPORAL_PROFILE.
    worker = await startTestWorker({ ...env, TEMPORAL_PROFILE: 'tls' });
    expect(terminator.accepted).toContain('pgferry-client');

    // The library: a provision the worker carries out.
    const client = await PgferryClient.connect({ env, profile: 'tls' });
    let libraryRun: string;
    try {
      const run = await client.provision({ provider: 'local', target: adminUrl(5432, databases[0]) });
      libraryRun = run.workflowId;
      expect(await run.result()).toMatchObject({ created: true });
    } finally {
      await client.close();
    }
    expect(await databaseExists(databases[0]!)).toBe(true);

    // The CLI: the global --profile flag, before or after the command.
    const provisioned = await runPgferry(
      ['--profile', 'tls', 'provision', '--target', adminUrl(5432, databases[1]), '--wait', '--json'],
      env,
    );
    expect(provisioned.code, provisioned.stderr).toBe(0);
    expect(await databaseExists(databases[1]!)).toBe(true);
    const listed = await runPgferry(['list', '--json', '--profile', 'tls'], env);
    expect(listed.code, listed.stderr).toBe(0);
    const ids = jsonOf<{ workflows: { id: string }[] }>(listed.stdout).workflows.map((w) => w.id);
    expect(ids).toContain(libraryRun);
    expect(ids).toContain(jsonOf<{ workflowId: string }>(provisioned.stdout).workflowId);

    // chatops serve connects before it listens: its ready line means it reached Temporal.
    const chatops = spawnPgferry(['chatops', 'serve', '--port', '0', '--json', '--profile', 'tls'], {
      ...env,
      SLACK_SIGNING_SECRET: 'test-signing-secret',
    });
    try {
      await chatops.waitFor(/"ready":true/, 30_000);
    } finally {
      chatops.child.kill('SIGTERM');
      await chatops.exited;
    }

    // The Temporal CLI reads the same file and profile, and sees the same workflow.
    const described = await runCommand(
      inject('temporalCliPath'),
      ['workflow', 'describe', '--workflow-id', libraryRun, '--profile', 'tls', '--output', 'json'],
      { env },
    );
    expect(described.stdout).toContain('WORKFLOW_EXECUTION_STATUS_COMPLETED');
    // Every connection presented the client certificate: none was refused.
    expect(terminator.refused).toEqual([]);
  });

  it('refuses an unknown profile, an unreadable certificate or a broken file with exit 2, naming it, before connecting.', async () => {
    const before = { accepted: terminator.accepted.length, refused: terminator.refused.length };
    const bad = path.join(dir, 'bad.toml');
    await writeFile(bad, '[profile.x\naddress = 1\n');
    const cases: { args: string[]; env?: NodeJS.ProcessEnv; field: string; says: RegExp }[] = [
      {
        args: ['list', '--profile', 'nosuch'],
        field: 'profile',
        says: /no profile "nosuch".*tls, nocert, broken/,
      },
      { args: ['list'], env: { TEMPORAL_PROFILE: 'nosuch' }, field: 'profile', says: /no profile "nosuch"/ },
      {
        args: ['list', '--profile', 'broken'],
        field: 'profile.broken.tls.client_cert_path',
        says: /no-such\.crt cannot be read \(ENOENT\)/,
      },
      {
        args: ['list', '--profile', 'tls'],
        env: { TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'gone.key') },
        field: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
        says: /gone\.key cannot be read/,
      },
      {
        args: ['list'],
        env: { TEMPORAL_CONFIG_FILE: bad },
        field: 'TEMPORAL_CONFIG_FILE',
        says: /not a valid temporal\.toml/,
      },
      {
        args: ['worker', '--profile', 'broken'],
        field: 'profile.broken.tls.client_cert_path',
        says: /cannot be read/,
      },
      {
        args: ['chatops', 'serve', '--port', '0', '--profile', 'nosuch'],
        env: { SLACK_SIGNING_SECRET: 'test-signing-secret' },
        field: 'profile',
        says: /no profile/,
      },
    ];
    for (const c of cases) {
      const result = await runPgferry([...c.args, '--json'], { ...env, ...c.env });
      const label = `${c.args.join(' ')}: ${result.stdout}${result.stderr}`;
      expect(result.code, label).toBe(2);
      const { error } = jsonOf<CliError>(result.stdout);
      expect(error, label).toMatchObject({ code: ErrorCode.InvalidInput, field: c.field });
      expect(error.message, label).toMatch(c.says);
      expect(error.fix, label).toBeTruthy();
    }
    const library = await rejection(PgferryClient.connect({ env, profile: 'broken' }));
    expect(library).toMatchObject({
      code: ErrorCode.InvalidInput,
      field: 'profile.broken.tls.client_cert_path',
    });
    // None of them opened a connection.
    expect({ accepted: terminator.accepted.length, refused: terminator.refused.length }).toEqual(before);
  });

  it('refuses a connection without the client certificate, naming what was tried (exit 1, TemporalUnavailable).', async () => {
    const accepted = terminator.accepted.length;
    const cli = await runPgferry(['list', '--json', '--profile', 'nocert'], env);
    expect(cli.code).toBe(1);
    const { error } = jsonOf<CliError>(cli.stdout);
    expect(error).toMatchObject({ code: ErrorCode.TemporalUnavailable, field: 'TEMPORAL_ADDRESS' });
    expect(error.message).toContain(terminator.address);
    expect(error.message).toContain('TLS without a client certificate');
    expect(error.message).toContain('profile nocert');
    expect(error.fix).toContain('client_cert_path');

    const library = await rejection(PgferryClient.connect({ env, profile: 'nocert' }));
    expect(library.code).toBe(ErrorCode.TemporalUnavailable);

    const refusedWorker = await rejection(
      startWorker(loadConfig(env, { profile: 'nocert' }), {
        workflowBundlePath: inject('workflowBundlePath'),
      }),
    );
    expect(refusedWorker.code).toBe(ErrorCode.TemporalUnavailable);
    expect(refusedWorker.message).toContain('TLS without a client certificate');

    // The terminator refused their handshakes for want of a certificate, and let none through.
    expect(terminator.refused.length).toBeGreaterThanOrEqual(3);
    expect(terminator.refused.every((why) => /certificate/.test(why))).toBe(true);
    expect(terminator.accepted.length).toBe(accepted);
  });

  it('reads the connection as the Temporal CLI does: variables over the profile, `default` unless another is named.', async () => {
    const file = path.join(dir, 'plain.toml');
    await writeFile(
      file,
      '[profile.default]\naddress = "file:7233"\nnamespace = "from-file"\n[profile.cloud]\naddress = "acct.tmprl.cloud:7233"\nnamespace = "ns.acct"\napi_key = "key-from-file"\n[profile.cloud.grpc_meta]\nsome-header = "v"\n',
    );
    const load = (vars: NodeJS.ProcessEnv, profile?: string) =>
      loadTemporalConnection({ TEMPORAL_CONFIG_FILE: file, ...vars }, { profile });
    expect(load({})).toMatchObject({
      address: 'file:7233',
      namespace: 'from-file',
      tls: undefined,
      profile: 'default',
    });
    expect(load({ TEMPORAL_ADDRESS: 'env:7233', TEMPORAL_NAMESPACE: '' })).toMatchObject({
      address: 'env:7233',
      namespace: 'from-file',
    });
    // An API key means TLS (system roots), as envconfig has it.
    expect(load({ TEMPORAL_PROFILE: 'cloud' })).toMatchObject({
      address: 'acct.tmprl.cloud:7233',
      namespace: 'ns.acct',
      apiKey: 'key-from-file',
      tls: {},
      metadata: { 'some-header': 'v' },
      profile: 'cloud',
    });
    expect(load({ TEMPORAL_API_KEY: 'key-from-env', TEMPORAL_TLS: 'false' }, 'cloud')).toMatchObject({
      apiKey: 'key-from-env',
      tls: undefined,
    });
    // No file at all: the variables and the defaults, as before profiles.
    expect(loadTemporalConnection({ TEMPORAL_CONFIG_FILE: path.join(dir, 'none.toml') })).toMatchObject({
      address: 'localhost:7233',
      namespace: 'default',
      profile: undefined,
      configFile: undefined,
    });
    expect(() => load({ TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'client.crt') })).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidInput, field: 'TEMPORAL_TLS_CLIENT_KEY_PATH' }),
    );
  });
});
