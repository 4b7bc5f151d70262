import * as path from 'node:path';
import type { CheckBackupInput, DumpInput } from '../domain/activity-inputs';
import { connectionLabel, formatConnectionUrl } from '../domain/connection';
import type { Client } from 'pg';
import type { BackupManifest, BackupResult, TableRows } from '../domain/contracts';
import { ErrorCode, PgferryError } from '../domain/errors';
import { directorySize } from './checksum';
import type { ActivityDeps } from './deps';
import { startHeartbeat, withHeartbeat, type Heartbeat } from './heartbeat';
import { countLargeObjects, countRows, listTables, serverVersion } from './pg/catalog';
import { libpqEnv, withClient, withTransaction } from './pg/connect';
import { EXPORT_SNAPSHOT, NO_ROW_SECURITY, READ_ONLY_SNAPSHOT_BEGIN } from './pg/session-sql';
import { DUMP_DIR } from './storage/storage';
import { findTool, runTool, toolFailure, toolMajorVersion } from './tools';

/** Checks before a backup that the source answers, pg_dump can dump it and the storage is writable. */
export async function checkBackupInput(
  deps: ActivityDeps,
  input: CheckBackupInput,
): Promise<{ serverVersion: string }> {
  return withHeartbeat('checking the backup input', async () => {
    const spec = input.source;
    // The backup's first contact with its source: unreachable is bad input (ConnectionFailed).
    const { version, major } = await withClient(
      spec,
      deps.env,
      { field: 'source', firstContact: true },
      (c) => serverVersion(c),
    );
    const pgDump = findTool('pg_dump', deps.pgBinDir);
    const toolMajor = await toolMajorVersion(pgDump);
    if (toolMajor < major) {
      throw new PgferryError(
        ErrorCode.Unsupported,
        `source: the server runs PostgreSQL ${version}, but the worker's pg_dump is version ${toolMajor}`,
        {
          field: 'source',
          fix: `install pg_dump ${major} or newer on the worker and point PGFERRY_PG_BINDIR at it`,
        },
      );
    }
    await deps.storageFor(input.to).checkWritable();
    return { serverVersion: version };
  });
}

/**
 * Dumps the source with `pg_dump -Fd -j N` under one exported snapshot into the storage's local
 * work directory, counts every table's rows under the same snapshot, stores the files (an object
 * store uploads them, hashing on the way), then commits the backup by writing the manifest (sizes,
 * sha256, counts) last. A retry starts from a clean folder; a backup already committed is returned
 * as it is.
 */
export async function dumpDatabase(deps: ActivityDeps, input: DumpInput): Promise<BackupResult> {
  const storage = deps.storageFor(input.to);
  const existing = await storage.find(input.name);
  if (existing) return resultOf(existing, await storage.readManifest(input.name));

  const spec = input.source;
  const pgDump = findTool('pg_dump', deps.pgBinDir);
  const pgDumpVersion = (await runTool(pgDump, ['--version'])).stdout.trim();
  const hb = startHeartbeat();
  try {
    const { workDir, pidFile } = await storage.beginWrite(input.name);
    const dumpDir = path.join(workDir, DUMP_DIR);
    const startedAt = new Date().toISOString();
    hb.update({ detail: 'dumping', bytes: 0 });

    const snapshotResult = await withClient(spec, deps.env, 'source', (client) =>
      withTransaction(
        client,
        () =>
          dumpUnderSnapshot(client, {
            pgDump,
            dumpDir,
            pidFile,
            jobs: input.jobs,
            env: libpqEnv(spec, deps.env, 'source'),
            hb,
          }),
        READ_ONLY_SNAPSHOT_BEGIN,
      ),
    );

    hb.update({ detail: 'storing', bytes: 0, files: 0 });
    const files = await storage.storeFiles(input.name, workDir, {
      progress: (done) => hb.update(done),
      signal: hb.signal,
    });
    const manifest: BackupManifest = {
      format: 'pgferry-backup/1',
      name: input.name,
      source: formatConnectionUrl(spec),
      database: spec.database,
      serverVersion: snapshotResult.version,
      pgDumpVersion,
      jobs: input.jobs,
      startedAt,
      finishedAt: new Date().toISOString(),
      files,
      tables: snapshotResult.counts,
      largeObjects: snapshotResult.largeObjects,
      totalBytes: files.reduce((sum, f) => sum + f.size, 0),
      totalRows: snapshotResult.counts.reduce((sum, t) => sum + t.rows, 0),
    };
    const backup = await storage.commit(input.name, workDir, manifest);
    deps.logger.info(
      { backup, source: connectionLabel(spec), bytes: manifest.totalBytes },
      'backup committed',
    );
    return resultOf(backup, manifest);
  } finally {
    hb.stop();
  }
}

/** The workflow result for a committed backup. */
export function resultOf(backup: string, manifest: BackupManifest): BackupResult {
  return {
    backup,
    name: manifest.name,
    source: manifest.source,
    serverVersion: manifest.serverVersion,
    startedAt: manifest.startedAt,
    finishedAt: manifest.finishedAt,
    tables: manifest.tables.length,
    rows: manifest.totalRows,
    bytes: manifest.totalBytes,
    files: manifest.files.length,
    largeObjects: manifest.largeObjects,
  };
}

/** What dumpUnderSnapshot needs: the tool, where it writes, and the heartbeat it reports to. */
interface DumpRun {
  readonly pgDump: string;
  readonly dumpDir: string;
  readonly pidFile: string;
  readonly jobs: number;
  readonly env: Record<string, string>;
  readonly hb: Heartbeat;
}

/**
 * In the caller's repeatable-read transaction: exports its snapshot, runs pg_dump under it, and
 * counts every table's rows and the large objects under the same snapshot while pg_dump runs (the
 * snapshot stays valid while the transaction is open).
 */
async function dumpUnderSnapshot(
  client: Client,
  run: DumpRun,
): Promise<{ counts: TableRows[]; largeObjects: number; version: string }> {
  const { hb } = run;
  // Counting rows as the superuser must not be filtered by row-level security.
  await client.query(NO_ROW_SECURITY);
  const { rows } = await client.query<{ id: string }>(EXPORT_SNAPSHOT);
  const snapshot = rows[0]?.id ?? '';
  const { version } = await serverVersion(client);
  const tables = await listTables(client);
  hb.update({ tables: tables.length, tablesDone: 0 });
  let dumped = 0;
  const args = ['--format=directory', `--jobs=${run.jobs}`, `--snapshot=${snapshot}`, '--verbose'];
  const dump = runTool(run.pgDump, [...args, '--no-password', '--file', run.dumpDir], {
    env: run.env,
    pidFile: run.pidFile,
    signal: hb.signal,
    onLine: (line) => {
      if (/finished item \d+ TABLE DATA|dumping contents of table/.test(line)) {
        dumped += 1;
        hb.update({ tablesDone: Math.min(dumped, tables.length) });
      }
    },
  });
  const sizer = setInterval(() => {
    void directorySize(run.dumpDir).then((s) => hb.update({ bytes: s.bytes, files: s.files }));
  }, 1000);
  try {
    const counts = await countRows(client, tables);
    const largeObjects = await countLargeObjects(client);
    const result = await dump;
    if (result.code !== 0) throw toolFailure('pg_dump', result.stderrTail, 'source');
    return { counts, largeObjects, version };
  } finally {
    clearInterval(sizer);
    await dump.catch(() => undefined);
  }
}
