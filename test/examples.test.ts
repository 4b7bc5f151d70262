import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ErrorCode, type PgferryError } from '../domain/errors';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { adminUrl, clonedPair, createTemplateDatabase, dropDatabase, uniqueName } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { testNamespace } from './helpers/temporal';

const ROOT = path.join(__dirname, '..');
const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');

/** Runs a program to its end and collects what it printed. */
function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('pgferry from code: the examples and the bare temporal CLI', () => {
  const template = uniqueName('ex_tpl');
  const databases: string[] = [];

  const pair = async (tag: string) => {
    const { source, target, name } = await clonedPair(template, 'ex', tag, databases);
    return { source: adminUrl(5432, source), target: adminUrl(5432, target), name };
  };

  /** `temporal workflow start --type migration …` with the bare CLI and plain JSON input. */
  const temporalStart = (name: string, input: string) =>
    run(
      inject('temporalCliPath'),
      [
        'workflow',
        'start',
        '--address',
        inject('temporalAddress'),
        '--namespace',
        testNamespace(),
        '--type',
        'migration',
        '--task-queue',
        'pgferry-control',
        '--workflow-id',
        `migration-${name}`,
        '--input',
        input,
      ],
      suite.env,
    );

  beforeAll(async () => {
    await createTemplateDatabase(template, FIXTURE);
  });

  afterAll(async () => {
    for (const db of databases) await dropDatabase(db);
    await dropDatabase(template);
  });

  // After the hooks above: the worker starts once the template exists and stops before it is dropped.
  const suite = useTemporalSuite();

  it('runs examples/start-migration.ts, which starts a migration through the library and waits for it', async () => {
    const { source, target, name } = await pair('lib');
    const result = await run(
      process.execPath,
      ['--import', 'tsx', 'examples/start-migration.ts', name, source, target],
      suite.env,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      workflowId: `migration-${name}`,
      outcome: 'completed',
      equal: true,
    });
    expect(diffFingerprints(await databaseFingerprint(source), await databaseFingerprint(target))).toEqual(
      [],
    );
  });

  it('runs examples/child-of-your-workflow.ts, whose own workflow runs the migration as a child', async () => {
    const { source, target, name } = await pair('child');
    const result = await run(
      process.execPath,
      ['--import', 'tsx', 'examples/child-of-your-workflow.ts', name, source, target],
      suite.env,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ customer: name, outcome: 'completed' });
    expect((await suite.client.status(name)).state).toBe('completed');
  });

  it('completes a migration started with the bare temporal CLI and plain JSON input', async () => {
    const { source, target, name } = await pair('cli');
    const input = JSON.stringify({ name, source, target, mode: 'offline', autoApprove: true });
    const started = await temporalStart(name, input);
    expect(started.code, started.stderr).toBe(0);
    const result = await suite.client.attach<{ outcome: string }>(`migration-${name}`).result();
    expect(result.outcome).toBe('completed');
  });

  it('fails a migration started with a broken input within seconds, naming the field, creating nothing', async () => {
    const { source, name } = await pair('broken');
    const at = Date.now();
    const input = JSON.stringify({
      name,
      source,
      target: 'postgres://postgres:secret@127.0.0.1/x',
      mode: 'sideways',
    });
    const started = await temporalStart(name, input);
    expect(started.code, started.stderr).toBe(0);
    const error = (await suite.client
      .attach(`migration-${name}`)
      .result()
      .catch((e: unknown) => e)) as PgferryError;
    expect(error.code).toBe(ErrorCode.InvalidInput);
    expect(error.field).toBe('target');
    expect(error.message).toContain('mode');
    expect(error.message).not.toContain('secret');
    expect(Date.now() - at).toBeLessThan(10_000);
    const timeline = await suite.client.history(`migration-${name}`);
    expect(timeline.steps).toEqual([]);
  });
});
