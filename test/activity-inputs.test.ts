import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createActivities, type Activities } from '../activities';
import { PASSWORD_FIX } from '../domain/connection';
import { ErrorCode } from '../domain/errors';
import { runActivity, testActivityDeps } from './helpers/activity-env';
import { expectFailure, failureOf } from './helpers/failure';

// Nothing listens on port 1: an activity that got past its input and connected would fail
// ConnectionFailed, not InvalidInput.
const NOWHERE = 'postgres://postgres@127.0.0.1:1/nowhere';
const SECRET = 'hunter2-in-the-url';

const activities = createActivities(testActivityDeps());

describe('activity inputs are parsed once, where createActivities wires each activity', () => {
  it('types every activity with the raw input a workflow passes: connection URLs as strings', () => {
    expectTypeOf<Parameters<Activities['copyChunk']>[0]['source']>().toEqualTypeOf<string>();
    expectTypeOf<Parameters<Activities['finalizeTarget']>[0]>().toEqualTypeOf<{ target: string }>();
  });

  it('refuses a URL with a password under its field, with the fix, and never repeats the password', async () => {
    const failure = await failureOf(
      runActivity(activities.syncSequences, {
        source: `postgres://postgres:${SECRET}@127.0.0.1:1/db`,
        target: NOWHERE,
      }),
    );
    expectFailure(failure, ErrorCode.InvalidInput, true, 'source');
    expect(failure.message).toMatch(/^source: the URL carries a password/);
    expect(failure.message).not.toContain(SECRET);
    expect(failure.details?.[0]).toMatchObject({ fix: PASSWORD_FIX });
  });

  it('refuses a value that is not a URL, naming the field', async () => {
    const failure = await failureOf(runActivity(activities.freezeSource, { source: 'not a url' }));
    expectFailure(failure, ErrorCode.InvalidInput, true, 'source');
    expect(failure.message).toBe('source: the value is not a URL');
  });

  it('refuses an input that lacks a field, naming the field', async () => {
    const raw = { source: NOWHERE } as unknown as Parameters<Activities['copyLargeObjects']>[0];
    const failure = await failureOf(runActivity(activities.copyLargeObjects, raw));
    expectFailure(failure, ErrorCode.InvalidInput, true, 'target');
  });

  it('refuses a migration name that would end the dollar quotes of the DDL capture’s SQL, before connecting', async () => {
    const failure = await failureOf(
      runActivity(activities.captureDdl, {
        source: NOWHERE,
        target: NOWHERE,
        publication: 'pgferry_shop',
        migration: 'x$pgferry$; DROP TABLE t; --',
        policy: 'hold',
      }),
    );
    expectFailure(failure, ErrorCode.InvalidInput, true, 'migration');
  });

  it('refuses a slot, an LSN and a chunk range that do not mean what they must, by their path', async () => {
    const replication = { source: NOWHERE, target: NOWHERE, subscription: 'sub', slot: 'slot' };
    const slot = await failureOf(runActivity(activities.replicationLag, { ...replication, slot: 'No-Slot' }));
    expectFailure(slot, ErrorCode.InvalidInput, true, 'slot');
    const lsn = await failureOf(runActivity(activities.waitForReplay, { ...replication, lsn: "0/0'; --" }));
    expectFailure(lsn, ErrorCode.InvalidInput, true, 'lsn');
    const chunk = {
      id: 'public.t#1[5,2)',
      schema: 'public',
      table: 't',
      columns: ['a'],
      range: { fromPage: 5, toPage: 2 },
      estimatedBytes: 1,
    };
    const range = await failureOf(
      runActivity(activities.copyChunks, {
        source: NOWHERE,
        target: NOWHERE,
        migration: 'm',
        chunks: [chunk],
      }),
    );
    expectFailure(range, ErrorCode.InvalidInput, true, 'chunks.0.range');
  });

  it('hands the parsed connections on: the switch hook is told both URLs, written out again', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pgferry-inputs-'));
    try {
      const told = path.join(dir, 'told');
      const hooked = createActivities(
        testActivityDeps({
          switchHookCommand: `printf '%s\\n%s' "$PGFERRY_SOURCE_URL" "$PGFERRY_TARGET_URL" > ${told}`,
        }),
      );
      const result = await runActivity(hooked.switchEndpoint, {
        migration: 'm',
        source: 'postgresql://app@db.example:5433/shop?sslmode=require',
        target: 'postgres://127.0.0.1/nowhere',
      });
      expect(result).toEqual({ url: false, command: true });
      expect((await readFile(told, 'utf8')).split('\n')).toEqual([
        'postgres://app@db.example:5433/shop?sslmode=require',
        'postgres://postgres@127.0.0.1:5432/nowhere',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
