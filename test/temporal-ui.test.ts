import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EncryptionCodec } from '../worker/codec';
import { loadCodecKey, loadConfig } from '../worker/config';
import { adminUrl, createEmptyDatabase, dropDatabase, query, runCommand, uniqueName } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { plainTemporal, testNamespace } from './helpers/temporal';
import { waitFor, waitForStatus } from './helpers/wait';

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

/** Waits until `temporal workflow list --query Q` lists `workflowId`: visibility trails the history by a moment. */
function waitUntilListed(query: string, workflowId: string): Promise<true> {
  return waitFor(
    `${workflowId} listed by ${query}`,
    async () => ((await temporalList(query)).includes(workflowId) ? true : undefined),
    30_000,
    250,
  );
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
  const testCodec = async () => new EncryptionCodec(await loadCodecKey(loadConfig(suite.env)));

  beforeAll(async () => {
    await createEmptyDatabase(source);
    await query(
      adminUrl(5432, source),
      'CREATE TABLE accounts (id int PRIMARY KEY, owner text); INSERT INTO accounts SELECT g, md5(g::text) FROM generate_series(1, 500) g',
    );
  });

  afterAll(async () => {
    for (const db of [source, ...targets]) await dropDatabase(db);
  });

  // After the hooks above: the worker starts once the source exists, and stops before it is dropped.
  const suite = useTemporalSuite();

  afterAll(async () => {
    // The waiting migration is rejected so that it rolls back and ends instead of waiting forever.
    await suite.client.reject(waiting, { by: 'test', reason: 'test over' }).catch(() => undefined);
  });

  it('`temporal workflow list --query PgferryStage="approval"` lists the migration waiting at its gate, not a finished one', async () => {
    const gate = await suite.client.migrate({
      name: waiting,
      source: adminUrl(5432, source),
      target: adminUrl(5432, targets[0]),
      validate: 'counts',
    });
    const done = await suite.client.migrate({
      name: finished,
      source: adminUrl(5432, source),
      target: adminUrl(5432, targets[1]),
      validate: 'counts',
      autoApprove: true,
    });
    expect((await done.result()).outcome).toBe('completed');
    await waitForStatus(suite.client, waiting, 'the approval gate', (s) => s.state === 'waiting', 90_000);

    // The finished one is found under its own stage: the attribute follows the migration to its end.
    // Listed there, its last visibility update has landed, so its absence below is not a lag.
    await waitUntilListed('PgferryStage="done"', done.workflowId);
    const query = 'PgferryStage="approval"';
    await waitUntilListed(query, gate.workflowId);
    const listed = await temporalList(query);
    expect(listed).toContain(gate.workflowId);
    expect(listed).not.toContain(done.workflowId);
    // The README's second example: waiting migrations of one source server.
    const fromSource = await temporalList(
      `PgferryState="waiting" AND PgferrySource="127.0.0.1:5432/${source}"`,
    );
    expect(fromSource).toEqual([gate.workflowId]);
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
