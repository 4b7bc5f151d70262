import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writePidRecord } from '../activities/orphans';
import { createActivities, type Activities } from '../activities';
import type { ActivityDeps } from '../activities/deps';
import type { BackupManifest, BackupResult } from '../domain/contracts';
import { ErrorCode } from '../domain/errors';
import { runActivity as run, testActivityDeps } from './helpers/activity-env';
import { expectFailure, failureOf } from './helpers/failure';
import { waitFor } from './helpers/wait';
import { databaseFingerprint, diffFingerprints, type DatabaseFingerprint } from './helpers/fingerprint';
import {
  adminUrl,
  cloneDatabase,
  createEmptyDatabase,
  createTemplateDatabase,
  DEFAULT_PG_BIN_DIR,
  dropDatabase,
  freePort,
  query,
  quoteIdent,
  runCommand,
  startThrowawayCluster,
  uniqueName,
  withClient,
  type ThrowawayCluster,
} from './helpers/pg';

const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');
const PASSWORD_ENV = 'PGFERRY_PASSWORD_ACTIVITY_TEST';
const WRONG_PASSWORD_ENV = 'PGFERRY_PASSWORD_ACTIVITY_TEST_WRONG';
const SCRAM_PASSWORD = 'activity-Scrâm-password';

async function sha256Of(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

async function filesBelow(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

async function readManifestJson(backup: string): Promise<BackupManifest> {
  return JSON.parse(await readFile(path.join(backup, 'manifest.json'), 'utf8')) as BackupManifest;
}

/** The database a URL names. */
function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

/** The comment pgferry stamps on a database it provisioned; null when there is none. */
async function databaseComment(name: string): Promise<string | null> {
  const [row] = await query<{ comment: string | null }>(
    adminUrl(),
    `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
    [name],
  );
  return row?.comment ?? null;
}

describe('activities against a real PostgreSQL', () => {
  const template = uniqueName('pgferry_act_tpl');
  const databases: string[] = [];
  const tempDirs: string[] = [];
  const clusters: ThrowawayCluster[] = [];
  const localClusterDataDirs: string[] = [];
  let root: string;
  let deps: ActivityDeps;
  let activities: Activities;

  /** A fresh database name on the shared server, dropped in afterAll. */
  function newDatabaseName(label: string): string {
    const name = uniqueName(`pgferry_act_${label}`);
    databases.push(name);
    return name;
  }

  /** A clone of the fixture database, dropped in afterAll. */
  async function cloneFixture(label: string): Promise<string> {
    return cloneDatabase(template, newDatabaseName(label));
  }

  /** A fresh directory below this file's temp root, removed with it in afterAll. */
  function tempDir(label: string): Promise<string> {
    return mkdtemp(path.join(root, `${label}-`));
  }

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'pgferry-activities-'));
    tempDirs.push(root);
    // Local clusters run as the postgres OS user, which must be able to reach its data directory.
    await chmod(root, 0o755);
    const clustersDir = path.join(root, 'clusters');
    await mkdir(clustersDir, { mode: 0o755 });
    deps = testActivityDeps({
      env: { [PASSWORD_ENV]: SCRAM_PASSWORD, [WRONG_PASSWORD_ENV]: 'not-the-password' },
      clustersDir,
    });
    activities = createActivities(deps);
    await createTemplateDatabase(template, FIXTURE);
  }, 60_000);

  afterAll(async () => {
    for (const dataDir of localClusterDataDirs) {
      await runCommand('runuser', [
        '-u',
        'postgres',
        '--',
        path.join(DEFAULT_PG_BIN_DIR, 'pg_ctl'),
        '-D',
        dataDir,
        'stop',
        '-m',
        'immediate',
      ]).catch(() => undefined);
    }
    for (const cluster of clusters) await cluster.stop();
    for (const db of databases) await dropDatabase(db).catch(() => undefined);
    await dropDatabase(template);
    for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  describe('provisionDatabase', () => {
    it('creates an absent database and stamps it with the marker', async () => {
      const name = newDatabaseName('prov_new');
      const result = await run(activities.provisionDatabase, {
        target: adminUrl(5432, name),
        marker: 'pgferry:new',
      });
      expect(result).toMatchObject({ provider: 'local', created: true, marker: 'pgferry:new' });
      expect(result.serverVersion).toMatch(/^15\./);
      expect(await databaseComment(name)).toBe('pgferry:new');
    });

    it('reuses an existing empty database and claims it', async () => {
      const name = newDatabaseName('prov_empty');
      await createEmptyDatabase(name);
      const result = await run(activities.provisionDatabase, {
        target: adminUrl(5432, name),
        marker: 'pgferry:empty',
      });
      expect(result.created).toBe(false);
      expect(await databaseComment(name)).toBe('pgferry:empty');
    });

    it('refuses a non-empty database that it did not create', async () => {
      const url = await cloneFixture('prov_full');
      const failure = await failureOf(
        run(activities.provisionDatabase, { target: url, marker: 'pgferry:full' }),
      );
      expectFailure(failure, ErrorCode.TargetNotEmpty, true, 'target');
      expect(await databaseComment(databaseName(url))).toBeNull();
    });

    it('resumes on a database that carries its marker even once it holds objects', async () => {
      const name = newDatabaseName('prov_resume');
      const input = { target: adminUrl(5432, name), marker: 'pgferry:resume' };
      expect((await run(activities.provisionDatabase, input)).created).toBe(true);
      await query(adminUrl(5432, name), 'CREATE TABLE half_restored (id int)');
      const again = await run(activities.provisionDatabase, input);
      expect(again.created).toBe(false);
      expect(await query(adminUrl(5432, name), 'SELECT * FROM half_restored')).toEqual([]);
    });

    it('fails with ConnectionFailed when nothing listens on the port', async () => {
      const port = await freePort();
      const failure = await failureOf(
        run(activities.provisionDatabase, {
          target: adminUrl(port, 'nowhere'),
          marker: 'pgferry:unreachable',
        }),
      );
      expectFailure(failure, ErrorCode.ConnectionFailed, true, 'target');
    });

    it('does not fail when two attempts with the same marker run at the same time', async () => {
      // A few rounds, since the two attempts must really overlap for the race to show.
      for (let round = 0; round < 3; round++) {
        const name = newDatabaseName('prov_race');
        const input = { target: adminUrl(5432, name), marker: 'pgferry:race' };
        const outcomes = await Promise.allSettled([
          run(activities.provisionDatabase, input),
          run(activities.provisionDatabase, input),
        ]);
        const failed = outcomes.flatMap((o) =>
          o.status === 'rejected' ? [(o.reason as ApplicationFailure).type] : [],
        );
        expect(failed).toEqual([]);
        const created = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.created] : []));
        expect(created.sort()).toEqual([false, true]);
        expect(await databaseComment(name)).toBe('pgferry:race');
      }
    });
  });

  describe('provisionLocalCluster', () => {
    it('makes a fresh cluster with the database, and reuses it when run again', async () => {
      const cluster = `act-${uniqueName('c').slice(2)}`;
      localClusterDataDirs.push(path.join(deps.clustersDir, cluster));
      const input = { cluster, database: 'app', marker: 'pgferry:cluster' };

      const first = await run(activities.provisionLocalCluster, input);
      expect(first).toMatchObject({
        provider: 'local-cluster',
        created: true,
        dataDir: path.join(deps.clustersDir, cluster),
      });
      const [row] = await query<{ db: string; version: string }>(
        first.target,
        `SELECT current_database() AS db, current_setting('server_version_num') AS version`,
      );
      expect(row?.db).toBe('app');
      expect(Math.floor(Number(row?.version) / 10000)).toBe(15);

      const second = await run(activities.provisionLocalCluster, input);
      expect(second.created).toBe(false);
      expect(second.target).toBe(first.target);
      expect(new URL(second.target).port).toBe(new URL(first.target).port);
    }, 60_000);
  });

  describe('checkBackupInput', () => {
    let scram: ThrowawayCluster;
    let storageDir: string;

    beforeAll(async () => {
      scram = await startThrowawayCluster({ auth: 'scram', password: SCRAM_PASSWORD });
      clusters.push(scram);
      storageDir = await tempDir('check');
    }, 60_000);

    const scramUrl = (passwordEnv?: string) =>
      `postgres://postgres@127.0.0.1:${scram.port}/postgres${passwordEnv ? `?password_env=${passwordEnv}` : ''}`;

    it('accepts a reachable source and a writable location', async () => {
      const source = await cloneFixture('check_ok');
      const result = await run(activities.checkBackupInput, {
        source,
        to: path.join(storageDir, 'new', 'nested'),
      });
      expect(result.serverVersion).toMatch(/^15\./);
    });

    it('reports an unreachable host as ConnectionFailed', async () => {
      const port = await freePort();
      const failure = await failureOf(
        run(activities.checkBackupInput, { source: adminUrl(port, 'db'), to: storageDir }),
      );
      expectFailure(failure, ErrorCode.ConnectionFailed, true, 'source');
    });

    it('reports a database that does not exist as DatabaseMissing', async () => {
      const failure = await failureOf(
        run(activities.checkBackupInput, {
          source: adminUrl(5432, uniqueName('pgferry_act_absent')),
          to: storageDir,
        }),
      );
      expectFailure(failure, ErrorCode.DatabaseMissing, true, 'source');
    });

    it('reports a wrong password as AuthFailed', async () => {
      const failure = await failureOf(
        run(activities.checkBackupInput, { source: scramUrl(WRONG_PASSWORD_ENV), to: storageDir }),
      );
      expectFailure(failure, ErrorCode.AuthFailed, true, 'source');
    });

    it('takes the password from the environment variable that password_env names', async () => {
      const result = await run(activities.checkBackupInput, {
        source: scramUrl(PASSWORD_ENV),
        to: storageDir,
      });
      expect(result.serverVersion).toMatch(/^15\./);
    });

    it('reports a password_env naming an unset variable as InvalidInput', async () => {
      const failure = await failureOf(
        run(activities.checkBackupInput, {
          source: scramUrl('PGFERRY_PASSWORD_ACTIVITY_TEST_UNSET'),
          to: storageDir,
        }),
      );
      expectFailure(failure, ErrorCode.InvalidInput, true, 'source');
    });

    it('reports a location below a regular file as StorageUnwritable', async () => {
      const source = await cloneFixture('check_unwritable');
      const file = path.join(storageDir, 'a-file');
      await writeFile(file, 'not a directory');
      const failure = await failureOf(
        run(activities.checkBackupInput, { source, to: path.join(file, 'backups') }),
      );
      expectFailure(failure, ErrorCode.StorageUnwritable, true, 'to');
    });
  });

  describe('backups and restores', () => {
    let sourceName: string;
    let source: string;
    let sourceFingerprint: DatabaseFingerprint;
    let to: string;
    let backup: BackupResult;

    beforeAll(async () => {
      source = await cloneFixture('src');
      sourceName = databaseName(source);
      to = await tempDir('backups');
      backup = await run(activities.dumpDatabase, { source, to, name: 'nightly', jobs: 2 });
      sourceFingerprint = await databaseFingerprint(source);
    }, 60_000);

    /** A copy of the shared backup that a test may damage. */
    async function copyOfBackup(label: string): Promise<string> {
      const copy = path.join(await tempDir(label), 'nightly');
      await cp(backup.backup, copy, { recursive: true });
      return copy;
    }

    /** Provisions a fresh target, restores the shared backup into it, and returns its URL and marker. */
    async function restoredTarget(label: string): Promise<{ target: string; marker: string }> {
      const target = adminUrl(5432, newDatabaseName(label));
      const marker = `pgferry:restore-${label}`;
      await run(activities.provisionDatabase, { target, marker });
      await run(activities.checkRestoreTarget, { from: backup.backup, target, marker });
      await run(activities.restoreDatabase, { from: backup.backup, target, jobs: 2, marker });
      return { target, marker };
    }

    describe('dumpDatabase', () => {
      it('commits the backup as a manifest and a dump folder, leaving no temporary files', async () => {
        expect(backup.backup).toBe(path.join(to, 'nightly'));
        expect((await readdir(backup.backup)).sort()).toEqual(['dump', 'manifest.json']);
        expect((await stat(path.join(backup.backup, 'dump', 'toc.dat'))).isFile()).toBe(true);
        expect((await readdir(to)).filter((entry) => entry.startsWith('.tmp-'))).toEqual([]);
        expect(backup).toMatchObject({ name: 'nightly', largeObjects: 3 });
        expect(backup.source).toBe(`postgres://postgres@127.0.0.1:5432/${sourceName}`);
      });

      it('records in the manifest the row count of every table and the sha256 of every file', async () => {
        const manifest = await readManifestJson(backup.backup);
        const tables = await query<{ schema: string; table: string }>(
          source,
          `SELECT n.nspname AS schema, c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
            ORDER BY 1, 2`,
        );
        expect(manifest.tables.map((t) => ({ schema: t.schema, table: t.table }))).toEqual(tables);
        const actual = await withClient(source, async (client) => {
          const out = [];
          for (const t of tables) {
            const { rows } = await client.query<{ n: string }>(
              `SELECT count(*) AS n FROM ONLY ${quoteIdent(t.schema)}.${quoteIdent(t.table)}`,
            );
            out.push({ ...t, rows: Number(rows[0]?.n) });
          }
          return out;
        });
        expect(manifest.tables).toEqual(actual);
        expect(manifest.totalRows).toBe(actual.reduce((sum, t) => sum + t.rows, 0));
        expect(manifest.tables).toContainEqual({ schema: 'public', table: 'raw_log', rows: 152 });

        const onDisk = (await filesBelow(backup.backup)).filter((f) => f !== 'manifest.json');
        expect(manifest.files.map((f) => f.path)).toEqual(onDisk);
        for (const file of manifest.files) {
          const full = path.join(backup.backup, file.path);
          expect({ path: file.path, size: (await stat(full)).size, sha256: await sha256Of(full) }).toEqual(
            file,
          );
        }
        expect(manifest.totalBytes).toBe(manifest.files.reduce((sum, f) => sum + f.size, 0));
      });

      it('returns the committed backup unchanged when called again', async () => {
        const again = await run(activities.dumpDatabase, { source, to, name: 'nightly', jobs: 2 });
        expect(again).toEqual(backup);
        expect(again.startedAt).toBe(backup.startedAt);
      });

      it('clears the folder and the pg_dump that a crashed attempt left behind', async () => {
        const dir = await tempDir('crashed');
        const work = path.join(dir, '.tmp-retried');
        await mkdir(path.join(work, 'dump'), { recursive: true });
        await writeFile(path.join(work, 'dump', '9999.dat.gz'), 'half a file');
        await writeFile(path.join(work, 'stale.txt'), 'left by the crash');
        // A process in a group of its own stands in for the orphaned pg_dump.
        const orphan = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
        const orphanExit = new Promise<NodeJS.Signals | null>((resolve) =>
          orphan.once('exit', (_code, signal) => resolve(signal)),
        );
        // Recorded as runTool records a tool it starts: pid, start time and command line.
        await writePidRecord(path.join(dir, '.tmp-retried.pid'), orphan.pid!, ['sleep', '60']);

        const result = await run(activities.dumpDatabase, { source, to: dir, name: 'retried', jobs: 2 });

        expect(await orphanExit).toBe('SIGKILL');
        expect((await readdir(dir)).sort()).toEqual(['retried']);
        const files = await filesBelow(result.backup);
        expect(files).not.toContain('stale.txt');
        expect(files).not.toContain(path.join('dump', '9999.dat.gz'));
        expect(result.rows).toBe(backup.rows);
        const verified = await run(activities.verifyBackup, { from: result.backup });
        expect(verified.files).toBe(files.length - 1);
      });

      it('counts the rows of the snapshot that pg_dump reads, not rows committed later', async () => {
        const url = await cloneFixture('snapshot');
        const dir = await tempDir('snapshot');
        await withClient(url, async (writer) => {
          // An uncommitted insert holding the table lock: the dump's snapshot is taken while it waits.
          await writer.query('BEGIN');
          await writer.query('INSERT INTO public.raw_log SELECT * FROM public.raw_log LIMIT 5');
          await writer.query('LOCK TABLE public.raw_log IN ACCESS EXCLUSIVE MODE');
          const dump = run(activities.dumpDatabase, { source: url, to: dir, name: 'snap', jobs: 2 });
          const settled = dump.then(
            () => undefined,
            () => undefined,
          );
          await waitFor('the dump to wait for public.raw_log', async () => {
            const { rows } = await writer.query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_locks WHERE relation = 'public.raw_log'::regclass AND NOT granted`,
            );
            return Number(rows[0]?.n) > 0 ? true : undefined;
          });
          await writer.query('COMMIT');
          await settled;
          const manifest = await readManifestJson((await dump).backup);
          expect(manifest.tables).toContainEqual({ schema: 'public', table: 'raw_log', rows: 152 });
        });
        const [now] = await query<{ n: string }>(url, 'SELECT count(*) AS n FROM public.raw_log');
        expect(now?.n).toBe('157');
        // The dumped data agrees with the counts: restored, the table has the snapshot's rows.
        const target = adminUrl(5432, newDatabaseName('snapshot_restored'));
        await run(activities.provisionDatabase, { target, marker: 'pgferry:snapshot' });
        await run(activities.restoreDatabase, {
          from: path.join(dir, 'snap'),
          target,
          jobs: 2,
          marker: 'pgferry:snapshot',
        });
        const report = await run(activities.checkRestoredRows, { from: path.join(dir, 'snap'), target });
        expect(report.ok).toBe(true);
      });
    });

    describe('verifyBackup', () => {
      it('passes a backup whose files all match the manifest', async () => {
        const manifest = await readManifestJson(backup.backup);
        const verified = await run(activities.verifyBackup, { from: backup.backup });
        expect(verified).toEqual({
          backup: backup.backup,
          files: manifest.files.length,
          bytes: manifest.totalBytes,
          tables: manifest.tables.length,
          rows: manifest.totalRows,
          serverVersion: manifest.serverVersion,
        });
      });

      it('reports a data file with one flipped byte as BackupCorrupt', async () => {
        const copy = await copyOfBackup('flipped');
        const manifest = await readManifestJson(copy);
        const victim = manifest.files
          .filter((f) => f.path.endsWith('.dat.gz'))
          .sort((a, b) => b.size - a.size)[0]!;
        const full = path.join(copy, victim.path);
        const bytes = await readFile(full);
        const middle = Math.floor(bytes.length / 2);
        bytes[middle] = bytes[middle]! ^ 0xff;
        await writeFile(full, bytes);
        const failure = await failureOf(run(activities.verifyBackup, { from: copy }));
        expectFailure(failure, ErrorCode.BackupCorrupt, true, 'from');
      });

      it('reports a removed file as BackupCorrupt', async () => {
        const copy = await copyOfBackup('removed');
        await rm(path.join(copy, 'dump', 'toc.dat'));
        const failure = await failureOf(run(activities.verifyBackup, { from: copy }));
        expectFailure(failure, ErrorCode.BackupCorrupt, true, 'from');
      });

      it('reports a backup that does not exist as BackupNotFound', async () => {
        const failure = await failureOf(run(activities.verifyBackup, { from: path.join(to, 'never-taken') }));
        expectFailure(failure, ErrorCode.BackupNotFound, true, 'from');
      });
    });

    describe('restoreDatabase and checkRestoredRows', () => {
      it('restores into a provisioned database a copy equal to the source', async () => {
        const { target } = await restoredTarget('restored');
        const report = await run(activities.checkRestoredRows, { from: backup.backup, target });
        expect(report.ok).toBe(true);
        expect(report.tables.filter((t) => !t.ok)).toEqual([]);
        expect(report).toMatchObject({
          rowsExpected: backup.rows,
          rowsRestored: backup.rows,
          largeObjectsExpected: 3,
          largeObjectsRestored: 3,
        });
        expect(diffFingerprints(sourceFingerprint, await databaseFingerprint(target))).toEqual([]);
      });

      it('re-creates its own target when run again, without doubling any rows', async () => {
        const { target, marker } = await restoredTarget('rerun');
        await run(activities.restoreDatabase, { from: backup.backup, target, jobs: 2, marker });
        const report = await run(activities.checkRestoredRows, { from: backup.backup, target });
        expect(report.ok).toBe(true);
        expect(report.rowsRestored).toBe(backup.rows);
        expect(diffFingerprints(sourceFingerprint, await databaseFingerprint(target))).toEqual([]);
      });

      it('refuses to restore onto a non-empty database that carries another marker', async () => {
        const target = await cloneFixture('other_marker');
        const name = databaseName(target);
        await query(adminUrl(), `COMMENT ON DATABASE ${quoteIdent(name)} IS 'pgferry:someone-else'`);
        const before = await databaseFingerprint(target);

        const checked = await failureOf(
          run(activities.checkRestoreTarget, { from: backup.backup, target, marker: 'pgferry:mine' }),
        );
        expectFailure(checked, ErrorCode.TargetNotEmpty, true, 'target');
        const restored = await failureOf(
          run(activities.restoreDatabase, { from: backup.backup, target, jobs: 2, marker: 'pgferry:mine' }),
        );
        expectFailure(restored, ErrorCode.TargetNotEmpty, true, 'target');
        expect(diffFingerprints(before, await databaseFingerprint(target))).toEqual([]);
        expect(await databaseComment(name)).toBe('pgferry:someone-else');
      });

      it('names the table whose rows are missing on the target', async () => {
        const { target } = await restoredTarget('deleted');
        await query(
          target,
          'DELETE FROM public.raw_log WHERE ctid = (SELECT ctid FROM public.raw_log LIMIT 1)',
        );
        const report = await run(activities.checkRestoredRows, { from: backup.backup, target });
        expect(report.ok).toBe(false);
        expect(report.tables.filter((t) => !t.ok)).toEqual([
          { schema: 'public', table: 'raw_log', expected: 152, actual: 151, ok: false },
        ]);
        expect(report.rowsRestored).toBe(backup.rows - 1);
      });
    });
  });
});
