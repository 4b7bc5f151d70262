import type {
  CheckRestoreTargetInput,
  RestoreDatabaseInput,
  RestoredInput,
  VerifyBackupInput,
} from '../domain/activity-inputs';
import { connectionLabel, withDatabase } from '../domain/connection';
import type { RestoreReport, TableCheck } from '../domain/contracts';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { ActivityDeps } from './deps';
import { startHeartbeat, withHeartbeat } from './heartbeat';
import { stopEarlierAttempt } from './orphan-sessions';
import { countLargeObjects, countRows, databaseInfo, isDatabaseEmpty, serverVersion } from './pg/catalog';
import { withClient } from './pg/connect';
import { NO_ROW_SECURITY_SESSION } from './pg/session-sql';
import { SqlState } from './pg/sqlstate';
import { MAINTENANCE_DB, recreateOwnDatabase } from './provision/local';
import { backupAt } from './storage/locate';
import type { LocalDump } from './storage/storage';
import { runPgRestore } from './pg-restore';
import { findTool, runTool, toolMajorVersion } from './tools';

/** What verifyBackup found: the backup is whole. */
export interface VerifiedBackup {
  readonly backup: string;
  readonly files: number;
  readonly bytes: number;
  readonly tables: number;
  readonly rows: number;
  readonly serverVersion: string;
}

/** The storage and name of the backup a restore reads: errors name the `from` field. */
function backupOf(deps: ActivityDeps, from: string) {
  return backupAt((location) => deps.storageFor(location, 'from'), from);
}

/** Checks every file of a backup against its manifest (size and sha256); BackupCorrupt names the first bad one. */
export async function verifyBackup(deps: ActivityDeps, input: VerifyBackupInput): Promise<VerifiedBackup> {
  const { storage, name } = backupOf(deps, input.from);
  const manifest = await storage.readManifest(name);
  const hb = startHeartbeat();
  try {
    hb.update({ files: 0, detail: 'verifying checksums' });
    await storage.verify(name, manifest, { progress: (done) => hb.update(done), signal: hb.signal });
  } finally {
    hb.stop();
  }
  return {
    backup: storage.address(name),
    files: manifest.files.length,
    bytes: manifest.totalBytes,
    tables: manifest.tables.length,
    rows: manifest.totalRows,
    serverVersion: manifest.serverVersion,
  };
}

/** Checks before a restore that the target server answers and its database may be written. */
export async function checkRestoreTarget(
  deps: ActivityDeps,
  input: CheckRestoreTargetInput,
): Promise<{ serverVersion: string }> {
  return withHeartbeat('checking the restore target', async () => {
    const spec = input.target;
    const { storage, name } = backupOf(deps, input.from);
    const manifest = await storage.readManifest(name);
    const pgRestore = findTool('pg_restore', deps.pgBinDir);
    const dumpMajor = Number(/(\d+)/.exec(manifest.pgDumpVersion)?.[1] ?? 0);
    const restoreMajor = await toolMajorVersion(pgRestore);
    if (restoreMajor < dumpMajor) {
      throw new PgferryError(
        ErrorCode.Unsupported,
        `from: the backup was made by pg_dump ${dumpMajor}, the worker's pg_restore is ${restoreMajor}`,
        {
          field: 'from',
          fix: `install pg_restore ${dumpMajor} or newer on the worker and point PGFERRY_PG_BINDIR at it`,
        },
      );
    }
    // The restore's first contact with its target: unreachable is bad input (ConnectionFailed).
    const { version, info } = await withClient(
      withDatabase(spec, MAINTENANCE_DB),
      deps.env,
      { field: 'target', firstContact: true },
      async (c) => ({
        version: (await serverVersion(c)).version,
        info: await databaseInfo(c, spec.database),
      }),
    );
    if (info.exists && info.comment !== input.marker) {
      const empty = await withClient(spec, deps.env, 'target', (c) => isDatabaseEmpty(c));
      if (!empty) {
        throw new PgferryError(
          ErrorCode.TargetNotEmpty,
          `target: database "${spec.database}" on ${spec.host}:${spec.port} already holds objects`,
          { field: 'target', fix: 'restore into a database that does not exist yet or is empty' },
        );
      }
    }
    return { serverVersion: version };
  });
}

/**
 * Runs `pg_restore -j N` into the provisioned target. Whatever an earlier attempt left is cleared
 * first (its pg_restore and that one's sessions stopped, the database re-created: it carries this
 * run's marker), so a retry never doubles rows and never runs beside the earlier one. A backup in
 * an object store is fetched to a local directory first, every file checked against the manifest
 * on its way (so pg_restore reads what verifyBackup checked), and removed afterwards.
 */
export async function restoreDatabase(
  deps: ActivityDeps,
  input: RestoreDatabaseInput,
): Promise<{ items: number }> {
  const spec = input.target;
  const { storage, name } = backupOf(deps, input.from);
  const pgRestore = findTool('pg_restore', deps.pgBinDir);
  const hb = startHeartbeat();
  let local: LocalDump | undefined;
  try {
    hb.update({ detail: 'stopping what an earlier attempt left running' });
    const key = `restore ${spec.host}:${spec.port}/${spec.database}`;
    const trace = await stopEarlierAttempt(deps, key, spec, 'target');
    const empty = await withClient(spec, deps.env, 'target', (c) => isDatabaseEmpty(c));
    if (!empty) {
      hb.update({ detail: 'clearing what an earlier attempt left' });
      await recreateOwnDatabase(deps, spec, input.marker);
    }
    hb.update({ detail: 'fetching the backup' });
    const manifest = await storage.readManifest(name);
    local = await storage.fetchDump(name, manifest, input.marker, {
      progress: (done) => hb.update(done),
      signal: hb.signal,
    });
    const dumpDir = local.dir;
    const list = await runTool(pgRestore, ['--list', dumpDir]);
    const items = list.stdout.split('\n').filter((l) => /^\d+;/.test(l)).length;
    hb.update({ detail: 'restoring', files: items, tablesDone: 0 });
    await runPgRestore(pgRestore, dumpDir, spec, deps.env, {
      jobs: input.jobs,
      signal: hb.signal,
      trace,
      onItem: (done) => hb.update({ tablesDone: done }),
    });
    deps.logger.info({ target: connectionLabel(spec), items }, 'restore finished');
    return { items };
  } finally {
    await local?.release();
    hb.stop();
  }
}

/** Counts every table's rows and the large objects on the target, against the manifest. */
export async function checkRestoredRows(deps: ActivityDeps, input: RestoredInput): Promise<RestoreReport> {
  const spec = input.target;
  const { storage, name } = backupOf(deps, input.from);
  const manifest = await storage.readManifest(name);
  const hb = startHeartbeat();
  try {
    hb.update({ tables: manifest.tables.length, tablesDone: 0, detail: 'counting rows' });
    const { counts, largeObjects } = await withClient(spec, deps.env, 'target', async (client) => {
      await client.query(NO_ROW_SECURITY_SESSION);
      const counts = await countRows(client, manifest.tables, (done) => hb.update({ tablesDone: done }));
      return { counts, largeObjects: await countLargeObjects(client) };
    }).catch((err: unknown) => {
      // A table the manifest lists but the target lacks is a failed restore, not a crash.
      if ((err as { code?: string }).code === SqlState.UndefinedTable) {
        throw new PgferryError(
          ErrorCode.RowCountMismatch,
          `a table of the backup is missing on the target: ${(err as Error).message}`,
          {
            field: 'target',
          },
        );
      }
      throw err;
    });
    const tables: TableCheck[] = manifest.tables.map((t, i) => {
      const actual = counts[i]?.rows ?? -1;
      return { schema: t.schema, table: t.table, expected: t.rows, actual, ok: actual === t.rows };
    });
    return {
      ok: tables.every((t) => t.ok) && largeObjects === manifest.largeObjects,
      tables,
      rowsExpected: manifest.totalRows,
      rowsRestored: counts.reduce((sum, t) => sum + t.rows, 0),
      largeObjectsExpected: manifest.largeObjects,
      largeObjectsRestored: largeObjects,
    };
  } finally {
    hb.stop();
  }
}
