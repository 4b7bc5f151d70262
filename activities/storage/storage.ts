import type { BackupManifest } from '../../domain/contracts';
import { ErrorCode, PgferryError } from '../../domain/errors';

/** A backup as a storage location lists it. */
export interface CatalogEntry {
  readonly backup: string;
  readonly manifest: BackupManifest;
}

/** One stored file of a backup, as the manifest lists it. */
export type StoredFile = BackupManifest['files'][number];

/** How a long storage step reports bytes and files done (for heartbeats) and learns it is cancelled. */
export interface StorageIo {
  progress(done: { bytes: number; files: number }): void;
  readonly signal?: AbortSignal | undefined;
}

/** A local directory holding a backup's pg_dump archive, and how to let it go. */
export interface LocalDump {
  readonly dir: string;
  /** Removes what was fetched for this restore (nothing for a backup that is local already). */
  release(): Promise<void>;
}

/**
 * Where backups live. pg_dump and pg_restore need local files: a store hands out a local work
 * directory to dump into, stores its files (an object store uploads them), and commits the backup by
 * writing its manifest last; a backup without a manifest does not exist. Restores get a local copy
 * of the archive, checked against the manifest while it is fetched.
 */
export interface BackupStorage {
  /** The location as pgferry prints it: an absolute path, or `azblob://CONTAINER/PREFIX`. */
  readonly location: string;
  /** The address of backup `name` here: what `backup` returns and `restore --from` takes. */
  address(name: string): string;
  /** Throws StorageUnwritable or StorageUnavailable (naming the fix) unless a backup can be written here. */
  checkWritable(): Promise<void>;
  /** The address of the committed backup of that name, or undefined. */
  find(name: string): Promise<string | undefined>;
  /** A clean local directory to dump backup `name` into; what an earlier attempt left is removed. */
  beginWrite(name: string): Promise<{ workDir: string; pidFile: string }>;
  /** Stores every file of the work directory; returns each with its size and sha256 as stored, by path. */
  storeFiles(name: string, workDir: string, io: StorageIo): Promise<StoredFile[]>;
  /** Writes the manifest, last: from then on the backup exists. Returns its address. */
  commit(name: string, workDir: string, manifest: BackupManifest): Promise<string>;
  /** Every committed backup with its manifest, newest first. */
  list(): Promise<CatalogEntry[]>;
  /** The manifest of backup `name`; BackupNotFound when there is none, BackupCorrupt when it does not parse. */
  readManifest(name: string): Promise<BackupManifest>;
  /** Reads every file and checks its size and sha256 against the manifest; BackupCorrupt names the first bad one. */
  verify(name: string, manifest: BackupManifest, io: StorageIo): Promise<void>;
  /**
   * The backup's pg_dump archive in a local directory, every file checked against the manifest;
   * `scratchKey` keeps two restores of one backup apart and lets a retry reuse its place.
   */
  fetchDump(name: string, manifest: BackupManifest, scratchKey: string, io: StorageIo): Promise<LocalDump>;
  /** Deletes backup `name`, its manifest first, so that a half-deleted backup is never listed. */
  remove(name: string): Promise<void>;
}

/** File name of the manifest inside a backup. */
export const MANIFEST_FILE = 'manifest.json';
/** Folder inside a backup that holds pg_dump's directory-format archive. */
export const DUMP_DIR = 'dump';
/** Prefix of work directories and blobs that are not (yet) a backup. */
export const TMP_PREFIX = '.tmp-';

/** BackupCorrupt for a file of a backup that is missing or differs from its manifest entry. */
export function corruptFile(backup: string, file: string, missing: boolean): PgferryError {
  return new PgferryError(
    ErrorCode.BackupCorrupt,
    missing
      ? `from: ${file} is missing from the backup ${backup}`
      : `from: ${file} in ${backup} does not match its checksum in the manifest`,
    { field: 'from', fix: 'the backup is damaged; restore another one or take a new backup' },
  );
}

/** BackupCorrupt for a manifest that does not parse. */
export function corruptManifest(backup: string): PgferryError {
  return new PgferryError(ErrorCode.BackupCorrupt, `from: the manifest of ${backup} does not parse`, {
    field: 'from',
    fix: 'the backup is damaged; take a new one',
  });
}

/** BackupNotFound for an address that holds no manifest. */
export function backupNotFound(detail: string, cause?: unknown): PgferryError {
  return new PgferryError(ErrorCode.BackupNotFound, `from: ${detail}`, {
    field: 'from',
    fix: 'pass the "backup" address that `pgferry backup` printed (see `pgferry backup list --dir LOCATION`)',
    cause,
  });
}
