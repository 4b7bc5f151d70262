import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type { ContainerClient } from '@azure/storage-blob';
import { BackupManifest } from '../../domain/contracts';
import { ErrorCode, PgferryError } from '../../domain/errors';
import { blockSizeFor, formatStorageLocation, type StorageLocation } from '../../domain/storage-location';
import { HashMeter, listFiles } from '../checksum';
import { killOrphan } from '../orphans';
import { blobServiceFromEnv, restStatus, storageFailure, type StorageField } from './azblob-client';
import { parseJson } from './filesystem';
import {
  backupNotFound,
  corruptFile,
  corruptManifest,
  DUMP_DIR,
  MANIFEST_FILE,
  TMP_PREFIX,
  type BackupStorage,
  type CatalogEntry,
  type LocalDump,
  type StorageIo,
  type StoredFile,
} from './storage';

// Files moved at once, and blocks in flight per file: at 8 MiB blocks about 100 MiB of buffers.
const FILES_AT_ONCE = 4;
const BLOCKS_IN_FLIGHT = 2;

type AzblobLocation = Extract<StorageLocation, { kind: 'azblob' }>;

/**
 * Backups in Azure Blob Storage, one "folder" per backup under the prefix:
 * `PREFIX/NAME/dump/…` (pg_dump's directory-format archive, file by file) and
 * `PREFIX/NAME/manifest.json`, uploaded last: a backup without a manifest does not exist.
 * pg_dump writes to a local staging directory first (its directory format needs files, and
 * `-j N` needs that format); every file is then streamed to a block blob, hashed on its way.
 */
export class AzureBlobStorage implements BackupStorage {
  readonly location: string;
  private readonly container: ContainerClient;
  private readonly prefix: string;
  private readonly staging: string;

  constructor(
    where: AzblobLocation,
    env: NodeJS.ProcessEnv,
    scratchDir: string,
    private readonly field: StorageField,
  ) {
    this.location = formatStorageLocation(where);
    this.container = blobServiceFromEnv(env, field).getContainerClient(where.container);
    this.prefix = where.prefix ? `${where.prefix}/` : '';
    const place = createHash('sha256').update(this.location).digest('hex').slice(0, 16);
    this.staging = path.join(scratchDir, 'pgferry-azblob', place);
  }

  address(name: string): string {
    return `${this.location}/${name}`;
  }

  async checkWritable(): Promise<void> {
    const probe = this.container.getBlockBlobClient(`${this.prefix}${TMP_PREFIX}probe-${randomUUID()}`);
    try {
      await this.container.createIfNotExists();
      await probe.upload('', 0);
      await probe.deleteIfExists();
    } catch (err) {
      const failure = storageFailure(err, 'to', this.location);
      if (failure instanceof PgferryError) throw failure;
      const why = restStatus(err) ?? (err as { code?: string }).code ?? (err as Error).name;
      throw new PgferryError(
        ErrorCode.StorageUnwritable,
        `to: cannot write backups to ${this.location} (${why})`,
        {
          field: 'to',
          fix: 'check the container name, the endpoint and that the worker reaches Azure Blob Storage',
          cause: err,
        },
      );
    }
  }

  async find(name: string): Promise<string | undefined> {
    const exists = await this.guard(() => this.blob(name, MANIFEST_FILE).exists());
    return exists ? this.address(name) : undefined;
  }

  async beginWrite(name: string): Promise<{ workDir: string; pidFile: string }> {
    const workDir = path.join(this.staging, `${TMP_PREFIX}${name}`);
    const pidFile = path.join(this.staging, `${TMP_PREFIX}${name}.pid`);
    await mkdir(this.staging, { recursive: true });
    // As for the filesystem: an earlier attempt's pg_dump is stopped before its folder is reused.
    await killOrphan(pidFile);
    await rm(workDir, { recursive: true, force: true });
    await mkdir(workDir, { recursive: true });
    // Blobs an earlier attempt uploaded (it never wrote the manifest, or find() had returned it).
    await this.deleteBlobs(name);
    return { workDir, pidFile };
  }

  async storeFiles(name: string, workDir: string, io: StorageIo): Promise<StoredFile[]> {
    const files = await listFiles(workDir);
    const stored: StoredFile[] = [];
    let bytes = 0;
    await eachLimit(files, FILES_AT_ONCE, async (rel) => {
      const file = await this.upload(name, workDir, rel, io.signal);
      stored.push(file);
      bytes += file.size;
      io.progress({ bytes, files: stored.length });
    });
    return stored.sort((a, b) => a.path.localeCompare(b.path));
  }

  async commit(name: string, workDir: string, manifest: BackupManifest): Promise<string> {
    const text = JSON.stringify(manifest, null, 2);
    await this.guard(() =>
      this.blob(name, MANIFEST_FILE).upload(text, Buffer.byteLength(text), {
        blobHTTPHeaders: { blobContentType: 'application/json' },
      }),
    );
    await rm(workDir, { recursive: true, force: true });
    return this.address(name);
  }

  async list(): Promise<CatalogEntry[]> {
    const names: string[] = [];
    try {
      for await (const item of this.container.listBlobsByHierarchy('/', { prefix: this.prefix })) {
        if (item.kind !== 'prefix') continue;
        const name = item.name.slice(this.prefix.length).replace(/\/$/, '');
        if (!name.startsWith(TMP_PREFIX)) names.push(name);
      }
    } catch (err) {
      if (restStatus(err) === 404) return [];
      throw storageFailure(err, this.field, this.location);
    }
    const entries: CatalogEntry[] = [];
    for (const name of names) {
      const manifest = await this.readManifest(name).catch((err: unknown) => {
        // Not a backup (yet): a folder without a manifest, or another program's.
        if (err instanceof PgferryError) return undefined;
        throw err;
      });
      if (manifest) entries.push({ backup: this.address(name), manifest });
    }
    return entries.sort((a, b) => b.manifest.startedAt.localeCompare(a.manifest.startedAt));
  }

  async readManifest(name: string): Promise<BackupManifest> {
    const backup = this.address(name);
    let text: string;
    try {
      text = (await this.blob(name, MANIFEST_FILE).downloadToBuffer()).toString('utf8');
    } catch (err) {
      if (restStatus(err) === 404) throw backupNotFound(`no backup at ${backup}`, err);
      throw storageFailure(err, this.field, this.location);
    }
    const parsed = BackupManifest.safeParse(parseJson(text));
    if (!parsed.success) throw corruptManifest(backup);
    return parsed.data;
  }

  async verify(name: string, manifest: BackupManifest, io: StorageIo): Promise<void> {
    let bytes = 0;
    let done = 0;
    await eachLimit(manifest.files, FILES_AT_ONCE, async (file) => {
      await this.download(name, file, discard(), io.signal);
      bytes += file.size;
      done += 1;
      io.progress({ bytes, files: done });
    });
  }

  async fetchDump(
    name: string,
    manifest: BackupManifest,
    scratchKey: string,
    io: StorageIo,
  ): Promise<LocalDump> {
    const key = createHash('sha256').update(scratchKey).digest('hex').slice(0, 16);
    const root = path.join(this.staging, `${TMP_PREFIX}restore-${key}`);
    await rm(root, { recursive: true, force: true });
    let bytes = 0;
    let done = 0;
    try {
      await eachLimit(manifest.files, FILES_AT_ONCE, async (file) => {
        const local = path.join(root, file.path);
        if (path.relative(root, local).startsWith('..'))
          throw corruptFile(this.address(name), file.path, false);
        await mkdir(path.dirname(local), { recursive: true });
        await this.download(name, file, createWriteStream(local), io.signal);
        bytes += file.size;
        done += 1;
        io.progress({ bytes, files: done });
      });
    } catch (err) {
      await rm(root, { recursive: true, force: true });
      throw err;
    }
    return { dir: path.join(root, DUMP_DIR), release: () => rm(root, { recursive: true, force: true }) };
  }

  async remove(name: string): Promise<void> {
    await this.guard(() => this.blob(name, MANIFEST_FILE).deleteIfExists());
    await this.deleteBlobs(name);
  }

  private blob(name: string, rel: string) {
    return this.container.getBlockBlobClient(`${this.prefix}${name}/${rel}`);
  }

  /** Runs a call, turning refused credentials into StorageUnavailable. */
  private async guard<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw storageFailure(err, this.field, this.location);
    }
  }

  private async deleteBlobs(name: string): Promise<void> {
    await this.guard(async () => {
      for await (const item of this.container.listBlobsFlat({ prefix: `${this.prefix}${name}/` })) {
        await this.container.getBlobClient(item.name).deleteIfExists();
      }
    });
  }

  /** Streams one file to its block blob, hashed on its way; the block size fits the file's size. */
  private async upload(
    name: string,
    workDir: string,
    rel: string,
    signal?: AbortSignal,
  ): Promise<StoredFile> {
    const full = path.join(workDir, rel);
    const size = (await stat(full)).size;
    const blockSize = blockSizeFor(size);
    if (blockSize === undefined) {
      throw new PgferryError(
        ErrorCode.Unsupported,
        `to: ${rel} (${size} bytes) is larger than one block blob holds`,
        {
          field: 'to',
          fix: 'back the database up to a filesystem location',
        },
      );
    }
    const meter = new HashMeter();
    const source = createReadStream(full);
    const stop = () => source.destroy(new Error('cancelled'));
    signal?.addEventListener('abort', stop, { once: true });
    source.on('error', (err) => meter.destroy(err));
    source.pipe(meter);
    try {
      // Azure commits at most 50,000 blocks: blockSize is chosen so that this file needs fewer.
      await this.guard(() => this.blob(name, rel).uploadStream(meter, blockSize, BLOCKS_IN_FLIGHT));
    } finally {
      signal?.removeEventListener('abort', stop);
    }
    return { path: rel, size: meter.bytes, sha256: meter.digest() };
  }

  /** Streams one blob into `sink`, checking its size and sha256 against the manifest's entry. */
  private async download(
    name: string,
    file: StoredFile,
    sink: Writable,
    signal?: AbortSignal,
  ): Promise<void> {
    const backup = this.address(name);
    let body: NodeJS.ReadableStream | undefined;
    try {
      body = (await this.blob(name, file.path).download(0, undefined, { abortSignal: signal }))
        .readableStreamBody;
    } catch (err) {
      sink.destroy();
      if (restStatus(err) === 404) throw corruptFile(backup, file.path, true);
      throw storageFailure(err, this.field, this.location);
    }
    if (!body) throw corruptFile(backup, file.path, true);
    const meter = new HashMeter();
    await pipeline(body, meter, sink, { signal });
    if (meter.bytes !== file.size || meter.digest() !== file.sha256)
      throw corruptFile(backup, file.path, false);
  }
}

/** A sink that drops what it is given: verification only hashes. */
function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

/** Runs `fn` over `items`, at most `limit` at a time; the first failure is thrown once all have settled. */
async function eachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async (): Promise<void> => {
    while (next < items.length && failure === undefined) {
      const item = items[next++] as T;
      await fn(item).catch((err: unknown) => {
        failure ??= err;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  // Rethrown as it came: a PgferryError keeps its code, an SDK error its status.
  if (failure !== undefined) throw failure as Error;
}
