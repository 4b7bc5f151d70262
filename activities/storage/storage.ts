import type { BackupManifest } from '../../domain/contracts';

/** A backup as a storage location lists it. */
export interface CatalogEntry {
  readonly backup: string;
  readonly manifest: BackupManifest;
}

/**
 * Where backups live. pg_dump and pg_restore need local files, so a store hands out a local work
 * directory to write into and commits it whole; an object store would upload on commit.
 */
export interface BackupStorage {
  /** The location, as the user named it (an absolute path for the filesystem). */
  readonly location: string;
  /** Throws StorageUnwritable (naming the fix) unless a backup can be written here. */
  checkWritable(): Promise<void>;
  /** The committed backup of that name, or undefined. */
  find(name: string): Promise<string | undefined>;
  /** A clean local directory to write backup `name` into; what an earlier attempt left is removed. */
  beginWrite(name: string): Promise<{ workDir: string; pidFile: string }>;
  /** Makes the written backup visible under its final name, atomically; returns its address. */
  commit(name: string, workDir: string): Promise<string>;
  /** Every committed backup with its manifest, newest first. */
  list(): Promise<CatalogEntry[]>;
}

/** File name of the manifest inside a backup. */
export const MANIFEST_FILE = 'manifest.json';
/** Folder inside a backup that holds pg_dump's directory-format archive. */
export const DUMP_DIR = 'dump';
