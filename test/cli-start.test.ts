import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from './helpers/cli-path';

const CLI_MODULE = path.resolve(__dirname, '../dist/client/cli.js');

/** The libraries a command loads when its action runs, never at the CLI's start. */
const HEAVY =
  /node_modules\/(zod|@temporalio\/[^/]+|pg|pg-copy-streams|yaml|@azure\/[^/]+|pino|@slack\/[^/]+)\//;

/**
 * Runs the compiled CLI's main() on `argv` in a fresh process and returns the heavy libraries it
 * loaded (each once) and its exit code; what the command prints is discarded.
 */
function heavyLoadedBy(argv: readonly string[]): { heavy: string[]; code: number } {
  const script = `
    const { main } = require(${JSON.stringify(CLI_MODULE)});
    process.stdout.write = process.stderr.write = () => true;
    main(${JSON.stringify(argv)}).then((code) => {
      const heavy = new Set();
      for (const f of Object.keys(require.cache)) {
        const m = ${HEAVY.toString()}.exec(f);
        if (m) heavy.add(m[1]);
      }
      require('node:fs').writeSync(1, JSON.stringify({ heavy: [...heavy], code }));
      process.exit(0);
    });`;
  const out = execFileSync(process.execPath, ['-e', script], {
    stdio: ['ignore', 'pipe', 'ignore'],
    encoding: 'utf8',
  });
  return JSON.parse(out) as { heavy: string[]; code: number };
}

describe("the CLI's start", () => {
  it('loads no Temporal client, schema, pg or chat library for --version, --help or a refused flag', () => {
    for (const argv of [
      ['--version'],
      ['--help'],
      ['migrate', '--help'],
      ['migrate', '--jobs', 'many', '--json'],
      ['status', '--no-such-flag'],
    ]) {
      const { heavy, code } = heavyLoadedBy(argv);
      expect({ argv, heavy }).toEqual({ argv, heavy: [] });
      expect(code === 0 || code === 2).toBe(true);
    }
  });

  it('loads the client library once a command runs, without the storage clients', () => {
    // A refused URL is found by the input schemas, which the command loads before connecting.
    const { heavy, code } = heavyLoadedBy([
      'migrate',
      '--name',
      'x',
      '--source',
      'not a url',
      '--target',
      'postgres://u@h/db',
      '--json',
    ]);
    expect(code).toBe(2);
    expect(heavy).toEqual(expect.arrayContaining(['zod', '@temporalio/client']));
    // The storage clients are the backup catalog's: a migration starts without Azure's SDK.
    expect(heavy).not.toContain('@azure/storage-blob');
  });

  it('still lists every command and every option in --help', () => {
    const root = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    for (const command of ['dev', 'worker', 'migrate', 'approve', 'status', 'history', 'backup', 'cleanup'])
      expect(root).toMatch(new RegExp(`^  ${command} `, 'm'));
    const migrate = execFileSync(process.execPath, [CLI, 'migrate', '--help'], { encoding: 'utf8' });
    for (const option of ['--source <url>', '--validate <level>', '--split-larger-than <size>', '--wait'])
      expect(migrate).toContain(option);
  });
});
