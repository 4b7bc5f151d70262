import { describe, expect, it, vi } from 'vitest';
import { ddlProblem } from '../activities/ddl';
import { withApproval } from '../activities/ddl-approval';
import { parseChatCommand } from '../client/chatops/commands';
import { checkDdlApproval } from '../client/pgferry-client';
import { main } from '../client/cli';
import { ErrorCode, type PgferryError } from '../domain/errors';
import { approverRefusal } from '../workflows/approval';

const approval = {
  id: '3',
  approved_by: 'alice',
  reason: 'release 42',
  approved_at: '2026-12-05T21:00:00+00:00',
};

describe('--ddl hold without servers', () => {
  it('names the held change at the gate with the command that approves it', () => {
    const found = ddlProblem(
      'pgferry_abc',
      {
        ddl: {
          captured: 3,
          replayed: 2,
          failed: 0,
          held: { id: 3, tag: 'ALTER TABLE', statement: 'ALTER TABLE t ADD c int' },
        },
      },
      'shop',
    );
    expect(found?.kind).toBe('ddl-held');
    expect(found?.problem).toMatch(
      /^schema change #3 \(ALTER TABLE\) waits for a person's approval: pgferry ddl approve shop --change 3 --as WHO --reason TEXT; statement: ALTER TABLE t ADD c int/,
    );
  });

  it('lists a change not yet on the target as held until approved, then approved, with who and why', () => {
    const approvals = new Map([[3, approval]]);
    expect(withApproval({ id: 4, status: 'pending' }, approvals)).toEqual({ id: 4, status: 'held' });
    expect(withApproval({ id: 3, status: 'pending' }, approvals)).toMatchObject({
      status: 'approved',
      approvedBy: 'alice',
      approvalReason: 'release 42',
    });
    expect(withApproval({ id: 3, status: 'applied' }, approvals)).toMatchObject({
      status: 'applied',
      approvedBy: 'alice',
    });
    // Without --ddl hold nothing changes.
    expect(withApproval({ id: 4, status: 'pending' }, undefined)).toEqual({ id: 4, status: 'pending' });
  });

  it('applies the approver rules of the migration approval to a schema change', () => {
    expect(approverRefusal('carol', ['alice', 'bob'], {})?.field).toBe('by');
    expect(
      approverRefusal('alice', [], { startedBy: 'alice', requireSecondPerson: true })?.message,
    ).toContain('--require-second-person');
    expect(
      approverRefusal('bob', ['alice', 'bob'], { startedBy: 'alice', requireSecondPerson: true }),
    ).toBeUndefined();
  });

  it('refuses a malformed approval before anything is sent, naming the field', async () => {
    const refused = (input: unknown) => {
      try {
        checkDdlApproval(input as never);
      } catch (err) {
        return [(err as PgferryError).code, (err as PgferryError).field];
      }
      return undefined;
    };
    expect(refused({ change: 0, by: 'alice', reason: 'x' })).toEqual([ErrorCode.InvalidInput, 'change']);
    expect(refused({ change: 1, by: ' alice', reason: 'x' })).toEqual([ErrorCode.InvalidInput, 'by']);
    expect(refused({ change: 1, by: 'alice', reason: '  ' })).toEqual([ErrorCode.InvalidInput, 'reason']);
    expect(refused({ change: 1, by: 'alice', reason: 'x' })).toBeUndefined();
    expect(await main(['ddl', 'approve', 'shop', '--as', 'alice', '--reason', 'x', '--json'])).toBe(2);
    expect(
      await main(['ddl', 'approve', 'shop', '--change', 'two', '--as', 'alice', '--reason', 'x', '--json']),
    ).toBe(2);
    expect(await main(['ddl', 'approve', 'shop', '--change', '2', '--reason', 'x', '--json'])).toBe(2);
  });

  it('parses `/pgferry ddl approve NAME N REASON` from Slack, and names what is missing otherwise', () => {
    expect(parseChatCommand('ddl approve shop 3 the release needs it')).toEqual({
      kind: 'ddl-approve',
      name: 'shop',
      change: 3,
      reason: 'the release needs it',
    });
    for (const text of [
      'ddl approve shop 3',
      'ddl approve shop three why',
      'ddl approve shop 0 why',
      'ddl approve shop -1 why',
      'ddl approve',
      'ddl reject shop 3 why',
      'ddl',
    ]) {
      const parsed = parseChatCommand(text);
      expect(parsed.kind, text).toBe('invalid');
      expect(parsed.kind === 'invalid' && parsed.problem, text).toContain('ddl approve NAME N REASON');
    }
  });

  it('names the subcommand in the refusal of an unknown flag', async () => {
    const written: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const argv = [
        'ddl',
        'approve',
        'shop',
        '--change',
        '1',
        '--as',
        'a',
        '--reason',
        'x',
        '--bogus',
        '--json',
      ];
      expect(await main(argv)).toBe(2);
    } finally {
      stdout.mockRestore();
    }
    const out = JSON.parse(written.join('')) as { error: { field: string; fix: string } };
    expect(out.error).toMatchObject({
      field: 'bogus',
      fix: 'see `pgferry ddl approve --help` for what it takes',
    });
  });
});
