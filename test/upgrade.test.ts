import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseFingerprint, diffFingerprints, type DatabaseFingerprint } from './helpers/fingerprint';
import {
  adminUrl,
  cloneDatabase,
  createTemplateDatabase,
  DEFAULT_PG_BIN_DIR,
  dropDatabase,
  query,
  runCommand,
  startThrowawayCluster,
  type ThrowawayCluster,
  uniqueName,
} from './helpers/pg';
import { fingerprint17As15, pg17BinDir, startPg17Cluster, viewDefinitionsAs17 } from './helpers/pg17';
import { useTemporalSuite } from './helpers/suite';
import { testEnv } from './helpers/temporal';
import { waitFor } from './helpers/wait';

const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');

async function serverVersion(url: string): Promise<string> {
  const [row] = await query<{ server_version: string }>(url, 'SHOW server_version');
  return row?.server_version ?? '';
}

describe('major-version upgrade: offline migrations from PostgreSQL 15 to 17', () => {
  const template = uniqueName('upg_tpl');
  const source = uniqueName('upg_src');
  let binDir17: string;
  let pg17: ThrowawayCluster;
  let clustersDir: string;
  const clusterDataDirs: string[] = [];

  beforeAll(async () => {
    binDir17 = await pg17BinDir();
    await createTemplateDatabase(template, FIXTURE);
    await cloneDatabase(template, source);
    pg17 = await startPg17Cluster();
    // The postgres OS user runs the clusters the worker makes, so it must reach their folder.
    clustersDir = await mkdtemp(path.join(tmpdir(), 'pgferry-upgrade-clusters-'));
    await chmod(clustersDir, 0o755);
  });

  afterAll(async () => {
    // The provider's clusters keep running after the worker stops; an immediate stop is enough for a test.
    const pgCtl = path.join(binDir17, 'pg_ctl');
    for (const dataDir of clusterDataDirs) {
      const args = ['-D', dataDir, '-w', 'stop', '-m', 'immediate'];
      await (
        process.getuid?.() === 0
          ? runCommand('runuser', ['-u', 'postgres', '--', pgCtl, ...args])
          : runCommand(pgCtl, args)
      ).catch(() => undefined);
    }
    await pg17?.stop();
    await dropDatabase(source);
    await dropDatabase(template);
    if (clustersDir) await rm(clustersDir, { recursive: true, force: true });
  });

  // After the hooks above: the worker starts once PostgreSQL 17 is found, and stops before the clusters.
  const suite = useTemporalSuite({
    env: () =>
      testEnv({
        // Debian's 15 tools only: pg_dump 15 refuses a 17 server, so any dump of the target would fail.
        PGFERRY_PG_BINDIR: DEFAULT_PG_BIN_DIR,
        PGFERRY_CLUSTER_BINDIRS: `15=${DEFAULT_PG_BIN_DIR},17=${binDir17}`,
        PGFERRY_CLUSTERS_DIR: clustersDir,
      }),
  });

  it('migrates the fixture into a new database on a 17 server with only the 15 tools, losing nothing', async () => {
    const target = pg17.url(uniqueName('upgraded'));
    expect(await serverVersion(pg17.url())).toMatch(/^17\./);
    // The premise of PGFERRY_PG_BINDIR=15: pg_dump 15 cannot dump a 17 server.
    const dumpTarget = await runCommand(path.join(DEFAULT_PG_BIN_DIR, 'pg_dump'), [
      '--schema-only',
      '--dbname',
      pg17.url(),
    ]).catch((error: unknown) => error as Error);
    expect(dumpTarget).toBeInstanceOf(Error);
    expect((dumpTarget as Error).message).toContain('server version mismatch');

    const run = await suite.client.migrate({
      name: uniqueName('upgrade').replace(/_/g, '-'),
      source: adminUrl(5432, source),
      target,
      mode: 'offline',
      autoApprove: true,
      validate: 'checksums',
    });
    const result = await run.result();
    expect(result.outcome).toBe('completed');
    expect(result.validation?.ok).toBe(true);
    expect(result.preflight.ok).toBe(true);
    // Every table was checksummed on both servers (rows as text, which both majors print alike).
    expect(result.validation?.level).toBe('checksums');
    expect(
      result.validation?.tables.every((t) => t.sourceChecksum && t.sourceChecksum === t.targetChecksum),
    ).toBe(true);
    expect(result.largeObjects).toBe(3);
    expect(await serverVersion(target)).toMatch(/^17\./);

    const source15 = await databaseFingerprint(adminUrl(5432, source));
    const target17 = await databaseFingerprint(target);
    // Data, sequence values and large objects must match as they are: no normalization touches them.
    expect(target17.data).toEqual(source15.data);
    expect(target17.sequences).toEqual(source15.sequences);
    expect(target17.largeObjects).toEqual(source15.largeObjects);
    expect(target17.largeObjects.count).toBe(3);
    // The catalog, after mapping the documented ways 17 records the same objects differently.
    const diff = diffFingerprints(
      await viewDefinitionsAs17(source15, target),
      fingerprint17As15(source15, target17),
    );
    expect(diff).toEqual([]);
  });

  it('migrates online from a 15 server with wal_level=logical to 17 under writes, losing nothing', async () => {
    const logical = await startThrowawayCluster({ walLevel: 'logical' });
    try {
      await query(logical.url(), 'CREATE DATABASE shop');
      await runCommand('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', FIXTURE, logical.url('shop')]);
      // Online replication needs a replica identity on every table (preflight names the ones without).
      await query(
        logical.url('shop'),
        `ALTER TABLE public.raw_log REPLICA IDENTITY FULL;
         ALTER TABLE inventory.stock_p0 REPLICA IDENTITY FULL;
         ALTER TABLE inventory.stock_p1 REPLICA IDENTITY FULL;
         CREATE TABLE public.live (id bigserial PRIMARY KEY, v text NOT NULL);`,
      );
      const target = pg17.url(uniqueName('online17'));
      const name = uniqueName('online17').replace(/_/g, '-');
      const run = await suite.client.migrate({
        name,
        source: logical.url('shop'),
        target,
        mode: 'online',
        validate: 'checksums',
      });
      // A row every poll: writes flow while the copy and the replication run.
      await waitFor(
        'the approval gate',
        async () => {
          await query(
            logical.url('shop'),
            "INSERT INTO public.live (v) VALUES ('while copying and replicating')",
          );
          return (await suite.client.status(name)).state === 'waiting' ? true : undefined;
        },
        60_000,
        100,
      );
      await query(
        logical.url('shop'),
        "INSERT INTO public.live (v) SELECT 'at the gate ' || g FROM generate_series(1, 50) g",
      );
      await suite.client.approve(name, { by: 'alice', reason: '15 to 17' });
      const result = await run.result();
      expect(result.outcome).toBe('completed');
      expect(result.validation?.ok).toBe(true);
      const source15 = await databaseFingerprint(logical.url('shop'));
      const target17 = await databaseFingerprint(target);
      expect(Number(source15.data['public.live']?.rows ?? 0)).toBeGreaterThan(50);
      expect(target17.data).toEqual(source15.data);
      expect(target17.sequences).toEqual(source15.sequences);
      expect(target17.largeObjects).toEqual(source15.largeObjects);
      const diff = diffFingerprints(
        await viewDefinitionsAs17(source15, target),
        fingerprint17As15(source15, target17),
      );
      expect(diff).toEqual([]);
    } finally {
      await logical.stop();
    }
  });

  it('provisions a local PostgreSQL 17 cluster from the worker’s PGFERRY_CLUSTER_BINDIRS', async () => {
    const cluster = uniqueName('pg17');
    // Recorded before it exists, so afterAll stops it even when this test fails halfway.
    clusterDataDirs.push(path.join(clustersDir, cluster));
    const run = await suite.client.provision({
      provider: 'local-cluster',
      cluster,
      database: 'app',
      pgVersion: 17,
    });
    const result = await run.result();
    expect(result.dataDir).toBe(path.join(clustersDir, cluster));
    expect(result.provider).toBe('local-cluster');
    expect(result.created).toBe(true);
    expect(result.serverVersion).toMatch(/^17\./);
    expect(await serverVersion(result.target)).toMatch(/^17\./);
    const [db] = await query<{ db: string }>(result.target, 'SELECT current_database() AS db');
    expect(db?.db).toBe('app');
  });
});

describe('the 15 → 17 fingerprint mapping', () => {
  const fingerprint = (schema: DatabaseFingerprint['schema']): DatabaseFingerprint => ({
    schema,
    data: {},
    sequences: {},
    largeObjects: { count: 0, objects: {} },
  });
  const partitioned = {
    'relation s.root': { partitionBound: null, parents: null },
    'relation s.part': { partitionBound: 'DEFAULT', parents: ['s.root'] },
    'relation s.plain': { partitionBound: null, parents: null },
  };

  it('maps only ALL with MAINTAIN and identities inherited from the partition root, nothing else', () => {
    const source15 = fingerprint({
      ...partitioned,
      'relation s.t': { acl: 'bob=arwdDxt/postgres,postgres=a*r*w*d*D*x*t*/postgres,eve=r/postgres' },
      'column s.root.id': { identity: 'd' },
      'column s.part.id': { identity: '' },
      'column s.part.other': { identity: '' },
      'column s.plain.id': { identity: '' },
    });
    const target17 = fingerprint({
      ...partitioned,
      'relation s.t': {
        acl: 'bob=arwdDxtm/postgres,postgres=a*r*w*d*D*x*t*m*/postgres,eve=rm/postgres',
      },
      'column s.root.id': { identity: 'd' },
      'column s.part.id': { identity: 'd' },
      'column s.part.other': { identity: 'a' },
      'column s.plain.id': { identity: 'd' },
    });
    expect(diffFingerprints(source15, fingerprint17As15(source15, target17))).toEqual([
      'column s.part.other: identity differs: "" vs "a"',
      'column s.plain.id: identity differs: "" vs "d"',
      'relation s.t: acl differs: "bob=arwdDxt/postgres,postgres=a*r*w*d*D*x*t*/postgres,eve=r/postgres" vs "bob=arwdDxt/postgres,postgres=a*r*w*d*D*x*t*/postgres,eve=rm/postgres"',
    ]);
  });
});
