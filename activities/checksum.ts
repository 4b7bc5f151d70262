import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';

/** The sha256 of a file, streamed: a backup file is never held in memory whole. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A pass-through stream that counts the bytes and hashes them (sha256) on their way. */
export class HashMeter extends Transform {
  private readonly hash = createHash('sha256');
  /** Bytes that passed so far. */
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  /** The hex sha256 of every byte that passed; call once, after the end. */
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** Every file below `root`, as paths relative to it, sorted. */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) out.push(path.relative(root, full));
    }
  };
  await walk(root);
  return out.sort();
}

/** The total size in bytes of the files below `root` (0 when it does not exist yet). */
export async function directorySize(root: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else {
        const s = await stat(full).catch(() => undefined);
        if (s) {
          bytes += s.size;
          files += 1;
        }
      }
    }
  };
  await walk(root);
  return { bytes, files };
}
