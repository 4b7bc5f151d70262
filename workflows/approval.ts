import { ApplicationFailure, condition, defineSignal, defineUpdate, setHandler } from '@temporalio/workflow';
import { ErrorCode } from '../domain/errors';
import { DecisionInput, type Decision, type MigrationInput } from '../domain/migration';
import { control } from './activities';
import type { Notifier } from './notify';
import type { Progress } from './progress';
import type { Readiness } from './readiness';

/** The Update that approves a migration waiting at its gate: `{ by, reason? }`. */
export const approveUpdate = defineUpdate<Decision, [DecisionInput]>('approve');
/** The Update that rejects it: `{ by, reason }`. */
export const rejectUpdate = defineUpdate<Decision, [DecisionInput]>('reject');
/** The same decisions as Signals, for tools that can only signal. */
export const approveSignal = defineSignal<[DecisionInput]>('approve');
/** Rejection as a Signal. */
export const rejectSignal = defineSignal<[DecisionInput]>('reject');

/** A signalled decision that the gate refused: kept in the state, changing nothing. */
export interface RefusedDecision {
  readonly outcome: 'approved' | 'rejected';
  readonly by: string;
  readonly problem: string;
}

/** Who started the migration, and whether someone else must approve it. */
export interface GateRules {
  readonly startedBy?: string | undefined;
  readonly requireSecondPerson?: boolean;
  /** What must hold before an approval is taken (a rejection is taken regardless). */
  readonly readiness?: Readiness;
}

/** Why a decision is refused: what is wrong, the field it is about, and what to do instead. */
export interface Refusal {
  readonly message: string;
  readonly field: string;
  readonly fix: string;
}

/** Why a decision is refused now, or undefined when it may be taken. */
type Check = (outcome: Decision['outcome'], input: unknown) => Refusal | undefined;

/**
 * The approval gate: a person's decision, taken as an Update (validated before it is accepted, so a
 * refused one leaves no trace but the caller's error) or a Signal (recorded as refused in the state).
 */
export class ApprovalGate {
  decision: Decision | undefined;
  readonly refused: RefusedDecision[] = [];

  constructor(
    private readonly approvers: readonly string[],
    private readonly isReady: () => boolean,
    private readonly onChange: () => void,
    private readonly rules: GateRules = {},
  ) {
    const check: Check = (outcome, input) => this.problem(outcome, input);
    setHandler(approveUpdate, (input) => this.decide('approved', input, 'update'), {
      validator: (input) => refuse(check('approved', input)),
    });
    setHandler(rejectUpdate, (input) => this.decide('rejected', input, 'update'), {
      validator: (input) => refuse(check('rejected', input)),
    });
    const signalled = (outcome: Decision['outcome']) => (input: DecisionInput) => {
      const problem = check(outcome, input)?.message;
      if (problem) {
        this.refused.push({ outcome, by: typeof input?.by === 'string' ? input.by : '?', problem });
        this.onChange();
      } else {
        this.decide(outcome, input, 'signal');
      }
    };
    setHandler(approveSignal, signalled('approved'));
    setHandler(rejectSignal, signalled('rejected'));
  }

  /** Records --auto-approve as the decision. */
  autoApprove(by: string): Decision {
    return this.decide('approved', { by, reason: 'auto-approve' }, 'auto');
  }

  /**
   * --auto-approve once the migration is ready (at once when it is; a rejection meanwhile is taken).
   * Without a readiness, at once.
   */
  async autoApproveWhenReady(by: string): Promise<Decision> {
    const readiness = this.rules.readiness;
    if (readiness && !readiness.ready) {
      await condition(() => this.decision !== undefined || readiness.ready);
      if (this.decision) return this.decision;
    }
    return this.autoApprove(by);
  }

  /**
   * Opens the gate again after an approved cutover could not finish (the source unfrozen): the
   * decision is forgotten, so the next one can be taken. The decisions before stay in the history.
   */
  reopen(): void {
    this.decision = undefined;
    this.onChange();
  }

  /** Waits until a person has decided. */
  async wait(): Promise<Decision> {
    await condition(() => this.decision !== undefined);
    return this.decision as Decision;
  }

  /**
   * Waits for a decision until a deadline, calling `remind` at half and nine tenths of it (each
   * reminder is an activity, so it stands in the history). Undefined when the deadline passed.
   */
  async waitUntil(
    timeoutSeconds: number,
    remind: (secondsLeft: number) => Promise<void>,
  ): Promise<Decision | undefined> {
    const points = [...new Set([Math.floor(timeoutSeconds * 0.5), Math.floor(timeoutSeconds * 0.9)])].filter(
      (p) => p > 0 && p < timeoutSeconds,
    );
    let elapsed = 0;
    for (const at of [...points, timeoutSeconds]) {
      const decided = await condition(() => this.decision !== undefined, (at - elapsed) * 1000);
      elapsed = at;
      if (decided) return this.decision;
      if (at < timeoutSeconds) await remind(timeoutSeconds - at);
    }
    return undefined;
  }

  private problem(outcome: Decision['outcome'], input: unknown): Refusal | undefined {
    const refusal = (message: string, field: string, fix: string): Refusal => ({ message, field, fix });
    const parsed = DecisionInput.safeParse(input);
    if (!parsed.success)
      return refusal('the decision needs { "by": "NAME", "reason": "…" }', 'by', 'say who decides, and why');
    if (this.decision) {
      const { outcome: was, by } = this.decision;
      return refusal(
        `the migration was already ${was} by ${by}`,
        'decision',
        'nothing to do: see pgferry status',
      );
    }
    if (!this.isReady())
      return refusal(
        'the migration is not ready for a decision yet (copy and validation must be done)',
        'stage',
        'wait until pgferry status shows it waiting at its approval gate',
      );
    const readiness = this.rules.readiness;
    if (outcome === 'approved' && readiness && !readiness.ready) {
      return refusal(
        `the migration is not ready for approval: ${readiness.why}`,
        'readiness',
        'approve once pgferry status shows it ready, or reject it',
      );
    }
    // Four eyes: the starter may still reject (stopping is always safe), never approve alone.
    const approver =
      outcome === 'approved' ? approverRefusal(parsed.data.by, this.approvers, this.rules) : undefined;
    if (approver) return approver;
    if (outcome === 'rejected' && !parsed.data.reason)
      return refusal('a rejection needs a reason', 'reason', 'say why, e.g. --reason "not tonight"');
    return undefined;
  }

  private decide(outcome: Decision['outcome'], input: DecisionInput, channel: Decision['channel']): Decision {
    this.decision = {
      outcome,
      by: input.by,
      ...(input.reason ? { reason: input.reason } : {}),
      channel,
      ...(input.via ? { via: input.via } : {}),
    };
    this.onChange();
    return this.decision;
  }
}

/**
 * Whether `by` may approve under the migration's approver rules: one of --approvers (when given),
 * and with --require-second-person not the one who started it. The migration's approval and each
 * held schema change's (--ddl hold) follow the same rules.
 */
export function approverRefusal(
  by: string,
  approvers: readonly string[],
  rules: Pick<GateRules, 'startedBy' | 'requireSecondPerson'>,
): Refusal | undefined {
  if (approvers.length > 0 && !approvers.includes(by)) {
    return {
      message: `${by} is not one of the approvers (${approvers.join(', ')})`,
      field: 'by',
      fix: `ask one of ${approvers.join(', ')} to approve`,
    };
  }
  if (rules.requireSecondPerson && by === rules.startedBy) {
    return {
      message: `${by} started this migration; --require-second-person needs someone else to approve`,
      field: 'by',
      fix: 'ask someone other than the starter to approve',
    };
  }
  return undefined;
}

/** Throws a refusal as the ApprovalRefused failure an Update's validator rejects with. */
export function refuse(refusal: Refusal | undefined): void {
  if (refusal)
    throw ApplicationFailure.create({
      type: ErrorCode.ApprovalRefused,
      message: refusal.message,
      nonRetryable: true,
      details: [{ field: refusal.field, fix: refusal.fix }],
    });
}

/** What waiting at the gate works with. */
export interface GateWait {
  readonly input: MigrationInput;
  readonly gate: ApprovalGate;
  readonly progress: Progress;
  readonly notifier: Notifier;
}

/**
 * Waits at the gate, with the deadline and reminders the input asks for. Past the deadline the
 * migration rolls back (ApprovalExpired), or keeps waiting after a last reminder.
 */
export async function waitForDecision({ input, gate, progress, notifier }: GateWait): Promise<Decision> {
  const timeout = input.approvalTimeoutSeconds;
  if (timeout === undefined) return gate.wait();
  const remind = async (secondsLeft: number) => {
    await control.remindApproval({ name: input.name, secondsLeft, approvers: input.approvers });
    await notifier.reminder(secondsLeft);
  };
  const decision = await gate.waitUntil(timeout, remind);
  if (decision) return decision;
  progress.detail('approvalExpired', true);
  if (input.onApprovalTimeout === 'wait') {
    await remind(0);
    return gate.wait();
  }
  await notifier.expired(timeout);
  throw ApplicationFailure.create({
    type: ErrorCode.ApprovalExpired,
    message: `approval: nobody decided within ${timeout} seconds`,
    nonRetryable: true,
    details: [
      {
        field: 'approvalTimeoutSeconds',
        fix: 'start the migration again, or give --on-approval-timeout wait',
      },
    ],
  });
}
