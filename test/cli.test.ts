import { execFileSync } from 'node:child_process';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../domain/errors';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import {
  adminUrl,
  cloneDatabase,
  createTemplateDatabase,
  dropDatabase,
  query,
  runCommand,
  uniqueName,
} from './helpers/pg';
import { runPgferry } from './helpers/processes';
import { useTemporalSuite } from './helpers/suite';
import { CLI } from './helpers/temporal';

const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');

interface CliError {
  ok: false;
  error: { code: string; message: string; field?: string; fix?: string };
}

async function databaseExists(name: string): Promise<boolean> {
  const rows = await query(adminUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return rows.length === 1;
}

describe('the pgferry CLI against a real Temporal server and PostgreSQL', () => {
  const template = uniqueName('cli_tpl');
  const source = uniqueName('cli_src');
  const databases: string[] = [source];
  let backups: string;
  let backup: string;
  let backupId: string;

  const cli = (...args: string[]) => runPgferry(args, suite.env);
  const failure = async (...args: string[]) => {
    const result = await cli(...args, '--json');
    return { code: result.code, body: JSON.parse(result.stdout) as CliError };
  };

  beforeAll(async () => {
    await createTemplateDatabase(template, FIXTURE);
    await cloneDatabase(template, source);
    backups = await mkdtemp(path.join(tmpdir(), 'pgferry-cli-'));
  });

  afterAll(async () => {
    for (const name of databases) await dropDatabase(name);
    await dropDatabase(template);
    await rm(backups, { recursive: true, force: true });
  });

  // After the hooks above: the worker starts once the databases exist and stops before they are dropped.
  const suite = useTemporalSuite({ client: false });

  it('backs up with --wait --json and prints the backup that restore --from accepts', async () => {
    const result = await cli(
      'backup',
      '--source',
      adminUrl(5432, source),
      '--to',
      backups,
      '--jobs',
      '2',
      '--wait',
      '--json',
    );
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout) as {
      ok: boolean;
      backup: string;
      workflowId: string;
      rows: number;
    };
    expect(body.ok).toBe(true);
    expect(path.dirname(body.backup)).toBe(backups);
    expect(body.rows).toBeGreaterThan(1000);
    backup = body.backup;
    backupId = body.workflowId;
  });

  it('restores that backup into a database identical to the source: schema, rows, sequences, large objects', async () => {
    const target = uniqueName('cli_dst');
    databases.push(target);
    const result = await cli(
      'restore',
      '--from',
      backup,
      '--target',
      adminUrl(5432, target),
      '--wait',
      '--json',
    );
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout) as { report: { ok: boolean; largeObjectsRestored: number } };
    expect(body.report.ok).toBe(true);
    expect(body.report.largeObjectsRestored).toBe(3);
    const diff = diffFingerprints(
      await databaseFingerprint(adminUrl(5432, source)),
      await databaseFingerprint(adminUrl(5432, target)),
    );
    expect(diff).toEqual([]);
  });

  it('shows status, the list of workflows and the backup catalog as JSON', async () => {
    const status = JSON.parse((await cli('status', backupId, '--json')).stdout) as {
      state: string;
      stage: string;
      type: string;
    };
    expect(status).toMatchObject({ state: 'completed', stage: 'done', type: 'backup' });
    const list = JSON.parse((await cli('list', '--json')).stdout) as { workflows: { id: string }[] };
    expect(list.workflows.map((w) => w.id)).toContain(backupId);
    const catalog = JSON.parse((await cli('backup', 'list', '--dir', backups, '--json')).stdout) as {
      backups: { backup: string }[];
    };
    expect(catalog.backups.map((b) => b.backup)).toEqual([backup]);
    const human = await cli('status', backupId);
    expect(human.stdout).toContain('completed');
  });

  it('prints the stages as the workflow passes them when stderr is not a terminal', async () => {
    const target = uniqueName('cli_dst2');
    databases.push(target);
    const result = await cli('restore', '--from', backup, '--target', adminUrl(5432, target), '--wait');
    expect(result.code).toBe(0);
    // One line per stage seen (how many depends on the 500 ms polling), the last one with every stage done.
    const lines = result.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[0]).toMatch(/▶/);
    expect(lines.at(-1)).toMatch(/validate ✓ → done ✓/);
    expect(result.stdout).toContain('all match the manifest');
  });

  it('draws the progress in place on a terminal', async () => {
    const target = uniqueName('cli_tty');
    databases.push(target);
    const command = [
      process.execPath,
      CLI,
      'restore',
      '--from',
      backup,
      '--target',
      adminUrl(5432, target),
      '--wait',
    ]
      .map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    // script(1) gives the CLI a pseudo-terminal, as a person's shell would.
    const result = await runCommand('script', ['-qec', command, '/dev/null'], { env: suite.env });
    expect(result.stdout).toContain('\r\x1b[K');
    expect(result.stdout).toMatch(/validate ✓/);
    expect(result.stdout).toContain('all match the manifest');
  });

  it('refuses a URL with a password with exit 2 and says how to pass it, before anything starts', async () => {
    const { code, body } = await failure(
      'backup',
      '--source',
      'postgres://postgres:hunter2@127.0.0.1:5432/x',
      '--to',
      backups,
    );
    expect(code).toBe(2);
    expect(body.error).toMatchObject({ code: ErrorCode.InvalidInput, field: 'source' });
    expect(body.error.fix).toMatch(/pgpass/);
    expect(JSON.stringify(body)).not.toContain('hunter2');
  });

  it('refuses a URL that does not parse and a bad --jobs with exit 2', async () => {
    const bad = await failure('backup', '--source', 'not a url', '--to', backups);
    expect(bad.code).toBe(2);
    expect(bad.body.error.field).toBe('source');
    const jobs = await cli('backup', '--source', adminUrl(5432, source), '--to', backups, '--jobs', '0');
    expect(jobs.code).toBe(2);
    expect(jobs.stderr).toContain('jobs');
  });

  it.each<[string, string, string]>([
    ['an unreachable host', 'postgres://postgres@127.0.0.1:1/x', ErrorCode.ConnectionFailed],
    ['a missing database', adminUrl(5432, 'pgferry_no_such_database'), ErrorCode.DatabaseMissing],
  ])('names %s as bad input (exit 2) without --wait, quickly', async (_what, url, expected) => {
    const started = Date.now();
    const { code, body } = await failure('backup', '--source', url, '--to', backups);
    expect(code).toBe(2);
    expect(body.error).toMatchObject({ code: expected, field: 'source' });
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('names an unwritable backup directory', async () => {
    const { code, body } = await failure(
      'backup',
      '--source',
      adminUrl(5432, source),
      '--to',
      path.join(FIXTURE, 'under-a-file'),
    );
    expect(code).toBe(2);
    expect(body.error).toMatchObject({ code: ErrorCode.StorageUnwritable, field: 'to' });
  });

  it('refuses a backup that does not exist, and creates nothing on the target', async () => {
    const target = uniqueName('cli_none');
    const { code, body } = await failure(
      'restore',
      '--from',
      path.join(backups, 'no-such-backup'),
      '--target',
      adminUrl(5432, target),
    );
    expect(code).toBe(2);
    expect(body.error).toMatchObject({ code: ErrorCode.BackupNotFound, field: 'from' });
    expect(await databaseExists(target)).toBe(false);
  });

  it('refuses a backup that fails its checksums, and creates nothing on the target', async () => {
    const copy = path.join(backups, 'corrupt-copy');
    execFileSync('cp', ['-r', backup, copy]);
    const dataFile = (await readdir(path.join(copy, 'dump'))).find((f) => f.endsWith('.dat.gz'));
    expect(dataFile).toBeDefined();
    const handle = await open(path.join(copy, 'dump', dataFile!), 'r+');
    try {
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, 20);
      byte[0] = byte[0]! ^ 0xff;
      await handle.write(byte, 0, 1, 20);
    } finally {
      await handle.close();
    }
    const target = uniqueName('cli_corrupt');
    const { code, body } = await failure('restore', '--from', copy, '--target', adminUrl(5432, target));
    expect(code).toBe(2);
    expect(body.error).toMatchObject({ code: ErrorCode.BackupCorrupt, field: 'from' });
    expect(await databaseExists(target)).toBe(false);
  });

  it('refuses to restore over a database that holds data', async () => {
    const { code, body } = await failure('restore', '--from', backup, '--target', adminUrl(5432, source));
    expect(code).toBe(2);
    expect(body.error).toMatchObject({ code: ErrorCode.TargetNotEmpty, field: 'target' });
  });

  it('names an unknown workflow id for status and cancel with exit 2', async () => {
    for (const verb of ['status', 'cancel']) {
      const { code, body } = await failure(verb, 'backup-no-such-id');
      expect(code).toBe(2);
      expect(body.error).toMatchObject({ code: ErrorCode.WorkflowNotFound, field: 'id' });
    }
  });

  it('says Temporal is unreachable with exit 1 and how to start it', async () => {
    const result = await runPgferry(['list', '--json'], { ...suite.env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(result.code).toBe(1);
    const body = JSON.parse(result.stdout) as CliError;
    expect(body.error).toMatchObject({ code: ErrorCode.TemporalUnavailable, field: 'TEMPORAL_ADDRESS' });
    expect(body.error.fix).toContain('pgferry dev');
  });
});
