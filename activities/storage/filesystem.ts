import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { BackupManifest } from '../../domain/contracts';
import { ErrorCode, PgferryError } from '../../domain/errors';
import { killOrphan } from '../orphans';
import { MANIFEST_FILE, type BackupStorage, type CatalogEntry } from './storage';

const TMP_PREFIX = '.tmp-';

/** Backups as directories under one filesystem path; a backup becomes visible only by rename. */
export class FilesystemStorage implements BackupStorage {
  readonly location: string;

  constructor(location: string) {
    this.location = path.resolve(location);
  }

  async checkWritable(): Promise<void> {
    try {
      await ensureDir(this.location);
      await access(this.location, constants.W_OK | constants.X_OK);
      const probe = path.join(this.location, `${TMP_PREFIX}probe-${process.pid}`);
      await writeFile(probe, '');
      await rm(probe, { force: true });
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'error';
      throw new PgferryError(
        ErrorCode.StorageUnwritable,
        `to: cannot write backups to ${this.location} (${code})`,
        {
          field: 'to',
          fix: 'choose a directory the worker can create and write to, or fix its permissions',
          cause: err,
        },
      );
    }
  }

  async find(name: string): Promise<string | undefined> {
    const dir = path.join(this.location, name);
    try {
      await access(path.join(dir, MANIFEST_FILE));
      return dir;
    } catch {
      return undefined;
    }
  }

  async beginWrite(name: string): Promise<{ workDir: string; pidFile: string }> {
    const workDir = path.join(this.location, `${TMP_PREFIX}${name}`);
    const pidFile = path.join(this.location, `${TMP_PREFIX}${name}.pid`);
    // A worker that died mid-dump may have left pg_dump running: stop it, and wait until it has
    // exited, before reusing its folder. Only that pg_dump is killed: a worker on another host
    // sharing this location, or a pid taken by another process since, finds no match in /proc.
    await killOrphan(pidFile);
    await rm(workDir, { recursive: true, force: true });
    await mkdir(workDir, { recursive: true });
    return { workDir, pidFile };
  }

  async commit(name: string, workDir: string): Promise<string> {
    const final = path.join(this.location, name);
    await rename(workDir, final);
    return final;
  }

  async list(): Promise<CatalogEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.location);
    } catch {
      return [];
    }
    const entries: CatalogEntry[] = [];
    for (const name of names) {
      if (name.startsWith(TMP_PREFIX)) continue;
      const backup = path.join(this.location, name);
      try {
        entries.push({ backup, manifest: await readManifest(backup) });
      } catch {
        // not a backup: other files may share the folder
      }
    }
    return entries.sort((a, b) => b.manifest.startedAt.localeCompare(a.manifest.startedAt));
  }
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdir never returns for some paths (under /proc),
 * and an unwritable location must fail fast with its errno.
 */
export async function ensureDir(dir: string): Promise<void> {
  const missing: string[] = [];
  let current = path.resolve(dir);
  for (;;) {
    const found = await stat(current).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (found && !found.isDirectory()) {
      throw Object.assign(new Error(`${current} is not a directory`), { code: 'ENOTDIR' });
    }
    if (found) break;
    missing.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const level of missing) {
    await mkdir(level).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

/** Reads and parses a backup's manifest; BackupNotFound when there is none. */
export async function readManifest(backup: string): Promise<BackupManifest> {
  const file = path.join(backup, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const isDir = await stat(backup).then(
      (s) => s.isDirectory(),
      () => false,
    );
    throw new PgferryError(
      ErrorCode.BackupNotFound,
      isDir
        ? `from: ${backup} holds no ${MANIFEST_FILE}, so it is not a complete pgferry backup`
        : `from: no backup at ${backup}`,
      {
        field: 'from',
        fix: 'pass the "backup" path that `pgferry backup` printed (see `pgferry backup list --dir DIR`)',
        cause: err,
      },
    );
  }
  const parsed = BackupManifest.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new PgferryError(ErrorCode.BackupCorrupt, `from: the manifest of ${backup} does not parse`, {
      field: 'from',
      fix: 'the backup is damaged; take a new one',
    });
  }
  return parsed.data;
}

/** The storage that serves a location: a filesystem path now; object stores can follow. */
export function storageFor(location: string): BackupStorage {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new PgferryError(
      ErrorCode.Unsupported,
      `to: storage "${location.split(':')[0]}" is not supported yet`,
      {
        field: 'to',
        fix: 'use a filesystem path on the worker',
      },
    );
  }
  return new FilesystemStorage(location);
}
