import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ErrorCode, PgferryError } from '../../domain/errors';
import { splitBackupAddress, tryParseStorageLocation } from '../../domain/storage-location';
import { AzureBlobStorage } from './azblob';
import type { StorageField } from './azblob-client';
import { FilesystemStorage } from './filesystem';
import type { BackupStorage } from './storage';

/** The variable naming where Azure backups are staged (dump) and fetched (restore) on the worker. */
export const SCRATCH_DIR_ENV = 'PGFERRY_SCRATCH_DIR';

/**
 * The storage that serves a location: a filesystem path (a relative one is resolved here), or
 * `azblob://CONTAINER/PREFIX` with credentials from `env`. Any other scheme is InvalidInput naming
 * `field` and the fix.
 */
export function storageFor(
  location: string,
  env: NodeJS.ProcessEnv = process.env,
  field: StorageField = 'to',
): BackupStorage {
  const absolute = /^[a-z][a-z0-9+.-]*:\//i.test(location) ? location : path.resolve(location);
  const parsed = tryParseStorageLocation(absolute);
  if ('problem' in parsed) {
    throw new PgferryError(ErrorCode.InvalidInput, `${field}: ${parsed.problem.message}`, {
      field,
      fix: parsed.problem.fix,
    });
  }
  if (parsed.location.kind === 'filesystem') return new FilesystemStorage(parsed.location.path);
  return new AzureBlobStorage(parsed.location, env, env[SCRATCH_DIR_ENV] || tmpdir(), field);
}

/** The storage holding a backup (as `backup` returned its address) and the backup's name in it. */
export function backupAt(
  storageOf: (location: string) => BackupStorage,
  address: string,
): { storage: BackupStorage; name: string } {
  const { location, name } = splitBackupAddress(address);
  return { storage: storageOf(location), name };
}
