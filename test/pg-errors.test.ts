import { describe, expect, it } from 'vitest';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { toApplicationFailure } from '../activities/failure';
import { classifyPgError } from '../activities/pg/errors';
import { parseConnectionUrl } from '../domain/connection';
import { ErrorCode, isNonRetryable, PgferryError } from '../domain/errors';

/** An error shaped as node-postgres raises a server's ErrorResponse. */
function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, severity: 'ERROR' });
}

const named = (err: Error) => err as PgferryError;

describe('classifyPgError, the one classifier of pg errors', () => {
  it('names a missing privilege PermissionDenied, non-retryable, with the side and a fix', () => {
    const err = named(
      classifyPgError(pgError('42501', 'permission denied for sequence s'), {
        field: 'target',
        doing: 'syncing',
      }),
    );
    expect(err.code).toBe(ErrorCode.PermissionDenied);
    expect(isNonRetryable(err.code)).toBe(true);
    expect(err.field).toBe('target');
    expect(err.fix).toMatch(/superuser/);
    expect(err.message).toBe('target: syncing: permission denied for sequence s');
  });

  it('takes the step’s own privilege fix over the side’s', () => {
    const err = named(
      classifyPgError(pgError('42501', 'denied'), { field: 'source', privilegeFix: 'grant REPLICATION' }),
    );
    expect(err.fix).toBe('grant REPLICATION');
  });

  it('names a type without binary I/O, or a feature the server lacks, Unsupported and non-retryable, naming what was done', () => {
    for (const code of ['42883', '0A000']) {
      const err = named(
        classifyPgError(pgError(code, 'no binary output function available for type aclitem'), {
          field: 'source',
          doing: 'copying public.grants',
        }),
      );
      expect(err.code).toBe(ErrorCode.Unsupported);
      expect(isNonRetryable(err.code)).toBe(true);
      expect(err.message).toContain('copying public.grants');
      expect(toApplicationFailure(err)).toMatchObject({ type: ErrorCode.Unsupported, nonRetryable: true });
    }
  });

  it('names a lost connection ConnectionLost, retryable: by SQLSTATE, by errno, or a closed connection’s bare error', () => {
    const lost = [
      classifyPgError(pgError('57P01', 'terminating connection due to administrator command'), {
        field: 'source',
      }),
      classifyPgError(pgError('08006', 'connection failure'), { field: 'source' }),
      classifyPgError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), {
        field: 'target',
      }),
      classifyPgError(new Error('Connection terminated unexpectedly'), {
        field: 'target',
        connectionGone: true,
      }),
    ];
    for (const err of lost) {
      expect(named(err).code).toBe(ErrorCode.ConnectionLost);
      expect(isNonRetryable(named(err).code)).toBe(false);
    }
  });

  it('leaves anything else Internal (retryable), a bare error of an open connection included', () => {
    for (const err of [
      classifyPgError(pgError('40001', 'could not serialize access'), {
        field: 'target',
        doing: 'copying t',
      }),
      classifyPgError(new Error('something odd'), { field: 'target', connectionGone: false }),
      classifyPgError(new TypeError('x is undefined'), { field: 'source' }),
    ]) {
      expect(named(err).code).toBe(ErrorCode.Internal);
      expect(isNonRetryable(named(err).code)).toBe(false);
    }
    expect(
      named(classifyPgError(pgError('40001', 'm'), { field: 'target', doing: 'copying t' })).message,
    ).toBe('target: copying t (SQLSTATE 40001): m');
  });

  it('names connection errors as bad input while connecting', () => {
    const spec = parseConnectionUrl('postgresql://app@db.example:5433/shop', 'source');
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(named(classifyPgError(refused, { field: 'source', connecting: spec })).code).toBe(
      ErrorCode.ConnectionFailed,
    );
    const password = named(
      classifyPgError(pgError('28P01', 'password authentication failed'), {
        field: 'source',
        connecting: spec,
      }),
    );
    expect(password.code).toBe(ErrorCode.AuthFailed);
    expect(password.message).toContain('"app"');
    expect(
      named(classifyPgError(pgError('3D000', 'no db'), { field: 'source', connecting: spec })).code,
    ).toBe(ErrorCode.DatabaseMissing);
  });

  it('passes errors already named through unchanged', () => {
    const own = new PgferryError(ErrorCode.SnapshotLost, 'gone');
    const cancelled = new CancelledFailure('cancelled');
    const failure = ApplicationFailure.create({ type: 'X', message: 'y' });
    for (const err of [own, cancelled, failure]) expect(classifyPgError(err, { field: 'source' })).toBe(err);
  });
});
