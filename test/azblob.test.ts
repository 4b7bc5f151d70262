import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackups } from '../client/pgferry-client';
import { ErrorCode, type PgferryError } from '../domain/errors';
import { startAzurite, type Azurite } from './helpers/azurite';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import {
  adminUrl,
  cloneDatabase,
  createTemplateDatabase,
  dropDatabase,
  query,
  uniqueName,
} from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { testEnv } from './helpers/temporal';

const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');
const CONTAINER = 'pgferry-backups';

async function databaseExists(name: string): Promise<boolean> {
  return (await query(adminUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
}

/** Every file below `dir`, recursively, relative to it (nothing when it does not exist). */
async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe('backups in Azure Blob Storage (Azurite), through the backup and restore workflows', () => {
  const template = uniqueName('az_tpl');
  const databases: string[] = [];
  let azurite: Azurite;
  let scratch: string;
  let blobs: BlobServiceClient;
  const savedConnectionString = process.env.AZURE_STORAGE_CONNECTION_STRING;

  beforeAll(async () => {
    [azurite] = await Promise.all([startAzurite(), createTemplateDatabase(template, FIXTURE)]);
    scratch = await mkdtemp(path.join(tmpdir(), 'pgferry-scratch-'));
    blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
    // The catalog (`pgferry backup list`, listBackups) reads the storage from this process.
    process.env.AZURE_STORAGE_CONNECTION_STRING = azurite.connectionString;
  }, 240_000);

  afterAll(async () => {
    if (savedConnectionString === undefined) delete process.env.AZURE_STORAGE_CONNECTION_STRING;
    else process.env.AZURE_STORAGE_CONNECTION_STRING = savedConnectionString;
    for (const name of databases) await dropDatabase(name);
    await dropDatabase(template);
    await azurite?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  // The worker's credentials: only in its environment, never in the workflow input.
  const suite = useTemporalSuite({
    env: () =>
      testEnv({ AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString, PGFERRY_SCRATCH_DIR: scratch }),
  });

  it('backs up to azblob:// (manifest last) and restores a database identical to the source', async () => {
    const source = uniqueName('az_src');
    const target = uniqueName('az_dst');
    databases.push(source, target);
    await cloneDatabase(template, source);
    const location = `azblob://${CONTAINER}/${uniqueName('it')}/prod`;

    const made = await (await suite.client.backup({ source: adminUrl(5432, source), to: location })).result();
    expect(made.backup).toBe(`${location}/${made.name}`);
    expect(made.tables).toBeGreaterThan(10);
    expect(made.largeObjects).toBe(3);

    // Every file of the archive is a blob beside the manifest; nothing stays staged on the worker.
    const prefix = `${location.slice(`azblob://${CONTAINER}/`.length)}/${made.name}/`;
    const names: string[] = [];
    for await (const blob of blobs.getContainerClient(CONTAINER).listBlobsFlat({ prefix })) {
      names.push(blob.name.slice(prefix.length));
    }
    expect(names).toContain('manifest.json');
    expect(names).toContain('dump/toc.dat');
    expect(names.filter((n) => n.startsWith('dump/'))).toHaveLength(made.files);
    expect((await filesBelow(scratch)).filter((f) => !f.endsWith('.pid'))).toEqual([]);

    const catalog = await listBackups(location);
    expect(catalog.map((b) => b.backup)).toEqual([made.backup]);

    const restored = await (
      await suite.client.restore({ from: made.backup, target: adminUrl(5432, target) })
    ).result();
    expect(restored.report.ok).toBe(true);
    expect(restored.report.rowsRestored).toBe(made.rows);
    expect(
      diffFingerprints(
        await databaseFingerprint(adminUrl(5432, source)),
        await databaseFingerprint(adminUrl(5432, target)),
      ),
    ).toEqual([]);
    // The copy fetched for pg_restore is gone too.
    expect((await filesBelow(scratch)).filter((f) => !f.endsWith('.pid'))).toEqual([]);
  });

  it('refuses to restore a backup one of whose blobs changed since, naming the blob, before the target exists', async () => {
    const source = uniqueName('az_small');
    const target = uniqueName('az_never');
    databases.push(source, target);
    await cloneDatabase(template, source);
    const location = `azblob://${CONTAINER}/${uniqueName('corrupt')}`;
    const made = await (await suite.client.backup({ source: adminUrl(5432, source), to: location })).result();

    // The largest data file, one byte flipped and uploaded again under its name: the size stays.
    const container = blobs.getContainerClient(CONTAINER);
    const prefix = `${location.slice(`azblob://${CONTAINER}/`.length)}/${made.name}/`;
    let victim = { name: '', size: -1 };
    for await (const blob of container.listBlobsFlat({ prefix: `${prefix}dump/` })) {
      const size = blob.properties.contentLength ?? 0;
      if (!blob.name.endsWith('toc.dat') && size > victim.size) victim = { name: blob.name, size };
    }
    const client = container.getBlockBlobClient(victim.name);
    const bytes = await client.downloadToBuffer();
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    await client.uploadData(bytes);

    const run = await suite.client.restore({ from: made.backup, target: adminUrl(5432, target) });
    const error = (await run.result().catch((e: unknown) => e)) as PgferryError;
    expect(error.code).toBe(ErrorCode.BackupCorrupt);
    expect(error.field).toBe('from');
    expect(error.message).toContain(victim.name.slice(prefix.length));
    expect(await databaseExists(target)).toBe(false);
  });

  it('reads a location without credentials as StorageUnavailable naming the variables, and refuses other schemes as bad input', async () => {
    delete process.env.AZURE_STORAGE_CONNECTION_STRING;
    try {
      const error = (await listBackups(`azblob://${CONTAINER}/x`).catch((e: unknown) => e)) as PgferryError;
      expect(error).toMatchObject({ code: ErrorCode.StorageUnavailable, field: 'dir' });
      expect(error.fix).toContain('AZURE_STORAGE_CONNECTION_STRING');
    } finally {
      process.env.AZURE_STORAGE_CONNECTION_STRING = azurite.connectionString;
    }
    const s3 = (await suite.client
      .backup({ source: adminUrl(5432, template), to: 's3://bucket/prefix' })
      .catch((e: unknown) => e)) as PgferryError;
    expect(s3).toMatchObject({ code: ErrorCode.InvalidInput, field: 'to' });
    expect(s3.fix).toContain('azblob://CONTAINER/PREFIX');
  });
});
