import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PgferryClient } from '../client/pgferry-client';
import type { MigrationResult } from '../domain/migration';
import { browserSkipReason, launchChromium, pageText, saveScreenshot, waitForText } from './helpers/browser';
import { adminUrl, createEmptyDatabase, dropDatabase, freePort, query, uniqueName } from './helpers/pg';
import { migrateArgs, runPgferry, spawnPgferry, type PgferryProcess } from './helpers/processes';
import { waitFor, waitForStatus } from './helpers/wait';

const skip = browserSkipReason();
if (skip) console.warn(`skipping the Temporal UI browser tests: ${skip}`);

/** The texts of the page's frames: the UI renders summaries and current details (markdown) in iframes. */
async function frameTexts(page: Page): Promise<string[]> {
  const frames = page.frames().filter((f) => f !== page.mainFrame());
  return Promise.all(
    frames.map((f) =>
      f
        .locator('body')
        .innerText()
        .catch(() => ''),
    ),
  );
}

/** Waits until one of the page's frames shows text matching `pattern`, and returns that text. */
async function waitForFrameText(page: Page, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  let seen: string[] = [];
  return waitFor(
    () => `a frame to show ${String(pattern)}; frames: ${JSON.stringify(seen)}`,
    async () => {
      seen = await frameTexts(page);
      return seen.find((t) => pattern.test(t));
    },
    timeoutMs,
    250,
  );
}

// A `pgferry dev` stack of its own (server, UI, codec server, worker) rather than the shared test
// server: what a user opens in the browser, with the UI decoding payloads through the codec server.
// Nothing is mocked: real Temporal, real PostgreSQL, real chromium.
describe.skipIf(skip !== undefined)('the Temporal UI of a migration, in a real browser', () => {
  const source = uniqueName('ui_src');
  const target = uniqueName('ui_dst');
  const name = uniqueName('ui').replace(/_/g, '-');
  const workflowId = `migration-${name}`;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let uiUrl: string;
  let dev: PgferryProcess | undefined;
  let browser: Browser | undefined;
  let client: PgferryClient | undefined;

  beforeAll(async () => {
    // First, so that a missing browser fails the file before anything is started.
    browser = await launchChromium();
    dir = await mkdtemp(path.join(tmpdir(), 'pgferry-ui-'));
    const [port, uiPort, codecPort] = [await freePort(), await freePort(), await freePort()];
    uiUrl = `http://127.0.0.1:${uiPort}`;
    // A user's shell: the dev server's address and one state dir, so every process shares the codec key.
    env = {
      ...process.env,
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      TEMPORAL_CLI_PATH: inject('temporalCliPath'),
      PGFERRY_STATE_DIR: path.join(dir, '.pgferry'),
      PGFERRY_LOG_LEVEL: 'warn',
    };
    for (const key of [
      'TEMPORAL_NAMESPACE',
      'PGFERRY_CODEC_KEY',
      'PGFERRY_CODEC_KEY_ID',
      'PGFERRY_CODEC_TOKEN',
    ])
      delete env[key];
    await createEmptyDatabase(source);
    await query(
      adminUrl(5432, source),
      'CREATE TABLE accounts (id int PRIMARY KEY, owner text); INSERT INTO accounts SELECT g, md5(g::text) FROM generate_series(1, 200) g',
    );
    dev = spawnPgferry(
      ['dev', '--port', String(port), '--ui-port', String(uiPort), '--codec-port', String(codecPort)],
      env,
      dir,
    );
    await dev.waitFor(/ready/, 120_000);
    client = await PgferryClient.connect({ env });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await client?.close();
    if (dev && dev.child.exitCode === null) {
      // SIGINT lets pgferry stop its Temporal server too; SIGKILL only if it hangs.
      dev.child.kill('SIGINT');
      const timer = setTimeout(() => dev?.child.kill('SIGKILL'), 30_000);
      await dev.exited;
      clearTimeout(timer);
    }
    await dropDatabase(source);
    await dropDatabase(target);
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  /** Polls the migration's status until it is in `state`. */
  const waitForState = (state: string, timeoutMs = 120_000) =>
    waitForStatus(client!, name, state, (status) => status.state === state, timeoutMs);

  /** Opens the workflow's page and waits for the SPA to have drawn its history. */
  const openWorkflow = async (): Promise<Page> => {
    const page = await browser!.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(60_000);
    await page.goto(`${uiUrl}/namespaces/default/workflows/${workflowId}`, { waitUntil: 'domcontentloaded' });
    await waitForText(page, /Event History/);
    return page;
  };

  it('shows a migration waiting at its gate: decoded input, static summary, stage, activity summaries', async () => {
    const started = await runPgferry(
      migrateArgs(name, adminUrl(5432, source), adminUrl(5432, target), '--validate', 'counts', '--json'),
      env,
      dir,
    );
    expect(started.code, started.stderr).toBe(0);
    await waitForState('waiting');

    const page = await openWorkflow();
    try {
      // The Input panel, decoded by the codec server: the migration's own fields, not ciphertext.
      const text = await waitForText(page, new RegExp(`"name": "${name}"`));
      expect(text).toContain('"mode": "offline"');
      expect(text).toContain(`"source": "${adminUrl(5432, source)}"`);
      expect(text).not.toContain('binary/encrypted');
      // Each step in the timeline carries its summary, e.g. "copySchemaSection • pre-data schema: …".
      const pair = `127.0.0.1:5432/${source} → 127.0.0.1:5432/${target}`;
      await waitForText(page, new RegExp(`pre-data schema: ${pair}`));
      expect(await pageText(page)).toContain(`validate counts: ${pair}`);
      expect(await pageText(page)).toContain('copy 1 chunk: public.accounts');
      await saveScreenshot(page, 'ui-migration.png');

      // User Metadata: the static summary given at start and the current details the workflow keeps.
      await page.getByRole('tab', { name: 'User Metadata' }).click();
      await waitForFrameText(page, new RegExp(`^${name}: ${pair}, offline$`));
      await waitForFrameText(page, /waiting — stage approval/);
      await saveScreenshot(page, 'ui-migration-metadata.png');

      // Search Attributes: the stage as `temporal workflow list --query 'PgferryStage="approval"'` finds it.
      await page.getByRole('tab', { name: 'Search Attributes' }).click();
      await waitForText(page, /"PgferryStage": "approval"/);
      expect(await pageText(page)).toContain('"PgferryState": "waiting"');
    } finally {
      await page.close();
    }
  }, 240_000);

  it('approves through the UI’s Send an Update dialog; the migration completes with that approver', async () => {
    const page = await openWorkflow();
    try {
      await page.getByRole('button', { name: 'More Actions' }).click();
      await page.getByRole('menuitem', { name: 'Send an Update' }).click();
      const dialog = page.locator('dialog[open]');
      // The names come from the workflow's own metadata (its registered Update handlers).
      await dialog.getByTestId('update-select-button').click();
      await dialog.getByRole('option', { name: 'approve', exact: true }).click();
      await dialog.locator('.cm-content').click();
      await page.keyboard.press('ControlOrMeta+A');
      await page.keyboard.insertText('{"by":"ui-user","reason":"from the UI"}');
      // Leaving the editor reformats the JSON and moves the buttons; a click on Submit while the
      // editor still has focus lands where the button was and does nothing.
      await dialog.locator('#update-id').click();
      await page.waitForTimeout(500);
      await dialog.getByRole('button', { name: 'Submit' }).click();
      await dialog.waitFor({ state: 'detached', timeout: 60_000 });

      const status = await waitForState('completed');
      const result = status.result as MigrationResult;
      expect(result.outcome).toBe('completed');
      expect(result.decision).toMatchObject({
        outcome: 'approved',
        by: 'ui-user',
        reason: 'from the UI',
        channel: 'update',
      });
      await page.reload({ waitUntil: 'domcontentloaded' });
      await waitForText(page, /Completed/);
      await saveScreenshot(page, 'ui-migration-approved.png');
    } finally {
      await page.close();
    }
  }, 240_000);
});
