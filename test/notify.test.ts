import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifyTargets, sendNotification } from '../activities/notify';
import { APPROVAL_BLOCK_ID, APPROVE_ACTION_ID, describeChatIdentity, REJECT_ACTION_ID } from '../domain/chat';
import { ErrorCode, PgferryError } from '../domain/errors';
import { parseNotifyTarget, slackMessage, webhookPayload, type Notification } from '../domain/notify';
import { rejectionOf, silentTemporalLogger, testActivityDeps } from './helpers/activity-env';
import { adminUrl, clonedPair, createTemplateDatabase, dropDatabase, query, uniqueName } from './helpers/pg';
import { migrateArgs, runPgferry } from './helpers/processes';
import { startSlackApi, type SlackApiStandIn, type SlackCall } from './helpers/slack-api';
import { useTemporalSuite } from './helpers/suite';
import { testEnv } from './helpers/temporal';
import { waitFor, waitForStatus } from './helpers/wait';

// Slack is the one thing mocked here: its Web API cannot run on this machine, so a local stand-in
// (test/helpers/slack-api.ts) answers as it does. Temporal and PostgreSQL are real.

const SECRET = 'test-webhook-secret';
const DEFAULT_CHANNEL = 'C0DEFAULT';
const CHAT_IDENTITY = {
  chat: 'slack',
  team: 'T0001',
  userId: 'U024BE7LH',
  userName: 'alice',
  channel: 'C0TEST',
};

/** A small database: two tables, a sequence, enough to reach the gate in a few seconds. */
const FIXTURE_SQL = `
CREATE TABLE public.customers (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.orders (id bigserial PRIMARY KEY, customer bigint REFERENCES public.customers, total numeric);
INSERT INTO public.customers (name) SELECT 'c' || g FROM generate_series(1, 200) g;
INSERT INTO public.orders (customer, total) SELECT 1 + g % 200, g * 1.5 FROM generate_series(1, 1000) g;
`;

/** One webhook delivery as the receiver got it: the raw body (what the signature covers) and its headers. */
interface Delivery {
  readonly raw: string;
  readonly body: Record<string, unknown>;
  readonly headers: IncomingHttpHeaders;
}

/** What a receiver does with pgferry's signature: HMAC-SHA256 of `TIMESTAMP.BODY`, compared as `v1=HEX`. */
function verifySignature(d: Delivery, secret: string): boolean {
  const timestamp = String(d.headers['x-pgferry-timestamp']);
  const expected = `v1=${createHmac('sha256', secret).update(`${timestamp}.${d.raw}`).digest('hex')}`;
  return d.headers['x-pgferry-signature'] === expected;
}

const metadataOf = (call: SlackCall) =>
  call.body.metadata as
    { event_type: string; event_payload: { delivery: string; event: string } } | undefined;

describe('migration notifications to Slack and webhooks (real Temporal and PostgreSQL; Slack stand-in)', () => {
  const template = uniqueName('ntf_tpl');
  const databases: string[] = [];
  let slack: SlackApiStandIn;
  let receiver: Server;
  let hookUrl: string;
  const deliveries: Delivery[] = [];

  const pair = (tag: string) => clonedPair(template, 'ntf', tag, databases);

  const slackCalls = (method: string, channel: string, event?: string) =>
    slack
      .callsTo(method)
      .filter((c) => c.body.channel === channel && (!event || metadataOf(c)?.event_payload.event === event));

  const webhookEvents = (name: string, event: string) =>
    deliveries.filter((d) => d.body.migration === name && d.body.event === event);

  const waitForWebhook = (name: string, event: string) =>
    waitFor(`webhook ${event} of ${name}`, async () => webhookEvents(name, event)[0], 60_000);

  const waitForSlack = (method: string, channel: string, predicate: (c: SlackCall) => boolean) =>
    slack.waitForCall(method, (c) => c.body.channel === channel && predicate(c), 60_000);

  /** The approval message the stand-in keeps for a migration in a channel. */
  const approvalMessageIn = (channel: string, name: string) => {
    const found = slack.messages.get(channel)?.find((m) => {
      const meta = m.metadata as { event_payload?: { event?: string; delivery?: string } } | undefined;
      return (
        meta?.event_payload?.event === 'approval' &&
        meta.event_payload.delivery?.startsWith(`migration-${name}/`)
      );
    });
    if (!found) throw new Error(`no approval message of ${name} in ${channel}`);
    return found;
  };

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pgferry-notify-'));
    writeFileSync(path.join(dir, 'fixture.sql'), FIXTURE_SQL);
    await createTemplateDatabase(template, path.join(dir, 'fixture.sql'));
    slack = await startSlackApi();
    receiver = createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (raw += chunk));
      req.on('end', () => {
        deliveries.push({ raw, body: JSON.parse(raw) as Record<string, unknown>, headers: req.headers });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });

  afterAll(async () => {
    receiver?.close();
    await slack?.close();
    for (const name of databases) await dropDatabase(name);
    await dropDatabase(template);
  });

  // After the hooks above: the worker starts once the stand-ins listen, and stops before they close.
  const suite = useTemporalSuite({
    env: () =>
      testEnv({
        SLACK_API_URL: slack.apiUrl,
        SLACK_BOT_TOKEN: 'xoxb-test-token',
        PGFERRY_WEBHOOK_SECRET: SECRET,
        PGFERRY_SLACK_CHANNEL: DEFAULT_CHANNEL,
      }),
  });

  it('posts the approval request with the contract’s buttons, signs the webhook, shows a chat approval and announces completion', async () => {
    const { source, target, name } = await pair('full');
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      validate: 'counts',
      notify: ['slack:C0TEST', `webhook:${hookUrl}`],
      startedBy: 'carol',
      requireSecondPerson: true,
    });

    // The approval request: one message to the channel, with the facts and the two buttons.
    const posted = await waitForSlack(
      'chat.postMessage',
      'C0TEST',
      (c) => metadataOf(c)?.event_payload.event === 'approval',
    );
    expect(posted.authorization).toBe('Bearer xoxb-test-token');
    const blocks = posted.body.blocks as { type: string; block_id?: string; elements?: unknown[] }[];
    const text = JSON.stringify(blocks);
    expect(text).toContain(name);
    expect(text).toContain(`127.0.0.1:5432/${source} → 127.0.0.1:5432/${target}`);
    expect(text).toContain('offline');
    expect(text).toContain('carol');
    expect(text).toContain('counts: 2/2 tables equal');
    const actions = blocks.find((b) => b.type === 'actions');
    expect(actions?.block_id).toBe(APPROVAL_BLOCK_ID);
    expect(actions?.elements).toEqual([
      expect.objectContaining({
        type: 'button',
        action_id: APPROVE_ACTION_ID,
        value: name,
        style: 'primary',
      }),
      expect.objectContaining({ type: 'button', action_id: REJECT_ACTION_ID, value: name, style: 'danger' }),
    ]);
    expect(String(posted.body.text)).toContain('waits for approval');
    // The worker's default channel hears of every migration as well.
    await waitForSlack('chat.postMessage', DEFAULT_CHANNEL, (c) => String(c.body.text).includes(name));

    // The webhook: the same event, signed over the exact bytes received.
    const approval = await waitForWebhook(name, 'approval');
    expect(verifySignature(approval, SECRET)).toBe(true);
    expect(verifySignature(approval, 'another secret')).toBe(false);
    expect(approval.headers['x-pgferry-event']).toBe('approval');
    expect(approval.headers['x-pgferry-delivery']).toBe(approval.body.delivery);
    expect(approval.body).toMatchObject({
      event: 'approval',
      migration: name,
      workflowId: `migration-${name}`,
      source: `127.0.0.1:5432/${source}`,
      mode: 'offline',
      startedBy: 'carol',
      size: expect.objectContaining({ tables: 2, rows: 1200 }),
    });
    expect(Math.abs(Number(approval.headers['x-pgferry-timestamp']) - Date.now() / 1000)).toBeLessThan(120);

    // `pgferry status` shows where the approval message is.
    const message = approvalMessageIn('C0TEST', name);
    const status = await waitForStatus(suite.client, name, 'details.chat', (s) => !!s.details?.chat, 20_000);
    expect(status.details?.chat).toEqual({ channel: 'C0TEST', ts: message.ts });

    // --require-second-person: the starter may not approve; someone else may, from chat.
    const refused = (await suite.client
      .approve(name, { by: 'carol' })
      .catch((e: unknown) => e)) as PgferryError;
    expect(refused.code).toBe(ErrorCode.ApprovalRefused);
    expect(refused.message).toContain(
      'carol started this migration; --require-second-person needs someone else',
    );
    const decision = await suite.client.approve(name, {
      by: 'alice',
      reason: 'looks good',
      via: CHAT_IDENTITY,
    });
    expect(decision).toMatchObject({ outcome: 'approved', by: 'alice', via: CHAT_IDENTITY });

    const result = await run.result();
    expect(result.outcome).toBe('completed');
    expect(result.decision?.via).toEqual(CHAT_IDENTITY);

    // The approval message now shows the outcome, without buttons.
    const updated = slack.callsTo('chat.update').find((c) => c.body.ts === message.ts);
    expect(updated?.body.channel).toBe('C0TEST');
    expect(String(updated?.body.text)).toContain('approved by alice');
    expect(JSON.stringify(updated?.body.blocks)).toContain('slack: @alice U024BE7LH in C0TEST, team T0001');
    expect((updated?.body.blocks as { type: string }[]).some((b) => b.type === 'actions')).toBe(false);
    expect(webhookEvents(name, 'decided')[0]?.body).toMatchObject({
      outcome: 'approved',
      by: 'alice',
      via: CHAT_IDENTITY,
    });

    // Completion: a message and an event.
    expect(slackCalls('chat.postMessage', 'C0TEST', 'completed')).toHaveLength(1);
    expect(String(slackCalls('chat.postMessage', 'C0TEST', 'completed')[0]?.body.text)).toContain(
      'completed',
    );
    expect(webhookEvents(name, 'completed')).toHaveLength(1);
    expect(verifySignature(webhookEvents(name, 'completed')[0]!, SECRET)).toBe(true);
    // Exactly one approval request reached the channel.
    expect(slackCalls('chat.postMessage', 'C0TEST', 'approval')).toHaveLength(1);

    // The audit trail names the chat identity; --json keeps it whole.
    const human = await runPgferry(['history', name], suite.env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(
      'approved by alice (slack: @alice U024BE7LH in C0TEST, team T0001) via update: looks good',
    );
    const json = JSON.parse((await runPgferry(['history', name, '--json'], suite.env)).stdout) as {
      decisions: { by: string; via?: Record<string, string> }[];
      steps: { step: string }[];
    };
    expect(json.decisions).toContainEqual(expect.objectContaining({ by: 'alice', via: CHAT_IDENTITY }));
    expect(json.steps.filter((s) => s.step === 'notifyTargets')).toHaveLength(1);
  });

  it('never posts twice: a retry finds the post whose answer was lost by its delivery id, and the cancel closes the gate', async () => {
    const { source, target, name } = await pair('idem');
    // Slack takes the approval post but the answer never arrives: the activity fails after the post.
    slack.loseAnswers('chat.postMessage', 1, (body) => body.channel === 'C0IDEM');
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      validate: 'none',
      freezeSource: true,
      notify: ['slack:C0IDEM'],
    });
    const status = await waitForStatus(suite.client, name, 'the approval notification to slack:C0IDEM', (s) =>
      JSON.stringify(s.details?.notifications ?? []).includes('slack:C0IDEM'),
    );
    // One post reached Slack; the second attempt looked the channel up instead of posting again.
    expect(slackCalls('chat.postMessage', 'C0IDEM')).toHaveLength(1);
    expect(slack.callsTo('conversations.history').filter((c) => c.body.channel === 'C0IDEM')).toHaveLength(1);
    const message = approvalMessageIn('C0IDEM', name);
    expect(status.details?.chat).toEqual({ channel: 'C0IDEM', ts: message.ts });
    expect(status.details?.notifications).toContainEqual(
      expect.objectContaining({ event: 'approval', target: 'slack:C0IDEM', ok: true, found: true }),
    );
    const timeline = await suite.client.history(name);
    expect(timeline.steps.filter((st) => st.step === 'notify')).toContainEqual(
      expect.objectContaining({ attempt: 2, outcome: 'completed' }),
    );

    // Cancelled at the gate: the message loses its buttons, then the rollback is announced.
    const cancelled = await runPgferry(['cancel', `migration-${name}`, '--json'], suite.env);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    const error = (await run.result().catch((e: unknown) => e)) as PgferryError;
    expect(error.code).toBe(ErrorCode.Cancelled);
    const closed = await waitForSlack('chat.update', 'C0IDEM', (c) => c.body.ts === message.ts);
    expect(String(closed.body.text)).toContain('cancelled');
    const rolledBack = await waitForSlack(
      'chat.postMessage',
      'C0IDEM',
      (c) => metadataOf(c)?.event_payload.event === 'rolled_back',
    );
    expect(String(rolledBack.body.text)).toContain('was cancelled and was rolled back');
    expect((await suite.client.status(name)).state).toBe('rolled_back');
    expect(slackCalls('chat.postMessage', 'C0IDEM', 'approval')).toHaveLength(1);
  });

  it('threads the reminders under the approval message, and lets the starter reject under --require-second-person', async () => {
    const { source, target, name } = await pair('rem');
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      validate: 'none',
      approvalTimeoutSeconds: 4,
      onApprovalTimeout: 'wait',
      notify: ['slack:C0REM', `webhook:${hookUrl}`],
      startedBy: 'bob',
      requireSecondPerson: true,
    });
    await waitForSlack('chat.postMessage', 'C0REM', (c) => metadataOf(c)?.event_payload.event === 'approval');
    const approval = approvalMessageIn('C0REM', name);
    // At half and nine tenths of the deadline, and when it passed (the migration keeps waiting).
    await waitFor(
      'three reminders',
      async () => (slackCalls('chat.postMessage', 'C0REM', 'reminder').length >= 3 ? true : undefined),
      60_000,
    );
    const reminders = slackCalls('chat.postMessage', 'C0REM', 'reminder');
    expect(reminders).toHaveLength(3);
    for (const r of reminders) expect(r.body.thread_ts).toBe(approval.ts);
    expect(String(reminders[0]?.body.text)).toContain('2 s left');
    expect(String(reminders[2]?.body.text)).toContain('deadline passed');

    const refused = (await suite.client
      .approve(name, { by: 'bob' })
      .catch((e: unknown) => e)) as PgferryError;
    expect(refused.code).toBe(ErrorCode.ApprovalRefused);
    const decision = await suite.client.reject(name, { by: 'bob', reason: 'the window moved' });
    expect(decision.outcome).toBe('rejected');
    const result = await run.result();
    expect(result.outcome).toBe('rejected');
    // Every send of an event is done before the workflow moves on: the webhook heard all three.
    expect(webhookEvents(name, 'reminder').map((d) => d.body.secondsLeft)).toEqual([2, 1, 0]);

    const updated = await waitForSlack('chat.update', 'C0REM', (c) => c.body.ts === approval.ts);
    expect(String(updated.body.text)).toContain('rejected by bob — the window moved');
    const rejected = slackCalls('chat.postMessage', 'C0REM', 'rejected');
    expect(rejected).toHaveLength(1);
    expect(String(rejected[0]?.body.text)).toContain('rejected by bob: the window moved; rolled back');
    expect(webhookEvents(name, 'rejected')[0]?.body).toMatchObject({ by: 'bob', reason: 'the window moved' });
    expect(webhookEvents(name, 'decided')[0]?.body).toMatchObject({ outcome: 'rejected', by: 'bob' });
  });

  it('tells the worker’s default channel, without --notify, that nobody decided in time and the migration rolled back', async () => {
    const { source, target, name } = await pair('late');
    const run = await suite.client.migrate({
      name,
      source: adminUrl(5432, source),
      target: adminUrl(5432, target),
      validate: 'none',
      approvalTimeoutSeconds: 3,
    });
    const error = (await run.result().catch((e: unknown) => e)) as PgferryError;
    expect(error.code).toBe(ErrorCode.ApprovalExpired);
    const approval = approvalMessageIn(DEFAULT_CHANNEL, name);
    const expired = await waitForSlack('chat.update', DEFAULT_CHANNEL, (c) => c.body.ts === approval.ts);
    expect(String(expired.body.text)).toContain('expired');
    const rolledBack = await waitForSlack(
      'chat.postMessage',
      DEFAULT_CHANNEL,
      (c) => metadataOf(c)?.event_payload.event === 'rolled_back' && String(c.body.text).includes(name),
    );
    expect(String(rolledBack.body.text)).toContain('approval: nobody decided within 3 seconds');
    expect(JSON.stringify(rolledBack.body.blocks)).toContain(ErrorCode.ApprovalExpired);
    // No webhook was named, and the default channel is Slack only.
    expect(deliveries.filter((d) => d.body.migration === name)).toEqual([]);
  });

  it('refuses --notify sms:123 before anything is created: exit 2, naming notify and the fix', async () => {
    const { source, target, name } = await pair('bad');
    const cli = await runPgferry(
      migrateArgs(
        name,
        adminUrl(5432, source),
        adminUrl(5432, target),
        '--notify',
        'slack:C0TEST',
        '--notify',
        'sms:123',
        '--json',
      ),
      suite.env,
    );
    expect(cli.code, cli.stderr).toBe(2);
    const { error } = JSON.parse(cli.stdout) as {
      error: { code: string; field: string; message: string; fix: string };
    };
    expect(error).toMatchObject({ code: ErrorCode.InvalidInput, field: 'notify.1' });
    expect(error.message).toContain('sms:123');
    expect(error.fix).toContain('slack:CHANNEL_ID');
    expect(error.fix).toContain('webhook:https://');
    const missing = (await suite.client.status(name).catch((e: unknown) => e)) as PgferryError;
    expect(missing.code).toBe(ErrorCode.WorkflowNotFound);
    expect(await query(adminUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [target])).toEqual([]);
  });
});

describe('the notify activities, without Temporal (the Slack stand-in serves the Web API)', () => {
  const notification = (over: Partial<Notification> = {}): Notification =>
    ({
      event: 'approval',
      size: { bytes: 5 * 1024 * 1024, rows: 1234567, tables: 12 },
      validation: { level: 'checksums', ok: true, tablesOk: 12, tables: 12 },
      lag: { lagBytes: 2048, lagSeconds: 0.4 },
      deadline: '2026-11-26T15:00:00.000Z',
      approvers: ['alice', 'bob'],
      requireSecondPerson: true,
      at: '2026-11-26T14:00:00.000Z',
      delivery: 'migration-shop/run-1/1-approval',
      migration: {
        name: 'shop',
        workflowId: 'migration-shop',
        source: '10.0.0.1:5432/shop',
        target: '10.0.0.2:5432/shop',
        mode: 'online',
        startedBy: 'carol',
      },
      ...over,
    }) as Notification;

  it('refuses slack: targets on a worker without SLACK_BOT_TOKEN, naming it and the fix', async () => {
    const deps = testActivityDeps({ notify: { slackApiUrl: 'http://127.0.0.1:1/api/' } });
    const resolved = (await rejectionOf(notifyTargets(deps, { targets: ['slack:C0TEST'] }))) as PgferryError;
    expect(resolved).toBeInstanceOf(PgferryError);
    expect(resolved.code).toBe(ErrorCode.InvalidInput);
    expect(resolved.field).toBe('SLACK_BOT_TOKEN');
    expect(resolved.fix).toContain('set SLACK_BOT_TOKEN');
    const sent = (await rejectionOf(
      sendNotification(deps, { target: 'slack:C0TEST', notification: notification() }),
    )) as PgferryError;
    expect(sent.field).toBe('SLACK_BOT_TOKEN');
    // Webhooks need no token; the default channel joins the input's targets once.
    const withChannel = testActivityDeps({
      notify: { slackApiUrl: 'http://127.0.0.1:1/api/', slackBotToken: 'x', slackChannel: 'C0DEF' },
    });
    expect(
      await notifyTargets(withChannel, { targets: ['webhook:https://example.org/h', 'slack:C0DEF'] }),
    ).toEqual({ targets: ['webhook:https://example.org/h', 'slack:C0DEF'] });
  });

  it('a retried attempt finds the message its first attempt posted and does not post again', async () => {
    const slack = await startSlackApi();
    try {
      const deps = testActivityDeps({ notify: { slackApiUrl: slack.apiUrl, slackBotToken: 'xoxb-t' } });
      const input = { target: 'slack:C0RETRY', notification: notification() };
      const first = await sendNotification(deps, input, { attempt: 1, firstScheduledMs: Date.now() });
      // The same input again, as Temporal would retry it when the first result was lost.
      const retried = await new MockActivityEnvironment(
        { attempt: 2, scheduledTimestampMs: Date.now() - 5_000 },
        { logger: silentTemporalLogger },
      ).run(sendNotification, deps, input);
      expect(retried).toEqual({ target: 'slack:C0RETRY', message: first.message, found: true });
      expect(slack.callsTo('chat.postMessage')).toHaveLength(1);
      // A reminder's retry looks in the approval message's thread.
      const reminder = {
        target: 'slack:C0RETRY',
        approvalMessage: first.message,
        notification: notification({
          event: 'reminder',
          secondsLeft: 30,
          approvers: [],
          delivery: 'migration-shop/run-1/2-reminder',
        }),
      };
      const threaded = await sendNotification(deps, reminder, { attempt: 1, firstScheduledMs: Date.now() });
      const again = await sendNotification(deps, reminder, { attempt: 3, firstScheduledMs: Date.now() });
      expect(again).toMatchObject({ message: threaded.message, found: true });
      expect(slack.callsTo('conversations.replies')[0]?.body.ts).toBe(first.message?.ts);
      expect(slack.callsTo('chat.postMessage')).toHaveLength(2);
    } finally {
      await slack.close();
    }
  });
});

describe('notification targets and messages (pure)', () => {
  it('parses slack:CHANNEL_ID and webhook URLs, and names the fix for anything else', () => {
    expect(parseNotifyTarget('slack:C0123ABCD')).toEqual({ kind: 'slack', channel: 'C0123ABCD' });
    expect(parseNotifyTarget('webhook:https://example.org/h?x=1')).toEqual({
      kind: 'webhook',
      url: 'https://example.org/h?x=1',
    });
    for (const bad of ['sms:123', 'slack:#deploys', 'webhook:ftp://x', 'webhook:nope']) {
      const parsed = parseNotifyTarget(bad);
      expect('problem' in parsed && parsed.problem.fix, bad).toBeTruthy();
    }
  });

  it('builds the approval message with the facts, the deadline and the contract’s buttons', () => {
    const n = {
      event: 'approval',
      size: { bytes: 5 * 1024 * 1024, rows: 1234567, tables: 12 },
      validation: { level: 'checksums', ok: true, tablesOk: 12, tables: 12 },
      lag: { lagBytes: 2048, lagSeconds: 0.4 },
      deadline: '2026-11-26T15:00:00.000Z',
      approvers: ['alice'],
      requireSecondPerson: true,
      at: '2026-11-26T14:00:00.000Z',
      delivery: 'd1',
      migration: {
        name: 'shop',
        workflowId: 'migration-shop',
        source: '10.0.0.1:5432/shop',
        target: '10.0.0.2:5432/shop',
        mode: 'online',
        startedBy: 'carol',
      },
    } as const satisfies Notification;
    const text = JSON.stringify(slackMessage(n).blocks);
    for (const part of [
      '10.0.0.1:5432/shop → 10.0.0.2:5432/shop',
      '5.0 MB, 1,234,567 rows, 12 tables',
      'checksums: 12/12 tables equal',
      '2.0 kB (0.4 s)',
      '<!date^1795705200^',
      APPROVAL_BLOCK_ID,
      'someone other than carol must approve',
    ])
      expect(text).toContain(part);
    expect(webhookPayload(n)).toMatchObject({
      event: 'approval',
      migration: 'shop',
      workflowId: 'migration-shop',
      at: n.at,
      delivery: 'd1',
      lag: n.lag,
    });
    expect(describeChatIdentity({ ...CHAT_IDENTITY, extra: 'x' })).toBe(
      'slack: @alice U024BE7LH in C0TEST, team T0001, extra=x',
    );
  });
});
