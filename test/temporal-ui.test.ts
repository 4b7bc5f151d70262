import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PgferryClient } from '../client/pgferry-client';
import { EncryptionCodec } from '../worker/codec';
import { loadCodecKey, loadConfig } from '../worker/config';
import type { RunningWorker } from '../worker/run';
import { adminUrl, createEmptyDatabase, dropDatabase, query, runCommand, uniqueName } from './helpers/pg';
import {
  connectClient,
  plainTemporal,
  startTestWorker,
  stopWorker,
  testEnv,
  testNamespace,
} from './helpers/temporal';

const { EventType } = temporal.api.enums.v1;

/** `temporal workflow list --query Q -o json` with the real CLI: the workflow ids it lists. */
async function temporalList(query: string): Promise<string[]> {
  const { stdout } = await runCommand(inject('temporalCliPath'), [
    'workflow',
    'list',
    '--address',
    inject('temporalAddress'),
    '--namespace',
    testNamespace(),
    '--query',
    query,
    '--output',
    'json',
  ]);
  const rows = stdout.trim() === '' ? [] : (JSON.parse(stdout) as { execution?: { workflowId?: string } }[]);
  return rows.map((r) => r.execution?.workflowId ?? '');
}

/** Polls until `check` holds: visibility (what `list` reads) trails the history by a moment. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}

/** A workflow's history as the server keeps it: payloads (summaries too) still encrypted. */
async function fetchHistory(workflowId: string): Promise<temporal.api.history.v1.IHistory> {
  const plain = await plainTemporal();
  try {
    return await plain.client.workflow.getHandle(workflowId).fetchHistory();
  } finally {
    await plain.teardown();
  }
}

describe('what the Temporal UI and CLI show of a migration', () => {
  const source = uniqueName('tui_src');
  const targets = [uniqueName('tui_wait'), uniqueName('tui_done')];
  const waiting = uniqueName('tui-wait').replace(/_/g, '-');
  const finished = uniqueName('tui-done').replace(/_/g, '-');
  let env: NodeJS.ProcessEnv;
  let worker: RunningWorker;
  let client: PgferryClient;
  const testCodec = async () => new EncryptionCodec(await loadCodecKey(loadConfig(env)));

  beforeAll(async () => {
    await createEmptyDatabase(source);
    await query(
      adminUrl(5432, source),
      'CREATE TABLE accounts (id int PRIMARY KEY, owner text); INSERT INTO accounts SELECT g, md5(g::text) FROM generate_series(1, 500) g',
    );
    env = testEnv();
    worker = await startTestWorker(env);
    client = await connectClient(env);
  });

  afterAll(async () => {
    // The waiting migration is rejected so that it rolls back and ends instead of waiting forever.
    await client?.reject(waiting, { by: 'test', reason: 'test over' }).catch(() => undefined);
    await client?.close();
    await stopWorker(worker);
    for (const db of [source, ...targets]) await dropDatabase(db);
  });

  it('`temporal workflow list --query PgferryStage="approval"` lists the migration waiting at its gate, not a finished one', async () => {
    const gate = await client.migrate({
      name: waiting,
      source: adminUrl(5432, source),
      target: adminUrl(5432, targets[0]),
      validate: 'counts',
    });
    const done = await client.migrate({
      name: finished,
      source: adminUrl(5432, source),
      target: adminUrl(5432, targets[1]),
      validate: 'counts',
      autoApprove: true,
    });
    expect((await done.result()).outcome).toBe('completed');
    await eventually(
      async () => (await client.status(waiting)).state === 'waiting',
      `${waiting} waiting`,
      90_000,
    );

    const query = 'PgferryStage="approval"';
    await eventually(
      async () => (await temporalList(query)).includes(gate.workflowId),
      `${gate.workflowId} listed`,
    );
    const listed = await temporalList(query);
    expect(listed).toContain(gate.workflowId);
    expect(listed).not.toContain(done.workflowId);
    // The README's second example: waiting migrations of one source server.
    const fromSource = await temporalList(
      `PgferryState="waiting" AND PgferrySource="127.0.0.1:5432/${source}"`,
    );
    expect(fromSource).toEqual([gate.workflowId]);
    // The finished one is found under its own stage: the attribute follows the migration to its end.
    await eventually(
      async () => (await temporalList('PgferryStage="done"')).includes(done.workflowId),
      `${done.workflowId} listed as done`,
    );
  }, 180_000);

  it('gives every activity of a finished migration a readable summary without a connection URL', async () => {
    const history = await fetchHistory(`migration-${finished}`);
    const codec = await testCodec();
    const summaries: Record<string, string[]> = {};
    for (const event of history.events ?? []) {
      if (event.eventType !== EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) continue;
      const type = event.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
      const encoded = event.userMetadata?.summary;
      expect(encoded, `${type} has a summary`).toBeTruthy();
      // Summaries pass the codec like every payload: encrypted in history, clear through the codec.
      const [payload] = await codec.decode([encoded!]);
      const text = defaultPayloadConverter.fromPayload<string>(payload!);
      expect(text).not.toMatch(/postgres:\/\//);
      (summaries[type] ??= []).push(text);
    }
    const src = `127.0.0.1:5432/${source}`;
    expect(summaries).toMatchObject({
      runPreflight: [`preflight checks (offline): ${src} → 127.0.0.1:5432/${targets[1]}`],
      copySchemaSection: [
        `pre-data schema: ${src} → 127.0.0.1:5432/${targets[1]}`,
        `post-data schema: ${src} → 127.0.0.1:5432/${targets[1]}`,
      ],
      copyChunks: ['copy 1 chunk: public.accounts'],
      buildTableIndexes: ['indexes, statistics and counts validation of 1 copied table: public.accounts'],
      validateTables: [
        `validate counts: ${src} → 127.0.0.1:5432/${targets[1]}, besides 1 table validated during the copy`,
      ],
      analyzeTarget: ['analyze 127.0.0.1:5432/' + targets[1] + ', besides 1 table analyzed during the copy'],
    });
  });

  it('replays a history whatever its activity summaries say: they are not part of determinism', async () => {
    const history = temporal.api.history.v1.History.create(await fetchHistory(`migration-${finished}`));
    const codec = await testCodec();
    const [other] = await codec.encode([defaultPayloadConverter.toPayload('a summary the code never wrote')]);
    let changed = 0;
    for (const event of history.events) {
      if (event.eventType !== EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) continue;
      // Every other one is rewritten, the rest lose theirs: a summary format may change between versions.
      event.userMetadata = changed++ % 2 === 0 ? { summary: other! } : null;
    }
    expect(changed).toBeGreaterThan(5);
    await expect(
      Worker.runReplayHistory(
        {
          workflowBundle: { codePath: inject('workflowBundlePath') },
          dataConverter: { payloadCodecs: [codec] },
        },
        history,
        `migration-${finished}`,
      ),
    ).resolves.toBeUndefined();
  });
});
