import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseChatCommand } from '../client/chatops/commands';
import { fallbackFromChat } from '../client/chatops/decide';
import type { WorkflowStatus } from '../domain/contracts';
import type { FallbackWindowReport } from '../domain/migration';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { startPg17Cluster } from './helpers/pg17';
import { useTemporalSuite } from './helpers/suite';
import { waitFor, waitForStatus } from './helpers/wait';
import { startWriter } from './helpers/writer';

/** The application's tables: a serial key, an identity key, a sequence of its own. */
const SCHEMA = `
  CREATE TABLE orders (id bigserial PRIMARY KEY, v int NOT NULL, note text);
  CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind text NOT NULL);
  CREATE SEQUENCE invoice_no;
  INSERT INTO orders (v, note) SELECT 0, 'seed ' || g FROM generate_series(1, 2000) g;
  INSERT INTO events (kind) SELECT 'seed' FROM generate_series(1, 500) g;
  SELECT nextval('invoice_no') FROM generate_series(1, 10)`;

/** One round of the application's writes; `v` tells the server it was written on (1 source, 2 target). */
const writes = (v: number) => [
  `INSERT INTO orders (v, note) VALUES (${v}, 'n' || nextval('invoice_no'))`,
  `INSERT INTO events (kind) VALUES ('w${v}')`,
  `UPDATE orders SET note = note || '+' WHERE id = (SELECT max(id) - 5 FROM orders)`,
  `DELETE FROM events WHERE id = (SELECT min(id) FROM events) AND id % 7 = 0`,
];

/** What two databases must agree on: rows (count, sums, a digest of every row) and sequences. */
const STATE = `
  SELECT (SELECT count(*) FROM orders)::int AS orders,
         (SELECT sum(id) FROM orders)::text AS order_ids,
         (SELECT count(*) FILTER (WHERE v = 2) FROM orders)::int AS written_on_target,
         (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o) AS orders_digest,
         (SELECT count(*) FROM events)::int AS events,
         (SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM events e) AS events_digest,
         (SELECT last_value FROM orders_id_seq)::text AS orders_seq,
         (SELECT last_value FROM events_id_seq)::text AS events_seq,
         (SELECT last_value FROM invoice_no)::text AS invoice_seq`;

/** Replication objects on a server: slots (cluster-wide), and the database's publications and subscriptions. */
const replicationObjects = async (url: string) => ({
  slots: await query(url, 'SELECT slot_name FROM pg_replication_slots ORDER BY 1'),
  publications: await query(url, 'SELECT pubname FROM pg_publication ORDER BY 1'),
  subscriptions: await query(url, 'SELECT subname FROM pg_subscription ORDER BY 1'),
});

const windowOf = (s: WorkflowStatus) => s.details?.fallbackWindow as FallbackWindowReport | undefined;

describe('the fallback window: a PostgreSQL 15 source, a PostgreSQL 17 target, replication back after the cutover', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;
  /** A webhook receiver: the window's notifications, by migration. */
  let receiver: Server;
  let hookUrl = '';
  const told: Record<string, unknown>[] = [];

  /** Nothing of either replication is left on either side: no slot, publication or subscription. */
  const expectNoReplication = async (db: string) => {
    const none = { slots: [], publications: [], subscriptions: [] };
    expect(await replicationObjects(source.url(db))).toEqual(none);
    expect(await replicationObjects(target.url(db))).toEqual(none);
  };

  /** The target is the writable primary (a row noted `note` goes in); the source stays retired (frozen). */
  const expectTargetPrimary = async (db: string, note: string) => {
    await query(target.url(db), 'INSERT INTO orders (v, note) VALUES (2, $1)', [note]);
    await expect(query(source.url(db), 'INSERT INTO orders (v) VALUES (9)')).rejects.toMatchObject({
      code: '25006',
    });
  };

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (raw += chunk));
      req.on('end', () => {
        told.push(JSON.parse(raw) as Record<string, unknown>);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startPg17Cluster({ walLevel: 'logical' }),
    ]);
  }, 180_000);

  afterAll(async () => {
    receiver?.close();
    await Promise.all([source?.stop(), target?.stop()]);
  });

  const suite = useTemporalSuite();

  /** An online migration with a one-hour fallback window under a write load, cut over; returns once the window is open. */
  async function cutOverWithWindow(db: string) {
    await query(source.url(), `CREATE DATABASE ${db}`);
    await query(source.url(db), SCHEMA);
    const writer = startWriter(source.url(db), writes(1));
    const run = await suite.client.migrate({
      name: db,
      source: source.url(db),
      target: target.url(db),
      mode: 'online',
      validate: 'counts',
      fallbackWindowSeconds: 3600,
      approvers: ['alice'],
      notify: [`webhook:${hookUrl}`],
    });
    await waitForStatus(
      suite.client,
      run.workflowId,
      'the approval gate',
      (s) => s.state === 'waiting',
      180_000,
    );
    await waitFor('writes on the source while replicating', async () => {
      const [row] = await query<{ n: number }>(
        source.url(db),
        'SELECT count(*)::int AS n FROM orders WHERE v = 1',
      );
      return (row?.n ?? 0) > 20 ? true : undefined;
    });
    await suite.client.approve(db, { by: 'alice', reason: 'validated' });
    const open = await waitForStatus(
      suite.client,
      run.workflowId,
      'the open fallback window',
      (s) => windowOf(s)?.state === 'open',
      180_000,
    );
    const sourceTally = await writer.stop();
    expect(sourceTally.written).toBeGreaterThan(20);
    return { run, open };
  }

  it('falls back to the source with every write made on the new primary, once, and the downtime in the history', async () => {
    const db = 'fb_back';
    const { run, open } = await cutOverWithWindow(db);
    expect(open.stage).toBe('window');
    const window = windowOf(open);
    expect(window?.until).toBeDefined();
    expect(Date.parse(window?.until ?? '') - Date.now()).toBeGreaterThan(3500_000);
    // The forward replication is gone; the reverse one runs: slot and publication on the target, subscription on the source.
    const onSource = await replicationObjects(source.url(db));
    const onTarget = await replicationObjects(target.url(db));
    expect(onSource.slots).toEqual([]);
    expect(onSource.subscriptions).toHaveLength(1);
    expect(onTarget.slots).toHaveLength(1);
    expect(onTarget.publications).toHaveLength(1);
    // The old source stays frozen for the application.
    await expect(query(source.url(db), 'INSERT INTO orders (v) VALUES (9)')).rejects.toMatchObject({
      code: '25006',
    });

    // The application writes on the new primary, sequences included.
    const writer = startWriter(target.url(db), writes(2));
    await waitFor(
      'writes on the new primary replicated back',
      async () => {
        const [row] = await query<{ n: number }>(
          source.url(db),
          'SELECT count(*)::int AS n FROM orders WHERE v = 2',
        );
        return (row?.n ?? 0) >= 50 ? true : undefined;
      },
      60_000,
    );

    // Falling back while the writer keeps writing on the target: its freeze ends the writer's sessions.
    const refused = suite.client.fallback(db, { by: 'bob', reason: 'a plan regression' });
    await expect(refused).rejects.toMatchObject({ code: 'ApprovalRefused' });
    const fallback = await suite.client.fallback(db, { by: 'alice', reason: 'a plan regression on 17' });
    const tally = await writer.stop();
    expect(tally.written).toBeGreaterThan(50);
    expect(fallback).toMatchObject({ by: 'alice', reason: 'a plan regression on 17' });
    expect(fallback.downtimeMs).toBeGreaterThan(0);
    console.log(
      `fallback downtime: ${fallback.downtimeMs} ms (${tally.written} write rounds on the new primary)`,
    );

    // The old source equals the frozen new primary: every row written there, once; the sequences past them.
    const [back] = await query<Record<string, unknown>>(source.url(db), STATE);
    const [primary] = await query<Record<string, unknown>>(target.url(db), STATE);
    expect(back).toEqual(primary);
    expect(Number(back?.written_on_target)).toBeGreaterThanOrEqual(tally.written);
    // The source takes writes again, with keys past the target's; the target stays frozen.
    await query(source.url(db), "INSERT INTO orders (v, note) VALUES (3, 'after the fallback')");
    await query(source.url(db), "INSERT INTO events (kind) VALUES ('after')");
    await expect(query(target.url(db), 'INSERT INTO orders (v) VALUES (9)')).rejects.toMatchObject({
      code: '25006',
    });

    const result = await run.result();
    expect(result.outcome).toBe('completed');
    expect(result.fallbackWindow).toMatchObject({ state: 'fell_back', fallback: { by: 'alice' } });
    // Nothing of the reverse replication is left on either side.
    await expectNoReplication(db);

    const history = await suite.client.history(db);
    const calls = history.window.filter((w) => w.kind === 'fallback');
    expect(calls).toEqual([
      expect.objectContaining({
        by: 'alice',
        reason: 'a plan regression on 17',
        outcome: 'done',
        downtimeMs: fallback.downtimeMs,
      }),
    ]);
    expect(history.stages.map((s) => s.stage)).toContain('window');
    // The notification targets heard the window open (with its deadline) and the fallback (who, why, downtime).
    const windowEvents = told.filter((n) => n.migration === db && n.event === 'window');
    expect(windowEvents).toEqual([
      expect.objectContaining({ state: 'open', until: window?.until }),
      expect.objectContaining({
        state: 'fell_back',
        by: 'alice',
        reason: 'a plan regression on 17',
        downtimeMs: fallback.downtimeMs,
      }),
    ]);
  }, 600_000);

  it('ends the window with pgferry release: no slot, publication or subscription left on either side', async () => {
    const db = 'fb_release';
    const { run } = await cutOverWithWindow(db);
    await query(target.url(db), "INSERT INTO orders (v, note) VALUES (2, 'on the new primary')");
    const released = await suite.client.release(db, { by: 'carol', reason: 'the new primary is fine' });
    expect(released).toMatchObject({ state: 'released', releasedBy: 'carol' });
    const result = await run.result();
    expect(result.fallbackWindow?.state).toBe('released');
    await expectNoReplication(db);
    // The target stays the primary, writable; the source stays retired (frozen).
    await expectTargetPrimary(db, 'after the release');
    // The migration has ended: there is no window to fall back in.
    await expect(suite.client.fallback(db, { by: 'alice', reason: 'too late' })).rejects.toThrow();
    const history = await suite.client.history(db);
    expect(history.window).toEqual([
      expect.objectContaining({ kind: 'release', by: 'carol', outcome: 'done' }),
    ]);
  }, 600_000);

  it('leaves a way out for a migration cancelled in its window: pgferry cleanup removes the reverse replication', async () => {
    const db = 'fb_cleanup';
    const { run } = await cutOverWithWindow(db);
    // Cancelled in its window: past the point of no return, nothing is undone, the reverse replication stays.
    await suite.client.cancel(run.workflowId);
    await waitForStatus(suite.client, run.workflowId, 'the cancel', (s) => s.state === 'cancelled', 60_000);
    expect((await replicationObjects(target.url(db))).slots).toHaveLength(1);
    const result = await suite.client.cleanup(db);
    const reverse = result.objects.filter((o) => o.object.startsWith('reverse'));
    expect(reverse.map((o) => [o.object, o.found, o.removed])).toEqual([
      ['reverse slot', true, true],
      ['reverse publication', true, true],
      ['reverse subscription', true, true],
    ]);
    await expectNoReplication(db);
    // Past the point of no return: the target stays the writable primary, the source retired.
    await expectTargetPrimary(db, 'after the cleanup');
  }, 600_000);

  it('falls back from Slack: /pgferry fallback NAME reason, as the Slack user’s mapped approver, kept in the history', async () => {
    const db = 'fb_slack';
    const { run } = await cutOverWithWindow(db);
    await query(target.url(db), "INSERT INTO orders (v, note) VALUES (2, 'on the new primary')");
    const parsed = parseChatCommand(`fallback ${db} errors after the switch`);
    expect(parsed).toEqual({ kind: 'fallback', name: db, reason: 'errors after the switch' });
    if (parsed.kind !== 'fallback') throw new Error('not a fallback');
    const actor = { team: 'T1', userId: 'U0ALICE', userName: 'alice.s', channel: 'C0OPS' };
    const stranger = await fallbackFromChat(suite.client, new Map([['U0BOB', 'bob']]), { ...parsed, actor });
    expect(stranger.response_type).toBe('ephemeral');
    const reply = await fallbackFromChat(suite.client, new Map([['U0ALICE', 'alice']]), { ...parsed, actor });
    expect(reply).toMatchObject({ response_type: 'in_channel' });
    expect(reply.text).toContain('fell back to the source by alice');
    const result = await run.result();
    expect(result.fallbackWindow).toMatchObject({
      state: 'fell_back',
      fallback: { by: 'alice', via: { userId: 'U0ALICE' } },
    });
    const [back] = await query<Record<string, unknown>>(source.url(db), STATE);
    expect(back).toEqual((await query<Record<string, unknown>>(target.url(db), STATE))[0]);
    const history = await suite.client.history(db);
    expect(history.window).toEqual([
      expect.objectContaining({
        kind: 'fallback',
        by: 'alice',
        via: expect.objectContaining({ userId: 'U0ALICE' }),
      }),
    ]);
  }, 600_000);
});
