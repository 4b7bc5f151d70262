import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI } from './helpers/cli-path';

describe('the CLI on a pipe', () => {
  it('hands a --json document larger than the pipe buffer whole to a reader that takes its time', () => {
    // A refused 100 kB option comes back in the error document: 300 kB of JSON, more than the
    // 64 kB a pipe holds, read only after the CLI has finished writing (and, before the fix, exited).
    const long = `--${'x'.repeat(100_000)}`;
    const run = spawnSync(
      'bash',
      [
        '-c',
        'node "$0" migrate "$1" --json 2>/dev/null | { sleep 1; cat; }; exit "${PIPESTATUS[0]}"',
        CLI,
        long,
      ],
      { encoding: 'utf8', maxBuffer: 10 * 2 ** 20 },
    );
    expect(run.status).toBe(2);
    expect(run.stdout.length).toBeGreaterThan(200_000);
    const doc = JSON.parse(run.stdout) as { ok: boolean; error: { code: string; message: string } };
    expect(doc.ok).toBe(false);
    expect(doc.error.code).toBe('InvalidInput');
    expect(doc.error.message.includes(long)).toBe(true);
  });
});
