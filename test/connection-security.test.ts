import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../activities';
import { libpqEnv } from '../activities/pg/connect';
import { findTool, runTool } from '../activities/tools';
import { parseConnectionUrl, tryParseConnectionUrl } from '../domain/connection';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { PreflightReport } from '../domain/migration';
import { rejectionOf, runActivity, testActivityDeps } from './helpers/activity-env';
import { expectFailure, failureOf } from './helpers/failure';
import {
  adminUrl,
  createEmptyDatabase,
  dropDatabase,
  query,
  runCommand,
  startThrowawayCluster,
  uniqueName,
  type ThrowawayCluster,
} from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { testEnv } from './helpers/temporal';

// The worker's own secrets, which no URL may have it send anywhere.
const FAKE_BOT_TOKEN = 'xoxb-fake-bot-token-of-the-worker';
const WORKER_PGPASSWORD = 'the-workers-own-pgpassword';
// A password variable the worker hands out, and one it lists in PGFERRY_PASSWORD_ENVS.
const STANDIN_ENV = 'PGFERRY_PASSWORD_STANDIN';
const STANDIN_PASSWORD = 'the password for the stand-in';
const LEGACY_ENV = 'LEGACY_DB_PASSWORD';
const LEGACY_PASSWORD = 'a listed legacy password';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** What a stand-in PostgreSQL server saw: connections accepted and cleartext passwords received. */
interface StandIn {
  readonly port: number;
  readonly connections: number;
  readonly passwords: readonly string[];
  url(query: string): string;
  close(): Promise<void>;
}

/** An ErrorResponse message: FATAL with a SQLSTATE and a message. */
function errorResponse(sqlstate: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${sqlstate}\0M${message}\0\0`, 'utf8');
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}

/** AuthenticationCleartextPassword: R, length 8, method 3. */
function cleartextPasswordRequest(): Buffer {
  const message = Buffer.alloc(9);
  message.write('R', 0);
  message.writeInt32BE(8, 1);
  message.writeInt32BE(3, 5);
  return message;
}

/**
 * Speaks just enough of the PostgreSQL protocol to steal a password: refuses TLS and GSS
 * encryption, answers the startup message with a request for a cleartext password, records what
 * comes back, and fails the login.
 */
async function startStandIn(): Promise<StandIn> {
  let connections = 0;
  const passwords: string[] = [];
  const sockets = new Set<Socket>();
  const serve = (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    let started = false;
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (!started) {
          if (buffer.length < 8 || buffer.length < buffer.readInt32BE(0)) return;
          const code = buffer.readInt32BE(4);
          buffer = buffer.subarray(buffer.readInt32BE(0));
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            socket.write('N');
            continue;
          }
          started = true;
          socket.write(cleartextPasswordRequest());
          continue;
        }
        if (buffer.length < 5 || buffer.length < 1 + buffer.readInt32BE(1)) return;
        const type = String.fromCharCode(buffer[0] ?? 0);
        const body = buffer.subarray(5, 1 + buffer.readInt32BE(1));
        buffer = buffer.subarray(1 + buffer.readInt32BE(1));
        if (type !== 'p') continue;
        passwords.push(body.toString('utf8').replace(/\0$/, ''));
        socket.end(errorResponse('28P01', 'password authentication failed'));
        return;
      }
    });
  };
  const server: Server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the stand-in has no port');
  return {
    port: address.port,
    get connections() {
      return connections;
    },
    get passwords() {
      return [...passwords];
    },
    url: (params) => `postgres://app@127.0.0.1:${address.port}/shop${params}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The report's result of one check; fails the test when the check is not in the report. */
function checkOf(report: PreflightReport, id: string): { ok: boolean; message: string } {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`check ${id} is not in the report`);
  return found;
}

describe('password_env: which worker variables a URL may send as a password', () => {
  const absentTarget = adminUrl(5432, uniqueName('pgferry_sec_absent'));
  let standIn: StandIn;

  beforeAll(async () => {
    standIn = await startStandIn();
  });
  afterAll(async () => {
    await standIn.close();
  });

  const suite = useTemporalSuite({
    env: () =>
      testEnv({
        SLACK_BOT_TOKEN: FAKE_BOT_TOKEN,
        [STANDIN_ENV]: STANDIN_PASSWORD,
        [LEGACY_ENV]: LEGACY_PASSWORD,
        PGFERRY_PASSWORD_ENVS: ` OTHER_NAME , ${LEGACY_ENV}`,
      }),
  });

  it('refuses a variable without the PGFERRY_PASSWORD_ prefix as InvalidInput, before connecting to anything.', async () => {
    const err = await rejectionOf(
      suite.client.preflight({ source: standIn.url('?password_env=SLACK_BOT_TOKEN'), target: absentTarget }),
    );
    expect(err).toBeInstanceOf(PgferryError);
    const refused = err as PgferryError;
    expect(refused.code).toBe(ErrorCode.InvalidInput);
    expect(refused.field).toBe('source');
    expect(refused.message).toContain('password_env=SLACK_BOT_TOKEN');
    expect(refused.fix).toContain('PGFERRY_PASSWORD_');
    expect(refused.fix).toContain('PGFERRY_PASSWORD_ENVS');
    expect(refused.describe()).not.toContain(FAKE_BOT_TOKEN);
    // The refusal comes from the worker before it opens any connection: none ever reached the stand-in.
    expect(standIn.connections).toBe(0);
    expect(standIn.passwords).toEqual([]);
  });

  it('refuses it on the target side too, naming the target.', async () => {
    const err = await rejectionOf(
      suite.client.preflight({
        source: adminUrl(5432, 'postgres'),
        target: standIn.url('?password_env=SLACK_BOT_TOKEN&sslmode=disable'),
      }),
    );
    expect((err as PgferryError).code).toBe(ErrorCode.InvalidInput);
    expect((err as PgferryError).field).toBe('target');
    expect(standIn.passwords).toEqual([]);
  });

  it('sends exactly the value of a PGFERRY_PASSWORD_ variable to the server that asks for it.', async () => {
    const report = await suite.client.preflight({
      source: standIn.url(`?password_env=${STANDIN_ENV}`),
      target: absentTarget,
    });
    // The stand-in fails every login: the check says so, and the stand-in got the one password.
    expect(checkOf(report, 'connect.source').ok).toBe(false);
    expect(standIn.passwords).toEqual([STANDIN_PASSWORD]);
  });

  it("sends a variable without the prefix that the worker's PGFERRY_PASSWORD_ENVS lists.", async () => {
    const before = standIn.passwords.length;
    await suite.client.preflight({
      source: standIn.url(`?password_env=${LEGACY_ENV}`),
      target: absentTarget,
    });
    expect(standIn.passwords.slice(before)).toEqual([LEGACY_PASSWORD]);
  });
});

describe('libpq tools: the password they send', () => {
  let standIn: StandIn;
  const saved = process.env.PGPASSWORD;

  beforeAll(async () => {
    standIn = await startStandIn();
    // The worker's own PGPASSWORD, which its tools inherit.
    process.env.PGPASSWORD = WORKER_PGPASSWORD;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.PGPASSWORD;
    else process.env.PGPASSWORD = saved;
    await standIn.close();
  });

  /** pg_dump against the stand-in, with the environment libpqEnv makes for `url` on a worker with `env`. */
  async function dumpFrom(url: string, env: Record<string, string>): Promise<void> {
    const spec = parseConnectionUrl(url, 'source');
    const result = await runTool(findTool('pg_dump', undefined), ['--schema-only', '--no-password'], {
      env: libpqEnv(spec, env, 'source'),
    });
    expect(result.code).not.toBe(0);
  }

  it("never sends the worker's own PGPASSWORD to the server a URL names.", async () => {
    await dumpFrom(standIn.url(''), {});
    // libpq sends a password only in a password message; the stand-in has a connection and no password.
    expect(standIn.connections).toBeGreaterThan(0);
    expect(standIn.passwords).toEqual([]);
  });

  it('sends the value of an allowed password_env, and refuses any other before running the tool.', async () => {
    await dumpFrom(standIn.url(`?password_env=${STANDIN_ENV}`), { [STANDIN_ENV]: STANDIN_PASSWORD });
    expect(standIn.passwords).toEqual([STANDIN_PASSWORD]);
    const spec = parseConnectionUrl(standIn.url('?password_env=SLACK_BOT_TOKEN'), 'source');
    expect(() => libpqEnv(spec, { SLACK_BOT_TOKEN: FAKE_BOT_TOKEN }, 'source')).toThrow(PgferryError);
  });
});

describe('prefer against a server that refuses TLS', () => {
  let standIn: StandIn;
  beforeAll(async () => {
    standIn = await startStandIn();
  });
  afterAll(async () => {
    await standIn.close();
  });

  it('asks for TLS, goes on in plain text, and for a while goes plain at once (one connection, as libpq).', async () => {
    const activities = createActivities(testActivityDeps({ env: { [STANDIN_ENV]: STANDIN_PASSWORD } }));
    const source = standIn.url(`?password_env=${STANDIN_ENV}`);
    const attempt = () => failureOf(runActivity(activities.checkBackupInput, { source, to: tmpdir() }));
    expectFailure(await attempt(), ErrorCode.AuthFailed, true, 'source');
    // The TLS request, refused, and the plain connection.
    expect(standIn.connections).toBe(2);
    expectFailure(await attempt(), ErrorCode.AuthFailed, true, 'source');
    expect(standIn.connections).toBe(3);
    expect(standIn.passwords).toEqual([STANDIN_PASSWORD, STANDIN_PASSWORD]);
  });
});

/** A CA, and a server certificate it signed for 127.0.0.1 (and no host name), made with openssl. */
async function makeCertificates(dir: string): Promise<void> {
  const openssl = (...args: string[]) => runCommand('openssl', args, { cwd: dir });
  const newKey = ['-nodes', '-newkey', 'rsa:2048'];
  await openssl(
    'req',
    '-x509',
    '-new',
    ...newKey,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=pgferry test CA',
  );
  await openssl(
    'req',
    '-new',
    ...newKey,
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=pgferry test server',
  );
  await writeFile(path.join(dir, 'san.cnf'), 'subjectAltName = IP:127.0.0.1\n');
  const signed = [
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'san.cnf',
  ];
  await openssl('x509', '-req', '-in', 'server.csr', ...signed, '-out', 'server.crt');
}

describe('sslmode against a server that accepts TLS connections only', () => {
  let certDir: string;
  let to: string;
  let cluster: ThrowawayCluster;
  let activities: Activities;

  beforeAll(async () => {
    certDir = await mkdtemp(path.join(tmpdir(), 'pgferry-certs-'));
    to = await mkdtemp(path.join(tmpdir(), 'pgferry-tls-backups-'));
    await makeCertificates(certDir);
    await writeFile(path.join(certDir, 'not-a-cert.pem'), 'just some text\n');
    cluster = await startThrowawayCluster({
      settings: ['ssl = on'],
      files: {
        'server.crt': await readFile(path.join(certDir, 'server.crt'), 'utf8'),
        'server.key': await readFile(path.join(certDir, 'server.key'), 'utf8'),
      },
      hba: 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n',
    });
    // The worker's certificate directory: the only place sslrootcert may name a file in.
    activities = createActivities(testActivityDeps({ env: { PGFERRY_SSL_DIR: certDir } }));
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    for (const dir of [certDir, to]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  const url = (params: string, host = '127.0.0.1') =>
    `postgres://postgres@${host}:${cluster.port}/postgres${params}`;
  const check = (source: string) => runActivity(activities.checkBackupInput, { source, to });
  // The test's own connections: TLS, not verified (node-postgres's no-verify).
  const admin = (db: string) => `${cluster.url(db)}?sslmode=no-verify`;

  it('refuses a plain connection: the server only has hostssl lines.', async () => {
    const failure = await failureOf(check(url('?sslmode=disable')));
    expectFailure(failure, ErrorCode.AuthFailed, true, 'source');
    expect(failure.message).toContain('no encryption');
  });

  it('connects with sslmode unset, prefer, allow and require (TLS, the certificate not verified).', async () => {
    for (const params of ['', '?sslmode=prefer', '?sslmode=allow', '?sslmode=require']) {
      const result = await check(url(params));
      expect(result.serverVersion).toMatch(/^15\./);
    }
  });

  it('connects with verify-ca and verify-full when sslrootcert names the CA, by file name or by path in the directory.', async () => {
    for (const params of [
      '?sslmode=verify-full&sslrootcert=ca.crt',
      `?sslmode=verify-full&sslrootcert=${encodeURIComponent(path.join(certDir, 'ca.crt'))}`,
      '?sslmode=verify-ca&sslrootcert=ca.crt',
    ]) {
      const result = await check(url(params));
      expect(result.serverVersion).toMatch(/^15\./);
    }
  });

  it('refuses verify-full against a host name the certificate does not name, saying which and how to fix it.', async () => {
    const failure = await failureOf(check(url('?sslmode=verify-full&sslrootcert=ca.crt', 'localhost')));
    expectFailure(failure, ErrorCode.ConnectionFailed, true, 'source');
    expect(failure.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(failure.message).toContain('localhost');
    expect(failure.details?.[0]).toMatchObject({ fix: expect.stringContaining('host name') });
    // verify-ca checks the chain only: the same host name passes.
    const result = await check(url('?sslmode=verify-ca&sslrootcert=ca.crt', 'localhost'));
    expect(result.serverVersion).toMatch(/^15\./);
  });

  it('refuses a CA file that does not verify the server (a require with a CA file verifies, as libpq).', async () => {
    const other = await mkdtemp(path.join(certDir, 'other-'));
    await makeCertificates(other);
    const name = `${path.basename(other)}/ca.crt`;
    for (const mode of ['verify-full', 'require']) {
      const failure = await failureOf(check(url(`?sslmode=${mode}&sslrootcert=${encodeURIComponent(name)}`)));
      expectFailure(failure, ErrorCode.ConnectionFailed, true, 'source');
      expect(failure.details?.[0]).toMatchObject({ fix: expect.stringContaining('sslrootcert') });
    }
  });

  it('refuses an sslrootcert that climbs out of the certificate directory already in the URL parser.', () => {
    const parsed = tryParseConnectionUrl(url('?sslmode=verify-full&sslrootcert=../etc/ca.crt'));
    expect('problem' in parsed && parsed.problem.fix).toContain('PGFERRY_SSL_DIR');
  });

  it('refuses an sslrootcert outside the certificate directory, or one that is not a certificate, before connecting.', async () => {
    for (const file of [
      '/etc/passwd',
      path.join(path.dirname(certDir), 'elsewhere.crt'),
      'not-a-cert.pem',
      'missing.crt',
    ]) {
      const source = url(`?sslmode=verify-full&sslrootcert=${encodeURIComponent(file)}`);
      const failure = await failureOf(check(source));
      expectFailure(failure, ErrorCode.InvalidInput, true, 'source');
      expect(failure.message).not.toContain('root:');
      expect(failure.details?.[0]).toMatchObject({ fix: expect.stringContaining('PGFERRY_SSL_DIR') });
    }
  });

  it('refuses verify-full without any CA certificate as InvalidInput.', async () => {
    const failure = await failureOf(
      runActivity(
        createActivities(
          testActivityDeps({
            env: { PGFERRY_SSL_DIR: certDir, PGSSLROOTCERT: path.join(certDir, 'absent.crt') },
          }),
        ).checkBackupInput,
        { source: url('?sslmode=verify-full'), to: certDir },
      ),
    );
    expectFailure(failure, ErrorCode.InvalidInput, true, 'source');
  });

  it('refuses require against a server without TLS as ConnectionFailed, and reaches it with prefer.', async () => {
    const plain = await startThrowawayCluster({ settings: ['ssl = off'] });
    try {
      const source = (params: string): string =>
        `postgres://postgres@127.0.0.1:${plain.port}/postgres${params}`;
      const failure = await failureOf(check(source('?sslmode=require')));
      expectFailure(failure, ErrorCode.ConnectionFailed, true, 'source');
      expect(failure.message).toContain('does not accept TLS');
      expect((await check(source('?sslmode=prefer'))).serverVersion).toMatch(/^15\./);
    } finally {
      await plain.stop();
    }
  }, 60_000);

  it('dumps with pg_dump and restores with pg_restore over TLS (verify-full), the tools given the CA.', async () => {
    await query(admin('postgres'), 'CREATE DATABASE tls_src');
    await query(
      admin('tls_src'),
      'CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)',
    );
    const verify = '?sslmode=verify-full&sslrootcert=ca.crt';
    const source = `postgres://postgres@127.0.0.1:${cluster.port}/tls_src${verify}`;
    const backup = await runActivity(activities.dumpDatabase, { source, to, name: 'tls', jobs: 2 });
    expect(backup.rows).toBe(100);
    const target = `postgres://postgres@127.0.0.1:${cluster.port}/tls_restored${verify}`;
    const marker = 'pgferry:tls-restore';
    await runActivity(activities.provisionDatabase, { target, marker });
    await runActivity(activities.restoreDatabase, { from: backup.backup, target, jobs: 2, marker });
    const [row] = await query<{ n: string }>(admin('tls_restored'), 'SELECT count(*) AS n FROM t');
    expect(row?.n).toBe('100');
  }, 120_000);
});

describe('pg_restore and a database named like a connection string', () => {
  const databases: string[] = [];
  let to: string;
  let activities: Activities;

  beforeAll(async () => {
    to = await mkdtemp(path.join(tmpdir(), 'pgferry-eq-backup-'));
    await chmod(to, 0o755);
    activities = createActivities(testActivityDeps());
  });
  afterAll(async () => {
    for (const name of databases) await dropDatabase(name, 5432);
    await rm(to, { recursive: true, force: true });
  });

  it('restores into the database the URL names, not into the one its name spells as dbname=…', async () => {
    const source = uniqueName('pgferry_sec_eq_src');
    const decoy = uniqueName('pgferry_sec_eq_decoy');
    const target = `dbname=${decoy}`;
    databases.push(source, decoy, target);
    const sourceUrl = await createEmptyDatabase(source);
    await query(
      sourceUrl,
      'CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 50)',
    );
    await createEmptyDatabase(decoy);
    const backup = await runActivity(activities.dumpDatabase, { source: sourceUrl, to, name: 'eq', jobs: 2 });

    const targetUrl = adminUrl(5432, target);
    const marker = 'pgferry:eq-restore';
    await runActivity(activities.provisionDatabase, { target: targetUrl, marker });
    await runActivity(activities.checkRestoreTarget, { from: backup.backup, target: targetUrl, marker });
    await runActivity(activities.restoreDatabase, {
      from: backup.backup,
      target: targetUrl,
      jobs: 2,
      marker,
    });

    // node-postgres's URL parser keeps %3D in a database name: the test connects by fields.
    const client = new Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: target });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM t');
      expect(rows[0]?.n).toBe('50');
    } finally {
      await client.end();
    }
    const decoyTables = await query(
      adminUrl(5432, decoy),
      `SELECT 1 FROM pg_tables WHERE schemaname = 'public'`,
    );
    expect(decoyTables).toEqual([]);
  }, 120_000);
});
