import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { checkMigrationOptions } from '../client/pgferry-client';
import { size } from '../client/commands/migrate';
import { formatByteSize, parseByteSize } from '../domain/byte-size';
import type { WorkflowStatus } from '../domain/contracts';
import { ErrorCode, type PgferryError } from '../domain/errors';
import { lsnAtLeast } from '../domain/lsn';
import { holdTableLock } from './helpers/lock';
import { query, startThrowawayCluster, type ThrowawayCluster } from './helpers/pg';
import { useTemporalSuite } from './helpers/suite';
import { plainTemporal } from './helpers/temporal';
import { sleep, waitForStatus } from './helpers/wait';
import { startWriter } from './helpers/writer';

/** How long the migration waits at its gate with its apply stalled: ten minutes (less only to try the test out). */
const STALLED_WAIT_MS = Number(process.env.PGFERRY_STALLED_WAIT_MS ?? 10 * 60_000);

/** The readiness problems of a migration at its gate, by concern. */
const problems = (s: WorkflowStatus) => (s.details?.readiness ?? {}) as Record<string, string>;

describe('the watch of an online migration at its gate', () => {
  let source: ThrowawayCluster;
  let target: ThrowawayCluster;

  const freshSource = async (db: string) => {
    await query(source.url(), `CREATE DATABASE ${db}`);
    await query(
      source.url(db),
      `CREATE TABLE public.events (id bigserial PRIMARY KEY, body text NOT NULL);
       INSERT INTO public.events (body) SELECT 'event ' || g FROM generate_series(1, 1000) g;`,
    );
  };

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startThrowawayCluster({ walLevel: 'logical' }),
      startThrowawayCluster({ walLevel: 'logical' }),
    ]);
    await Promise.all([freshSource('waited'), freshSource('prompt')]);
  });

  afterAll(async () => {
    await source?.stop();
    await target?.stop();
  });

  // After the hooks above: the worker starts once the clusters run, and stops before they stop.
  const suite = useTemporalSuite();

  /** Starts an online migration of `db` and waits until it is ready at its gate. */
  const atGate = async (db: string) => {
    const run = await suite.client.migrate({
      name: `watch-${db}`,
      source: source.url(db),
      target: target.url(db),
      mode: 'online',
      validate: 'none',
    });
    await waitForStatus(
      suite.client,
      run.workflowId,
      'the gate, ready for approval',
      (s) =>
        s.state === 'waiting' && (s.details?.replication as { ready?: boolean } | undefined)?.ready === true,
    );
    return run;
  };

  const historyOf = async (workflowId: string) => {
    const temporal = await plainTemporal();
    try {
      return (await temporal.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    } finally {
      await temporal.teardown();
    }
  };

  it(
    'adds fewer than 200 events to the history while it waits ten minutes with a stalled apply',
    async () => {
      // The migration that does not wait: rejected as soon as it is at the gate.
      const prompt = await atGate('prompt');
      await suite.client.reject('watch-prompt', { by: 'bob', reason: 'a baseline' });
      expect((await prompt.result()).outcome).toBe('rejected');

      const waited = await atGate('waited');
      const lock = await holdTableLock(target.url('waited'), 'public.events');
      const writer = startWriter(
        source.url('waited'),
        ["INSERT INTO public.events (body) VALUES ('written while the apply is stalled')"],
        1000,
      );
      try {
        const stalled = await waitForStatus(
          suite.client,
          waited.workflowId,
          'the stalled apply named at the gate',
          (s) => /applied nothing for/.test(problems(s).replication ?? ''),
          120_000,
        );
        expect(stalled.state).toBe('waiting');
        // The wait itself is the scenario: the watch keeps looking all along.
        await sleep(STALLED_WAIT_MS);
        const still = await suite.client.status(waited.workflowId);
        expect(still.state).toBe('waiting');
        expect(problems(still).replication).toMatch(/applied nothing for \d+ s/);
      } finally {
        await writer.stop();
        await lock.release();
      }
      await suite.client.reject('watch-waited', { by: 'bob', reason: 'waited long enough' });
      expect((await waited.result()).outcome).toBe('rejected');

      const [long, short] = await Promise.all([historyOf(waited.workflowId), historyOf(prompt.workflowId)]);
      expect(long.length - short.length).toBeLessThan(200);
      // Each watch returns within a minute (or on a change of readiness): a few per minute at most.
      const watches = long.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'watchReplication',
      );
      expect(watches.length).toBeLessThan(5 + (STALLED_WAIT_MS / 60_000) * 2);
    },
    STALLED_WAIT_MS + 300_000,
  );
});

describe('the sizes and positions the watch reads', () => {
  it('parses --max-retained-wal as bytes, and names the flag and the fix for anything else', () => {
    expect(parseByteSize('10GB')).toBe(10 * 1024 ** 3);
    expect(parseByteSize('512 mb')).toBe(512 * 1024 ** 2);
    expect(parseByteSize('1048576')).toBe(1048576);
    expect(parseByteSize('ten gigs')).toBeUndefined();
    expect(formatByteSize(1536)).toBe('1.5 kB');
    expect(() => size('max-retained-wal')('10 parsecs')).toThrow(InvalidArgumentError);
    expect(() => size('max-retained-wal')('10 parsecs')).toThrow(/max-retained-wal: expected a size such as/);
    const options = { name: 'sizes', source: 'postgres://a@h:5432/s', target: 'postgres://a@h:5433/t' };
    expect(checkMigrationOptions({ ...options, maxRetainedWal: '2GB' }).maxRetainedWal).toBe(2 * 1024 ** 3);
    expect(checkMigrationOptions(options).cutoverTimeoutSeconds).toBe(60);
    let refused: PgferryError | undefined;
    try {
      checkMigrationOptions({ ...options, maxRetainedWal: 'lots' });
    } catch (err) {
      refused = err as PgferryError;
    }
    expect(refused?.code).toBe(ErrorCode.InvalidInput);
    expect(refused?.field).toBe('maxRetainedWal');
    expect(refused?.fix).toContain('10GB');
  });

  it('compares WAL positions by value, not as text', () => {
    expect(lsnAtLeast('0/1A000000', '0/9FFFFFF')).toBe(true);
    expect(lsnAtLeast('1/0', '0/FFFFFFFF')).toBe(true);
    expect(lsnAtLeast('0/16B3748', '0/16B3749')).toBe(false);
    expect(lsnAtLeast('0/16B3748', '0/16B3748')).toBe(true);
  });
});
