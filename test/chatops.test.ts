import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowRun } from '../client/pgferry-client';
import { APPROVAL_BLOCK_ID, APPROVE_ACTION_ID, REJECT_ACTION_ID } from '../domain/chat';
import type { MigrationResult } from '../domain/migration';
import { adminUrl, createEmptyDatabase, dropDatabase, query, uniqueName } from './helpers/pg';
import { runPgferry, spawnPgferry, type PgferryProcess } from './helpers/processes';
import { startSlackApi, type SlackApiStandIn } from './helpers/slack-api';
import { blockActionsBody, signSlackRequest, slashCommandBody, type SlackSender } from './helpers/slack-sign';
import { useTemporalSuite } from './helpers/suite';
import { testEnv } from './helpers/temporal';
import { waitForStatus } from './helpers/wait';

// Slack cannot run here: its Web API and the response_urls are the local stand-in (helpers/slack-api.ts),
// and requests are signed as Slack signs them. Temporal and PostgreSQL are real.
const SECRET = 'test-signing-secret-8f14e45fceea167a';
const ALICE: SlackSender = { userId: 'U0ALICE', userName: 'alice.slack' };
const BOB: SlackSender = { userId: 'U0BOB', userName: 'bob.slack' };
const MALLORY: SlackSender = { userId: 'U0MALLORY', userName: 'mallory' };
/** The channel the senders write in (slack-sign's default) and the migration notifies. */
const CHANNEL = 'C0PGFERRY';

/** A button of a Block Kit actions block. */
interface Button {
  type: string;
  action_id: string;
  value: string;
}

interface Reply {
  response_type: string;
  text: string;
  replace_original?: boolean;
}

describe('the Slack endpoint `pgferry chatops serve` deciding real migrations', () => {
  const databases: string[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'pgferry-chatops-'));
  const usersFile = path.join(dir, 'users.yml');
  let slack: SlackApiStandIn;
  let endpoint: PgferryProcess;
  let url: string;
  let seq = 0;

  const tinySource = async (tag: string) => {
    const source = uniqueName(`chat_${tag}_s`);
    databases.push(source);
    const sourceUrl = await createEmptyDatabase(source);
    await query(
      sourceUrl,
      'CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 50) g',
    );
    const target = uniqueName(`chat_${tag}_t`);
    databases.push(target);
    return { source: sourceUrl, target: adminUrl(5432, target), name: uniqueName(tag).replace(/_/g, '-') };
  };

  const post = (body: string, headers: Record<string, string>, to = url) =>
    fetch(to, { method: 'POST', headers, body }).then(async (res) => ({
      status: res.status,
      body: await res.text(),
    }));

  /** Posts a signed `/pgferry TEXT`; resolves with the HTTP status and the response_url id its answer goes to. */
  const slash = async (text: string, sender: SlackSender, extra: Record<string, string> = {}, to = url) => {
    const id = `r${++seq}`;
    const body = slashCommandBody(text, sender, slack.responseUrl(id));
    const res = await post(body, { ...signSlackRequest(SECRET, body), ...extra }, to);
    return { ...res, id };
  };

  /** The reply posted to a response_url. */
  const replyTo = async (id: string): Promise<Reply> =>
    (await slack.waitForCall(`response:${id}`, undefined, 60_000)).body as unknown as Reply;

  const ask = async (text: string, sender: SlackSender, to = url): Promise<Reply> => {
    const sent = await slash(text, sender, {}, to);
    expect(sent.status).toBe(200);
    return replyTo(sent.id);
  };

  /** The migration is still waiting at its gate and nobody's decision reached it. */
  const expectUndecided = async (name: string) => {
    const status = await suite.client.status(name);
    expect(status.state).toBe('waiting');
    expect(status.stage).toBe('approval');
    expect((await suite.client.history(name)).decisions).toEqual([]);
  };

  const waitForState = (name: string, states: string[]) =>
    waitForStatus(suite.client, name, states.join(' or '), (status) => states.includes(status.state), 60_000);

  let gate: { name: string; run: WorkflowRun<MigrationResult> };

  beforeAll(async () => {
    slack = await startSlackApi();
    // bob is a mapped Slack user but not one of the migration's approvers; mallory is not mapped at all.
    writeFileSync(
      usersFile,
      `# Slack user id: pgferry approver\n${ALICE.userId}: alice\n${BOB.userId}: bob\n`,
    );
  });

  afterAll(async () => {
    await slack?.close();
    for (const db of databases) await dropDatabase(db);
  });

  // The worker posts the approval message to the stand-in too (SLACK_BOT_TOKEN, SLACK_API_URL). It
  // starts in the first test, after an approval has been sent that no worker could have seen.
  const suite = useTemporalSuite({
    env: () =>
      testEnv({ SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: slack.apiUrl, SLACK_BOT_TOKEN: 'xoxb-test' }),
    worker: 'later',
  });

  beforeAll(async () => {
    endpoint = spawnPgferry(['chatops', 'serve', '--port', '0', '--users', usersFile, '--json'], suite.env);
    await endpoint.waitFor(/"ready":true/);
    url = (
      JSON.parse(endpoint.stdout.split('\n').find((l) => l.includes('"ready"')) ?? '{}') as { url: string }
    ).url;
    const { source, target, name } = await tinySource('gate');
    gate = {
      name,
      run: await suite.client.migrate({
        name,
        source,
        target,
        approvers: ['alice'],
        validate: 'counts',
        notify: [`slack:${CHANNEL}`],
      }),
    };
  });

  afterAll(async () => {
    if (endpoint && endpoint.child.exitCode === null) endpoint.child.kill('SIGTERM');
    await endpoint?.exited;
  });

  it('refuses an approval that arrives before the migration is ready, and nothing changes', async () => {
    // No worker polls yet, so the migration cannot have left preflight: the Update waits for the
    // first workflow task and the gate's validator refuses it there, deterministically.
    const sent = await slash(`approve ${gate.name} too early`, ALICE);
    expect(sent.status).toBe(200);
    await suite.startWorker();
    const reply = await replyTo(sent.id);
    expect(reply.response_type).toBe('ephemeral');
    expect(reply.text).toContain('not ready for a decision');
    const status = await waitForState(gate.name, ['waiting']);
    expect(status.stage).toBe('approval');
    expect((await suite.client.history(gate.name)).decisions).toEqual([]);
  });

  it('answers /pgferry list and /pgferry status with the migration’s stage, and /healthz', async () => {
    const list = await ask('list', MALLORY);
    expect(list.response_type).toBe('ephemeral');
    expect(list.text).toContain(`\`${gate.name}\` — waiting for a decision at approval`);
    const status = await ask(`status ${gate.name}`, MALLORY);
    expect(status.text).toContain(`*${gate.name}*: waiting for a decision at approval`);
    expect(status.text).toContain(`/pgferry approve ${gate.name}`);
    expect((await fetch(url.replace('/slack/events', '/healthz'))).status).toBe(200);
  });

  it('refuses decisions from a Slack user who is not in --users, and from a mapped user who is not an approver', async () => {
    const outsider = await ask(`approve ${gate.name}`, MALLORY);
    expect(outsider.response_type).toBe('ephemeral');
    expect(outsider.text).toContain('U0MALLORY is not in the --users file');
    await expectUndecided(gate.name);
    // The engine's --approvers check runs in the workflow's Update validator: its words come back.
    const notApprover = await ask(`approve ${gate.name} looks fine`, BOB);
    expect(notApprover.response_type).toBe('ephemeral');
    expect(notApprover.text).toContain('bob is not one of the approvers (alice)');
    const noReason = await ask(`reject ${gate.name}`, ALICE);
    expect(noReason.response_type).toBe('ephemeral');
    expect(noReason.text).toContain('A rejection needs a reason');
    await expectUndecided(gate.name);
  });

  it('answers hostile and odd requests clearly and changes nothing', async () => {
    const body = slashCommandBody(`approve ${gate.name}`, ALICE, slack.responseUrl('hostile'));
    const signed = signSlackRequest(SECRET, body);
    expect((await post(body, { ...signed, 'x-slack-signature': `v0=${'0'.repeat(64)}` })).status).toBe(401);
    expect((await post(body, { 'content-type': signed['content-type'] })).status).toBe(401);
    expect((await post(body, signSlackRequest('another-apps-secret', body))).status).toBe(401);
    const sixMinutesAgo = Math.floor(Date.now() / 1000) - 6 * 60;
    expect((await post(body, signSlackRequest(SECRET, body, sixMinutesAgo))).status).toBe(401);
    const huge = slashCommandBody(`status ${'x'.repeat(100 * 1024)}`, ALICE, slack.responseUrl('huge'));
    expect((await post(huge, signSlackRequest(SECRET, huge))).status).toBe(413);
    const json = JSON.stringify({ command: '/pgferry', text: `approve ${gate.name}`, user_id: ALICE.userId });
    expect(
      (await post(json, { ...signSlackRequest(SECRET, json), 'content-type': 'application/json' })).status,
    ).toBe(415);
    expect((await fetch(url, { method: 'GET' })).status).toBe(405);
    // Slack's retry of a request: acknowledged, never processed (a retried click must not decide twice).
    const retried = await slash(`approve ${gate.name}`, ALICE, {
      'x-slack-retry-num': '1',
      'x-slack-retry-reason': 'http_timeout',
    });
    expect(retried.status).toBe(200);
    expect(slack.callsTo('response:hostile')).toEqual([]);
    expect(slack.callsTo('response:huge')).toEqual([]);

    // Two copies of one signed request at once both pass the pre-check; only the first Bolt verifies is processed.
    const pair = slashCommandBody(`status ${gate.name}`, ALICE, slack.responseUrl('pair'));
    const pairHeaders = signSlackRequest(SECRET, pair);
    const statuses = await Promise.all([post(pair, pairHeaders), post(pair, pairHeaders)]);
    expect(statuses.map((s) => s.status).sort()).toEqual(expect.arrayContaining([200]));
    await replyTo('pair');
    expect((await post(pair, pairHeaders)).status).toBe(401);
    // Slack retrying a request it already sent (same signature, X-Slack-Retry-Num) gets its 200, and nothing more.
    expect((await post(pair, { ...pairHeaders, 'x-slack-retry-num': '1' })).status).toBe(200);
    // A request sent after the retry, doing the same work, is answered: an answer to the retry would be in by now.
    await ask(`status ${gate.name}`, ALICE);
    expect(slack.callsTo('response:pair')).toHaveLength(1);

    const unknown = await ask('deploy everything', ALICE);
    expect(unknown.response_type).toBe('ephemeral');
    expect(unknown.text).toContain('"deploy" is not a pgferry command');
    expect(unknown.text).toContain('/pgferry approve NAME');
    const missing = await ask('approve no-such-migration', ALICE);
    expect(missing.response_type).toBe('ephemeral');
    expect(missing.text).toContain('No migration named `no-such-migration`');
    const missingStatus = await ask('status no-such-migration', ALICE);
    expect(missingStatus.text).toContain('No migration named `no-such-migration`');
    expect(slack.callsTo(`response:${retried.id}`)).toEqual([]);
    await expectUndecided(gate.name);
  });

  it('refuses every decision when started without --users, while list and status still answer', async () => {
    const open = spawnPgferry(['chatops', 'serve', '--port', '0'], suite.env);
    try {
      await open.waitFor(/chatops: listening on (\S+)/);
      const openUrl = /chatops: listening on (\S+)/.exec(open.stdout)![1]!;
      expect(open.stderr).toContain('decisions from Slack are refused');
      const refused = await ask(`approve ${gate.name}`, ALICE, openUrl);
      expect(refused.response_type).toBe('ephemeral');
      expect(refused.text).toContain('started without `--users`');
      expect((await ask(`status ${gate.name}`, ALICE, openUrl)).text).toContain('waiting for a decision');
    } finally {
      open.child.kill('SIGINT');
    }
    expect((await open.exited).code).toBe(0);
    await expectUndecided(gate.name);
  });

  it('completes the migration when an approver clicks Approve in the worker’s message, which is then edited to say who decided', async () => {
    // The approval message the worker posted at the gate, and its Approve button, as Slack shows them.
    const [posted] = (slack.messages.get(CHANNEL) ?? []).filter((m) =>
      JSON.stringify(m.blocks).includes(APPROVE_ACTION_ID),
    );
    expect(posted, 'the worker posted no approval message').toBeDefined();
    const actions = (posted!.blocks as { type: string; block_id?: string; elements?: Button[] }[]).find(
      (b) => b.type === 'actions' && b.block_id === APPROVAL_BLOCK_ID,
    );
    const button = actions?.elements?.find((e) => e.action_id === APPROVE_ACTION_ID);
    expect(button).toMatchObject({ type: 'button', value: gate.name });
    const click = blockActionsBody(
      { blockId: APPROVAL_BLOCK_ID, actionId: button!.action_id, value: button!.value },
      ALICE,
      slack.responseUrl('click'),
      posted,
    );
    const headers = signSlackRequest(SECRET, click);
    expect((await post(click, headers)).status).toBe(200);
    const reply = await replyTo('click');
    expect(reply).toMatchObject({ response_type: 'in_channel', replace_original: false });
    expect(reply.text).toContain(`✅ *${gate.name}* approved by alice`);

    const result = await gate.run.result();
    expect(result.outcome).toBe('completed');
    const via = {
      chat: 'slack',
      team: 'T0TEST',
      userId: 'U0ALICE',
      userName: 'alice.slack',
      channel: 'C0PGFERRY',
    };
    expect(result.decision).toMatchObject({ outcome: 'approved', by: 'alice', channel: 'update', via });
    // The worker edits that message in place: the outcome, who, and no buttons left to click.
    const edited = await slack.waitForCall(
      'chat.update',
      (c) => c.body.channel === CHANNEL && c.body.ts === posted!.ts,
    );
    expect(JSON.stringify(edited.body)).toContain('alice');
    expect(JSON.stringify(edited.body.blocks)).not.toContain(APPROVE_ACTION_ID);

    // The same signed click again: a replay, refused before Bolt, and nothing is decided twice.
    expect((await post(click, headers)).status).toBe(401);
    const twice = await ask(`approve ${gate.name}`, ALICE);
    expect(twice.response_type).toBe('ephemeral');
    expect(twice.text).toContain('already approved by alice');
    const reject = blockActionsBody(
      { blockId: APPROVAL_BLOCK_ID, actionId: REJECT_ACTION_ID, value: gate.name },
      ALICE,
      slack.responseUrl('late-reject'),
    );
    expect((await post(reject, signSlackRequest(SECRET, reject))).status).toBe(200);
    expect((await replyTo('late-reject')).text).toContain('no longer running: it ended completed');

    const history = await runPgferry(['history', gate.name, '--json'], suite.env);
    expect(history.code, history.stderr).toBe(0);
    const timeline = JSON.parse(history.stdout) as {
      decisions: { by?: string; via?: Record<string, string> }[];
    };
    expect(timeline.decisions).toEqual([expect.objectContaining({ outcome: 'approved', by: 'alice', via })]);
    expect((await suite.client.status(gate.name)).state).toBe('completed');
  });

  it('answers a decision on a cancelled migration with its state, and changes nothing', async () => {
    const { source, target, name } = await tinySource('can');
    const run = await suite.client.migrate({ name, source, target, validate: 'none' });
    await waitForState(name, ['waiting']);
    await suite.client.cancel(`migration-${name}`);
    await run.result().catch(() => undefined);
    const before = await waitForState(name, ['rolled_back', 'cancelled']);
    const reply = await ask(`approve ${name} after all`, ALICE);
    expect(reply.response_type).toBe('ephemeral');
    expect(reply.text).toContain(`*${name}* is no longer running: it ended ${before.state}`);
    expect((await suite.client.status(name)).state).toBe(before.state);
    expect((await suite.client.history(name)).decisions).toEqual([]);
  });

  it('stops cleanly on SIGTERM', async () => {
    endpoint.child.kill('SIGTERM');
    expect((await endpoint.exited).code).toBe(0);
  });
});

describe('`pgferry chatops serve` refusing bad settings before it starts', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgferry-chatops-bad-'));
  const env = () => testEnv({ SLACK_SIGNING_SECRET: SECRET });

  it.each([
    ['invalid YAML', 'U0ALICE: [alice\n', /users\.yml: not valid YAML at line \d/],
    [
      'a name that is not a string',
      'U0ALICE: 42\n',
      /users\.yml: key "U0ALICE": expected the approver name as a string/,
    ],
    ['an empty map', '{}\n', /users\.yml: maps no Slack user/],
    ['a map written backwards', 'alice: U0ALICE\n', /users\.yml: key "alice": expected a Slack user id/],
  ])(
    'exits 2 for a --users file with %s, naming the file, the key and the fix',
    async (_what, text, message) => {
      const file = path.join(mkdtempSync(path.join(dir, 'u-')), 'users.yml');
      writeFileSync(file, text);
      const cli = await runPgferry(['chatops', 'serve', '--port', '0', '--users', file, '--json'], env());
      expect(cli.code, cli.stderr).toBe(2);
      const { error } = JSON.parse(cli.stdout) as { error: { code: string; message: string; fix: string } };
      expect(error.code).toBe('InvalidInput');
      expect(error.message).toMatch(message);
      expect(error.message).toContain(file);
      expect(error.fix).toContain('U024BE7LH: alice');
    },
  );

  it('exits 2 for a --users file that does not exist', async () => {
    const file = path.join(dir, 'absent.yml');
    const cli = await runPgferry(['chatops', 'serve', '--users', file], env());
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain(`${file}: cannot be read (ENOENT)`);
  });

  it('exits 2 naming SLACK_SIGNING_SECRET and the fix when it is not set', async () => {
    const cli = await runPgferry(['chatops', 'serve'], { ...env(), SLACK_SIGNING_SECRET: '' });
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('SLACK_SIGNING_SECRET: required');
    expect(cli.stderr).toContain('Signing Secret');
  });
});
