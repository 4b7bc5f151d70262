import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowStatus } from '../domain/contracts';
import { ErrorCode, type PgferryError } from '../domain/errors';
import { approveDdlFromChat } from '../client/chatops/decide';
import { statusReply } from '../client/chatops/replies';
import { main } from '../client/cli';
import { createActivities } from '../activities';
import { replicationObjectName } from '../domain/names';
import { runActivity, testActivityDeps } from './helpers/activity-env';
import { databaseFingerprint, diffFingerprints } from './helpers/fingerprint';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { fingerprint17As15, startPg17Cluster } from './helpers/pg17';
import { useTemporalSuite } from './helpers/suite';
import { waitForStatus } from './helpers/wait';
import { startWriter } from './helpers/writer';

/** The readiness problems of a migration at its gate, by concern (empty when an approval is taken). */
const problems = (s: WorkflowStatus) => (s.details?.readiness ?? {}) as Record<string, string>;
/** The schema changes status lists. */
const changes = (s: WorkflowStatus) =>
  (s.details?.ddl ?? []) as { id: number; tag: string; statement: string; status: string; error?: string }[];

/** The application's writes before the schema change: the columns it had. */
const OLD_WRITES = [
  "INSERT INTO public.live (v) VALUES ('old ' || clock_timestamp())",
  "UPDATE public.live SET v = v || '+' WHERE id = (SELECT max(id) - 3 FROM public.live)",
];
/** After it: the new column and the new table in use. */
const NEW_WRITES = [
  "INSERT INTO public.live (v, note) VALUES ('new ' || clock_timestamp(), 'noted ' || clock_timestamp())",
  "UPDATE public.live SET note = note || '!' WHERE id = (SELECT max(id) - 2 FROM public.live)",
  "INSERT INTO public.archive (v) VALUES ('archived ' || clock_timestamp())",
];

/** The source's schema changes, one statement each, as an application's deploy would run them. */
const DDL = [
  "ALTER TABLE public.live ADD COLUMN note text DEFAULT 'none'",
  'CREATE INDEX live_note_idx ON public.live (note)',
  'CREATE TABLE public.archive (id bigserial PRIMARY KEY, v text NOT NULL)',
  "INSERT INTO public.archive (v) SELECT 'seed ' || g FROM generate_series(1, 500) g",
  'ALTER TABLE public.live ALTER COLUMN note TYPE varchar(300)',
  'ALTER TABLE public.items RENAME COLUMN name TO title',
  "ALTER TABLE public.items ALTER COLUMN title SET DEFAULT 'untitled'",
  'ALTER TABLE public.items ALTER COLUMN title SET NOT NULL',
  'ALTER TABLE public.items ADD COLUMN dropped int',
  'ALTER TABLE public.items DROP COLUMN dropped',
  'CREATE INDEX items_title_idx ON public.items (title)',
  'DROP INDEX public.items_title_idx',
  "COMMENT ON TABLE public.archive IS 'rows moved out of live'",
];
/** The DDL statements of the list above (the INSERT is data). */
const DDL_STATEMENTS = DDL.filter((s) => !s.startsWith('INSERT'));

/** What pgferry may leave on a source: event triggers, its schema, functions or tables by its name. */
const PGFERRY_ON_SOURCE = `
  SELECT 'event trigger ' || evtname AS object FROM pg_event_trigger
  UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'pgferry%'
  UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE 'pgferry%'
  UNION ALL SELECT 'relation ' || relname FROM pg_class WHERE relname LIKE 'pgferry%'
  UNION ALL SELECT 'publication ' || pubname FROM pg_publication
  UNION ALL SELECT 'slot ' || slot_name FROM pg_replication_slots`;

describe('schema changes on the source during an online migration', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;
  /** A PostgreSQL 17 target for the same changes (the issue's 15 → 17 case). */
  let target17: ThrowawayCluster;

  const freshSource = async (name: string) => {
    await query(source.url(), `CREATE DATABASE ${name}`);
    await query(
      source.url(name),
      `CREATE TABLE public.live (id bigserial PRIMARY KEY, v text NOT NULL);
       INSERT INTO public.live (v) SELECT 'seed ' || g FROM generate_series(1, 2000) g;
       CREATE TABLE public.items (id int PRIMARY KEY, name text);
       INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 200) g;`,
    );
  };

  beforeAll(async () => {
    [source, target, target17] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
      startPg17Cluster(),
    ]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop(), target17?.stop()]);
  });

  const suite = useTemporalSuite();

  const startAtGate = async (name: string, ddl: 'apply' | 'hold' | 'refuse', into = target) => {
    const run = await suite.client.migrate({
      name,
      source: source.url(name),
      target: into.url(name),
      mode: 'online',
      validate: 'counts',
      ddl,
    });
    await waitForStatus(
      suite.client,
      run.workflowId,
      'the approval gate',
      (s) => s.state === 'waiting',
      180_000,
    );
    return run;
  };

  it.each([15, 17])(
    'applies ADD COLUMN, CREATE INDEX, CREATE TABLE with rows, ALTER TYPE and more in order with the writes into a PostgreSQL %i target, and leaves nothing of pgferry on the source',
    async (major) => {
      const into = major === 17 ? target17 : target;
      const name = `ddl_apply_${major}`;
      await freshSource(name);
      const before = await query(source.url(name), PGFERRY_ON_SOURCE);
      expect(before).toEqual([]);
      const oldWriter = startWriter(source.url(name), OLD_WRITES);
      const run = await startAtGate(name, 'apply', into);
      // While capturing: its event triggers and table are on the source.
      expect((await query(source.url(name), PGFERRY_ON_SOURCE)).length).toBeGreaterThan(0);

      for (const sql of DDL) await query(source.url(name), sql);
      const newWriter = startWriter(source.url(name), NEW_WRITES);
      let last: WorkflowStatus | undefined;
      const applied = await waitForStatus(
        suite.client,
        run.workflowId,
        'every schema change applied and the gate ready',
        (s) => {
          last = s;
          return (
            changes(s).length === DDL_STATEMENTS.length &&
            changes(s).every((c) => c.status === 'applied') &&
            Object.keys(problems(s)).length === 0
          );
        },
        180_000,
      ).catch((err: unknown) => {
        // What the gate said last: which change, which problem.
        throw new Error(
          `${String(err)}: ${JSON.stringify({ ddl: last && changes(last), readiness: last && problems(last) })}`,
        );
      });
      expect(changes(applied).map((c) => c.statement)).toEqual(DDL_STATEMENTS);
      expect(changes(applied).map((c) => c.tag)).toContain('CREATE TABLE');
      // The new table's rows, copied by the table sync and followed since.
      const archived = await query<{ n: string }>(
        into.url(name),
        'SELECT count(*)::text AS n FROM public.archive',
      );
      expect(Number(archived[0]?.n)).toBeGreaterThanOrEqual(500);

      await suite.client.approve(name, { by: 'alice', reason: 'schema carried' });
      const result = await run.result();
      const written = await Promise.all([oldWriter.stop(), newWriter.stop()]);
      expect(result.outcome).toBe('completed');
      expect(written[1].written).toBeGreaterThan(5);
      const noted = await query<{ n: string }>(
        into.url(name),
        "SELECT count(*)::text AS n FROM public.live WHERE note LIKE 'noted %'",
      );
      expect(Number(noted[0]?.n)).toBeGreaterThan(0);

      const [frozen, copy] = [
        await databaseFingerprint(source.url(name)),
        await databaseFingerprint(into.url(name)),
      ];
      // On 17, only the documented differences between the majors are mapped back (MAINTAIN in ACLs).
      expect(diffFingerprints(frozen, major === 17 ? fingerprint17As15(frozen, copy) : copy)).toEqual([]);
      expect(await query(source.url(name), PGFERRY_ON_SOURCE)).toEqual([]);
      // The history lists them too, each with what became of it.
      const history = await suite.client.history(name);
      expect(
        (history.ddl as { statement: string; status: string }[]).map((c) => [c.statement, c.status]),
      ).toEqual(DDL_STATEMENTS.map((statement) => [statement, 'applied']));
    },
    600_000,
  );

  it('with --ddl refuse, the source rejects a schema change naming pgferry and the migration', async () => {
    const name = 'ddl_refuse';
    await freshSource(name);
    const before = await databaseFingerprint(source.url(name));
    const run = await startAtGate(name, 'refuse');
    const refused = (await query(source.url(name), 'ALTER TABLE public.live ADD COLUMN note text').catch(
      (e: unknown) => e,
    )) as Error & { code?: string };
    expect(refused.code).toBe('55000');
    expect(refused.message).toMatch(/^pgferry: ALTER TABLE refused: migration ddl_refuse /);
    // Temporary tables are an application's own business: allowed.
    await query(source.url(name), 'CREATE TEMP TABLE scratch (x int); DROP TABLE scratch');
    // Nothing is held, so nothing can be approved.
    const notHeld = (await suite.client
      .approveDdl(name, { change: 1, by: 'alice', reason: 'deploy' })
      .catch((e: unknown) => e)) as PgferryError;
    expect([notHeld.code, notHeld.field]).toEqual([ErrorCode.ApprovalRefused, 'ddl']);
    expect(notHeld.message).toContain('--ddl refuse');

    await suite.client.reject(name, { by: 'bob', reason: 'done looking' });
    expect((await run.result()).outcome).toBe('rejected');
    expect(diffFingerprints(before, await databaseFingerprint(source.url(name)))).toEqual([]);
    expect(await query(source.url(name), PGFERRY_ON_SOURCE)).toEqual([]);
    await query(source.url(name), 'ALTER TABLE public.live ADD COLUMN note text');
  }, 300_000);

  it('with --ddl hold, a schema change waits for a person while the writes go on, and ddl approve lets it through in order', async () => {
    const name = 'ddl_hold';
    await freshSource(name);
    const oldWriter = startWriter(source.url(name), OLD_WRITES);
    const run = await startAtGate(name, 'hold');
    const statement = "ALTER TABLE public.live ADD COLUMN note text DEFAULT 'none'";
    await query(source.url(name), statement);
    // The application uses the new column at once: those rows wait behind the change on the target.
    const newWriter = startWriter(source.url(name), NEW_WRITES.slice(0, 2));
    const held = await waitForStatus(
      suite.client,
      run.workflowId,
      'the held change named at the gate',
      (s) =>
        /schema change #\d+ \(ALTER TABLE\) waits for a person's approval/.test(
          problems(s).replication ?? '',
        ),
      120_000,
    );
    const [change] = changes(held);
    expect(change).toMatchObject({ tag: 'ALTER TABLE', statement, status: 'held' });
    const id = change?.id ?? 0;
    expect(problems(held).replication).toContain(
      `pgferry ddl approve ${name} --change ${id} --as WHO --reason TEXT`,
    );
    const noteOnTarget = async () =>
      (
        await query<{ n: string }>(
          target.url(name),
          "SELECT count(*)::text AS n FROM information_schema.columns WHERE table_name = 'live' AND column_name = 'note'",
        )
      )[0]?.n;
    expect(await noteOnTarget()).toBe('0');
    const gateRefused = (await suite.client
      .approve(name, { by: 'alice' })
      .catch((e: unknown) => e)) as PgferryError;
    expect(gateRefused.code).toBe(ErrorCode.ApprovalRefused);
    expect(gateRefused.message).toContain(`schema change #${id} (ALTER TABLE) waits for a person's approval`);

    // Bad approvals, each refused naming its field, nothing recorded.
    const refusedWith = async (approval: { change: number; by: string; reason: string }) =>
      (await suite.client.approveDdl(name, approval).catch((e: unknown) => e)) as PgferryError;
    const unknown = await refusedWith({ change: id + 100, by: 'alice', reason: 'deploy' });
    expect([unknown.code, unknown.field]).toEqual([ErrorCode.ApprovalRefused, 'change']);
    expect(unknown.message).toContain(`no schema change #${id + 100} was captured`);
    const noReason = await refusedWith({ change: id, by: 'alice', reason: ' ' });
    expect([noReason.code, noReason.field]).toEqual([ErrorCode.InvalidInput, 'reason']);
    expect(await main(['ddl', 'approve', name, '--as', 'alice', '--reason', 'deploy', '--json'])).toBe(2);
    expect(await main(['ddl', 'approve', name, '--change', 'two', '--as', 'alice', '--reason', 'x'])).toBe(2);
    expect(await noteOnTarget()).toBe('0');

    // From Slack (the same Update and approver rules; Slack itself cannot run here, the chat
    // handlers are called as the endpoint calls them): status names the held change and its command,
    // a user not in --users is refused, a mapped approver lets it through.
    const users = new Map([['U0ALICE', 'alice']]);
    const inChat = { userId: 'U0ALICE', userName: 'alice.slack', team: 'T0PGFERRY', channel: 'C0PGFERRY' };
    expect((await statusReply(suite.client, name)).text).toContain(
      `Held schema change #${id} (ALTER TABLE): \`${statement}\` — approve with \`/pgferry ddl approve ${name} ${id} REASON\``,
    );
    const stranger = await approveDdlFromChat(suite.client, users, {
      name,
      change: id,
      reason: 'let me',
      actor: { userId: 'U0MALLORY' },
    });
    expect(stranger).toMatchObject({ response_type: 'ephemeral' });
    expect(stranger.text).toContain('is not in the --users file');
    expect(await noteOnTarget()).toBe('0');
    const approved = await approveDdlFromChat(suite.client, users, {
      name,
      change: id,
      reason: 'the release needs the column',
      actor: inChat,
    });
    expect(approved).toMatchObject({ response_type: 'in_channel' });
    expect(approved.text).toContain(
      `schema change #${id} (ALTER TABLE) approved by alice (the release needs the column)`,
    );
    await waitForStatus(
      suite.client,
      run.workflowId,
      'the change applied and the gate ready',
      (s) => changes(s)[0]?.status === 'applied' && Object.keys(problems(s)).length === 0,
      180_000,
    );
    const again = await refusedWith({ change: id, by: 'bob', reason: 'me too' });
    expect([again.code, again.field]).toEqual([ErrorCode.ApprovalRefused, 'change']);
    expect(again.message).toContain('already applied');

    await suite.client.approve(name, { by: 'alice', reason: 'schema carried' });
    const result = await run.result();
    const written = await Promise.all([oldWriter.stop(), newWriter.stop()]);
    expect(result.outcome).toBe('completed');
    expect(written[1].written).toBeGreaterThan(5);
    const diff = diffFingerprints(
      await databaseFingerprint(source.url(name)),
      await databaseFingerprint(target.url(name)),
    );
    expect(diff).toEqual([]);
    expect(await query(source.url(name), PGFERRY_ON_SOURCE)).toEqual([]);
    // The history keeps who let it through, and why.
    const history = await suite.client.history(name);
    expect(history.ddl).toMatchObject([
      {
        id,
        statement,
        status: 'applied',
        approvedBy: 'alice',
        approvalReason: 'the release needs the column',
      },
    ]);
  }, 600_000);

  it('names a statement that fails on the target in status and refuses the approval until a person resolves it', async () => {
    const name = 'ddl_fails';
    await freshSource(name);
    const before = await databaseFingerprint(source.url(name));
    const run = await startAtGate(name, 'apply');
    // The target differs where the statement needs it not to: a duplicate name the constraint refuses.
    await query(target.url(name), "UPDATE public.items SET name = 'item 1' WHERE id = 2");
    const statement = 'ALTER TABLE public.items ADD CONSTRAINT items_name_key UNIQUE (name)';
    await query(source.url(name), statement);
    const failed = await waitForStatus(
      suite.client,
      run.workflowId,
      'the failed schema change named at the gate',
      (s) => /schema change #\d+ \(ALTER TABLE\) failed on the target/.test(problems(s).replication ?? ''),
      120_000,
    );
    expect(problems(failed).replication).toContain(statement);
    expect(problems(failed).replication).toContain('23505');
    expect(changes(failed)).toMatchObject([{ tag: 'ALTER TABLE', statement, status: 'failed' }]);
    const refused = (await suite.client
      .approve(name, { by: 'alice' })
      .catch((e: unknown) => e)) as PgferryError;
    expect(refused.code).toBe(ErrorCode.ApprovalRefused);
    expect(refused.message).toContain(statement);
    // The cutover's drain sees it too (a change that failed after the last look before the freeze).
    const slot = replicationObjectName(run.workflowId);
    const drained = await runActivity(createActivities(testActivityDeps()).waitForReplay, {
      source: source.url(name),
      target: target.url(name),
      slot,
      subscription: slot,
      timeoutMs: 60_000,
    });
    expect(drained.reached).toBe(true);
    expect(drained.ddlFailed).toContain(statement);

    // The fix the message gives: the target mended and the statement run there, then marked resolved.
    const table = /UPDATE (\S+) SET status = 'resolved' WHERE id = (\d+)/.exec(
      problems(failed).replication ?? '',
    );
    expect(table).not.toBeNull();
    await query(target.url(name), "UPDATE public.items SET name = 'item 2' WHERE id = 2");
    await query(target.url(name), statement);
    await query(target.url(name), `UPDATE ${table?.[1]} SET status = 'resolved' WHERE id = ${table?.[2]}`);
    await waitForStatus(
      suite.client,
      run.workflowId,
      'the gate ready once resolved',
      (s) => Object.keys(problems(s)).length === 0,
      120_000,
    );
    await suite.client.reject(name, { by: 'bob', reason: 'rolled back to check the source' });
    expect((await run.result()).outcome).toBe('rejected');
    // Rolled back: the source as it was, but for the schema change its own user made.
    const after = await databaseFingerprint(source.url(name));
    expect(diffFingerprints(before, after).every((d) => d.includes('items_name_key'))).toBe(true);
    expect(await query(source.url(name), PGFERRY_ON_SOURCE)).toEqual([]);
  }, 300_000);
});
