import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type PgferryError } from '../domain/errors';
import type { MigrationResult } from '../domain/migration';
import { createActivities } from '../activities';
import { runActivity, testActivityDeps } from './helpers/activity-env';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import {
  adminUrl,
  clonedPair,
  createTemplateDatabase,
  dropDatabase,
  INCOMPRESSIBLE_DOCS,
  query,
  uniqueName,
} from './helpers/pg';
import { migrateArgs, runPgferry } from './helpers/processes';
import { useTemporalSuite } from './helpers/suite';
import { plainTemporal, testEnv } from './helpers/temporal';
import { waitForStatus } from './helpers/wait';

const FIXTURE = path.join(__dirname, 'fixtures', 'complex.sql');

async function databaseExists(name: string): Promise<boolean> {
  return (await query(adminUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
}

async function readOnlyDefault(db: string): Promise<string> {
  const rows = await query<{ v: string }>(
    adminUrl(5432, db),
    "SELECT current_setting('default_transaction_read_only') AS v",
  );
  return rows[0]?.v ?? '';
}

describe('offline migrations with an approval gate, on a real Temporal server and PostgreSQL', () => {
  const template = uniqueName('mig_tpl');
  const databases: string[] = [];

  const pair = (tag: string) => clonedPair(template, 'mig', tag, databases);

  const waitForStage = (name: string, stage: string) =>
    waitForStatus(suite.client, name, `stage ${stage}`, (status) => status.stage === stage, 60_000);

  const hookCalls: unknown[] = [];
  let hookServer: Server;
  let hookUrl: string;
  let hookFile: string;

  beforeAll(async () => {
    await createTemplateDatabase(template, FIXTURE);
    hookServer = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        hookCalls.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/switch`;
    hookFile = path.join(mkdtempSync(path.join(tmpdir(), 'pgferry-hook-')), 'calls');
  });

  afterAll(async () => {
    hookServer?.close();
    for (const name of databases) await dropDatabase(name);
    await dropDatabase(template);
  });

  // After the hooks above: the worker starts once the template and the hook file exist, and stops first.
  const suite = useTemporalSuite({
    env: () =>
      testEnv({
        PGFERRY_SWITCH_HOOK_COMMAND: `echo "$PGFERRY_MIGRATION $PGFERRY_TARGET_URL" >> ${hookFile}`,
      }),
  });

  it('migrates the fixture with --auto-approve into a target identical to the source', async () => {
    const { source, target, name } = await pair('auto');
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      autoApprove: true,
      jobs: 2,
      splitLargerThan: 1024 * 1024,
      switchHook: hookUrl,
    });
    const result = await run.result();
    expect(result.outcome).toBe('completed');
    expect(result.validation?.ok).toBe(true);
    expect(result.largeObjects).toBe(3);
    expect(result.decision).toMatchObject({ outcome: 'approved', channel: 'auto' });
    const diff = diffFingerprints(
      await databaseFingerprint(adminUrl(5432, source)),
      await databaseFingerprint(adminUrl(5432, target)),
    );
    expect(diff).toEqual([]);
    // Tables were validated on the lanes as they were copied, the rest at the end: together, every
    // table a validation of the whole database lists, each once.
    const whole = await runActivity(createActivities(testActivityDeps()).validateTables, {
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      level: 'counts' as const,
    });
    const names = (r: { tables: { schema: string; table: string }[] }) =>
      r.tables.map((t) => `${t.schema}.${t.table}`).sort();
    expect(names(result.validation!)).toEqual(names(whole));
    expect(result.validation?.tables.every((t) => t.ok && t.sourceChecksum !== undefined)).toBe(true);
    // Every table has statistics: those the lanes analyzed after their indexes, and the rest at the end.
    const unanalyzed = await query<{ relname: string }>(
      adminUrl(5432, target),
      `SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
        WHERE c.relkind = 'r' AND s.last_analyze IS NULL ORDER BY 1`,
    );
    expect(unanalyzed).toEqual([]);
    // The endpoint switch heard of the cutover: the URL by POST, the worker's command by its environment.
    expect(hookCalls).toContainEqual(
      expect.objectContaining({
        event: 'pgferry.cutover',
        migration: name,
        target: `postgres://postgres@127.0.0.1:5432/${target}`,
      }),
    );
    expect(readFileSync(hookFile, 'utf8')).toContain(`${name} postgres://postgres@127.0.0.1:5432/${target}`);
    // Running it again with the same name attaches to the finished migration instead of starting another.
    const again = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      autoApprove: true,
    });
    expect(again.workflowId).toBe(run.workflowId);
    expect((await again.result()).rows).toBe(result.rows);
  });

  it('loads incompressible TOASTed columns of whole and split tables as is, and the target ends identical', async () => {
    const { source, target, name } = await pair('asis');
    await query(adminUrl(5432, source), INCOMPRESSIBLE_DOCS);
    await query(
      adminUrl(5432, source),
      'CREATE TABLE public.docs_too AS SELECT * FROM public.docs WHERE id <= 1100',
    );
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      autoApprove: true,
      jobs: 2,
      validate: 'counts',
      // docs (12.7 MB with its TOAST) is split into ranges; docs_too (9.3 MB) is copied whole.
      splitLargerThan: 11 * 1024 * 1024,
    });
    const result = await run.result();
    expect(result.outcome).toBe('completed');
    expect(result.validation?.ok).toBe(true);
    const timeline = await suite.client.history(name);
    expect(timeline.steps.filter((s) => s.step === 'setAsIsStorage')).toHaveLength(1);
    expect(timeline.steps.filter((s) => s.step === 'restoreStorage')).toHaveLength(1);
    // Stored as on the source: blob uncompressed, in columns stored EXTENDED again.
    const stored = (url: string, table: string) =>
      query<{ compressed: string; storage: string }>(
        url,
        `SELECT count(pg_column_compression(blob))::text AS compressed,
                (SELECT attstorage::text FROM pg_attribute
                  WHERE attrelid = 'public.${table}'::regclass AND attname = 'blob') AS storage
           FROM public.${table}`,
      );
    for (const table of ['docs', 'docs_too'])
      expect(await stored(adminUrl(5432, target), table)).toEqual([{ compressed: '0', storage: 'x' }]);
    const diff = diffFingerprints(
      await databaseFingerprint(adminUrl(5432, source)),
      await databaseFingerprint(adminUrl(5432, target)),
    );
    expect(diff).toEqual([]);
  });

  it('waits for a person: refuses outsiders and signals it must not take, then completes on an approver’s word', async () => {
    const { source, target, name } = await pair('gate');
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      approvers: ['alice'],
      validate: 'counts',
    });
    const waiting = await waitForStage(name, 'approval');
    expect(waiting.state).toBe('waiting');

    const refused = (await suite.client
      .approve(name, { by: 'mallory' })
      .catch((e: unknown) => e)) as PgferryError;
    expect(refused.code).toBe(ErrorCode.ApprovalRefused);
    const temporal = await plainTemporal();
    try {
      await temporal.client.workflow
        .getHandle(run.workflowId)
        .signal('approve', { by: 'mallory', reason: 'by signal' });
    } finally {
      await temporal.teardown();
    }
    const afterSignal = await suite.client.status(name);
    expect(afterSignal.state).toBe('waiting');
    expect(JSON.stringify(afterSignal.details)).toContain('mallory');

    const cli = await runPgferry(
      ['approve', name, '--as', 'alice', '--reason', 'validated, go', '--json'],
      suite.env,
    );
    expect(cli.code, cli.stderr).toBe(0);
    const result: MigrationResult = await run.result();
    expect(result.decision).toMatchObject({
      outcome: 'approved',
      by: 'alice',
      reason: 'validated, go',
      channel: 'update',
    });
    const twice = (await suite.client
      .approve(name, { by: 'alice' })
      .catch((e: unknown) => e)) as PgferryError;
    expect(twice.code).not.toBeUndefined();
    const status = JSON.parse((await runPgferry(['status', name, '--json'], suite.env)).stdout) as {
      state: string;
      details: { approval: { decision: { by: string } } };
    };
    expect(status.state).toBe('completed');
    expect(status.details.approval.decision.by).toBe('alice');

    // The audit trail comes back from the Temporal history: stages, checks, validation, every decision.
    const history = await runPgferry(['history', name, '--json'], suite.env);
    expect(history.code, history.stderr).toBe(0);
    const timeline = JSON.parse(history.stdout) as {
      outcome: string;
      stages: { stage: string; durationMs?: number }[];
      decisions: { channel: string; outcome: string; by?: string; reason?: string }[];
      preflight: { ok: boolean };
      validation: { ok: boolean };
    };
    expect(timeline.outcome).toBe('completed');
    expect(timeline.stages.map((st) => st.stage)).toEqual(
      expect.arrayContaining(['preflight', 'copy', 'validate', 'approval', 'done']),
    );
    expect(timeline.stages.find((st) => st.stage === 'approval')?.durationMs).toBeGreaterThan(0);
    expect(timeline.preflight.ok).toBe(true);
    expect(timeline.validation.ok).toBe(true);
    expect(timeline.decisions).toEqual([
      expect.objectContaining({ channel: 'signal', outcome: 'approved', by: 'mallory' }),
      expect.objectContaining({
        channel: 'update',
        outcome: 'approved',
        by: 'alice',
        reason: 'validated, go',
      }),
    ]);
    const human = await runPgferry(['history', name], suite.env);
    expect(human.stdout).toContain('approved by alice via update: validated, go');
  });

  it('rolls back on rejection: the source is unfrozen and, with --on-rollback drop, the target is gone', async () => {
    const { source, target, name } = await pair('rej');
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      validate: 'counts',
      freezeSource: true,
      onRollback: 'drop',
    });
    await waitForStage(name, 'approval');
    expect(await readOnlyDefault(source)).toBe('on');
    const cli = await runPgferry(
      ['reject', name, '--as', 'bob', '--reason', 'wrong window', '--json'],
      suite.env,
    );
    expect(cli.code, cli.stderr).toBe(0);
    const result = await run.result();
    expect(result.outcome).toBe('rejected');
    expect((await suite.client.status(name)).state).toBe('rolled_back');
    expect(await readOnlyDefault(source)).toBe('off');
    expect(await databaseExists(target)).toBe(false);
  });

  it('freezes the source for the copy, leaves it read-only after completion and records the downtime', async () => {
    const { source, target, name } = await pair('frz');
    const result = await (
      await suite.client.migrate({
        name,
        source: adminUrl(5432, source),
        target: adminUrl(5432, target),
        autoApprove: true,
        freezeSource: true,
        validate: 'counts',
      })
    ).result();
    expect(result.downtimeMs).toBeGreaterThan(0);
    expect(await readOnlyDefault(source)).toBe('on');
  });

  it('stops before creating anything when preflight finds an error', async () => {
    const { source, name } = await pair('pre');
    const target = uniqueName('mig_never');
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: `postgres://postgres@127.0.0.1:1/${target}`,
      autoApprove: true,
    });
    const error = (await run.result().catch((e: unknown) => e)) as PgferryError;
    expect(error.code).toBe(ErrorCode.PreflightFailed);
    expect(await databaseExists(target)).toBe(false);
    const cli = await runPgferry(
      [
        'preflight',
        '--source',
        adminUrl(5432, source),
        '--target',
        `postgres://postgres@127.0.0.1:1/${target}`,
        '--json',
      ],
      suite.env,
    );
    expect(cli.code).toBe(1);
    const report = JSON.parse(cli.stdout) as { ok: boolean; checks: { id: string; ok: boolean }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.id === 'connect.target')?.ok).toBe(false);
  });

  it('reminds the approvers before the deadline and rolls back when nobody decides in time', async () => {
    const { source, target, name } = await pair('late');
    const cli = await runPgferry(
      migrateArgs(
        name,
        adminUrl(5432, source),
        adminUrl(5432, target),
        '--validate',
        'counts',
        '--approval-timeout',
        '4s',
        '--wait',
        '--json',
      ),
      suite.env,
    );
    expect(cli.code).toBe(1);
    expect((JSON.parse(cli.stdout) as { error: { code: string } }).error.code).toBe(
      ErrorCode.ApprovalExpired,
    );
    expect((await suite.client.status(name)).state).toBe('rolled_back');
    const timeline = await suite.client.history(name);
    expect(timeline.steps.filter((s) => s.step === 'remindApproval')).toHaveLength(2);
  });

  it('cancels a migration waiting for approval and rolls it back', async () => {
    const { source, target, name } = await pair('can');
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      validate: 'none',
      freezeSource: true,
    });
    await waitForStage(name, 'approval');
    const cli = await runPgferry(['cancel', `migration-${name}`, '--json'], suite.env);
    expect(cli.code).toBe(0);
    const error = (await run.result().catch((e: unknown) => e)) as PgferryError;
    expect(error.code).toBe(ErrorCode.Cancelled);
    expect((await suite.client.status(name)).state).toBe('rolled_back');
    expect(await readOnlyDefault(source)).toBe('off');
  });
});
