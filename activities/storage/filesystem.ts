import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { BackupManifest } from '../../domain/contracts';
import { ErrorCode, PgferryError } from '../../domain/errors';
import { listFiles, sha256File } from '../checksum';
import { killOrphan } from '../orphans';
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

/** Backups as directories under one filesystem path; a backup becomes visible only by rename. */
export class FilesystemStorage implements BackupStorage {
  readonly location: string;

  constructor(location: string) {
    this.location = path.resolve(location);
  }

  address(name: string): string {
    return path.join(this.location, name);
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
    const dir = this.address(name);
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

  /** The files stay where pg_dump wrote them: they are read once, for their checksums. */
  async storeFiles(_name: string, workDir: string, io: StorageIo): Promise<StoredFile[]> {
    const files: StoredFile[] = [];
    let bytes = 0;
    for (const rel of await listFiles(workDir)) {
      const full = path.join(workDir, rel);
      const size = (await stat(full)).size;
      files.push({ path: rel, size, sha256: await sha256File(full) });
      bytes += size;
      io.progress({ bytes, files: files.length });
    }
    return files;
  }

  async commit(name: string, workDir: string, manifest: BackupManifest): Promise<string> {
    await writeFile(path.join(workDir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
    const final = this.address(name);
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
      try {
        entries.push({ backup: this.address(name), manifest: await this.readManifest(name) });
      } catch {
        // not a backup: other files may share the folder
      }
    }
    return entries.sort((a, b) => b.manifest.startedAt.localeCompare(a.manifest.startedAt));
  }

  readManifest(name: string): Promise<BackupManifest> {
    return readManifest(this.address(name));
  }

  async verify(name: string, manifest: BackupManifest, io: StorageIo): Promise<void> {
    const backup = this.address(name);
    let bytes = 0;
    let done = 0;
    for (const file of manifest.files) {
      const full = path.join(backup, file.path);
      const size = await stat(full).then(
        (s) => s.size,
        () => -1,
      );
      if (size !== file.size || (await sha256File(full)) !== file.sha256) {
        throw corruptFile(backup, file.path, size < 0);
      }
      bytes += file.size;
      done += 1;
      io.progress({ bytes, files: done });
    }
  }

  /** The archive is read where it lies: verifyBackup checked it just before. */
  fetchDump(name: string): Promise<LocalDump> {
    return Promise.resolve({
      dir: path.join(this.address(name), DUMP_DIR),
      release: () => Promise.resolve(),
    });
  }

  async remove(name: string): Promise<void> {
    const dir = this.address(name);
    await rm(path.join(dir, MANIFEST_FILE), { force: true });
    await rm(dir, { recursive: true, force: true });
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
    throw backupNotFound(
      isDir
        ? `${backup} holds no ${MANIFEST_FILE}, so it is not a complete pgferry backup`
        : `no backup at ${backup}`,
      err,
    );
  }
  const parsed = BackupManifest.safeParse(parseJson(text));
  if (!parsed.success) throw corruptManifest(backup);
  return parsed.data;
}

/** JSON.parse that yields undefined for text that is not JSON (a damaged manifest, not a crash). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
