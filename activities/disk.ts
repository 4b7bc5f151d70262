import { readFile, statfs } from 'node:fs/promises';
import * as path from 'node:path';
import type { Client } from 'pg';
import type { ConnSpec } from '../domain/connection';
import { DATA_DIRECTORY, SERVER_PORT } from './pg/watch-sql';

/** The free space on the volume that holds a server's WAL. */
export interface DiskSpace {
  readonly freeBytes: number;
  readonly totalBytes: number;
  /** The directory measured (the data directory's pg_wal). */
  readonly path: string;
}

/** A server reached over loopback or a Unix socket runs on the worker's host. */
function onThisHost(spec: ConnSpec): boolean {
  const host = spec.host.toLowerCase();
  return host.startsWith('/') || host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * The free space on the volume of a server's WAL, where the worker can read it: PostgreSQL has no
 * SQL for free disk, so only a server on the worker's own host is measured, and only when its data
 * directory is visible (superuser or pg_read_all_settings) and its postmaster.pid names that
 * directory and port (the worker sees the same files the server does, not a container's
 * namesake). Undefined otherwise: a managed server shows its free storage in its provider's console.
 */
export async function serverDisk(client: Client, spec: ConnSpec): Promise<DiskSpace | undefined> {
  if (!onThisHost(spec)) return undefined;
  try {
    const dir = (await client.query<{ path: string }>(DATA_DIRECTORY)).rows[0]?.path;
    if (dir === undefined || !path.isAbsolute(dir)) return undefined;
    const port = (await client.query<{ port: number }>(SERVER_PORT)).rows[0]?.port;
    // postmaster.pid: pid, data directory, start time, port, … one per line.
    const lines = (await readFile(path.join(dir, 'postmaster.pid'), 'utf8')).split('\n');
    if (lines[1] !== dir || Number(lines[3]) !== port) return undefined;
    const wal = path.join(dir, 'pg_wal');
    const fs = await statfs(wal);
    return { freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize, path: wal };
  } catch {
    // Not readable from here (another user's files, another host's path): not known.
    return undefined;
  }
}
