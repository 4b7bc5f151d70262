import { ApplicationFailure, setHandler } from '@temporalio/workflow';
import { WorkflowIdPrefix } from '../domain/constants';
import { ErrorCode } from '../domain/errors';
import {
  FleetDecisionInput,
  WaveDecisionInput,
  waveCount,
  type FleetAwaiting,
  type FleetCarry,
  type FleetInput,
  type FleetMember,
  type FleetResult,
  type FleetState,
  type MemberRecord,
} from '../domain/fleet';
import type { Decision } from '../domain/migration';
import type { RolesReport } from '../domain/roles';
import {
  approveWaveUpdate,
  fleetDecisionUpdate,
  fleetQuery,
  memberAtGateSignal,
  rejectWaveUpdate,
} from './fleet-signals';
import type { Progress } from './progress';

/** Why a decision is refused: what is wrong, the field it is about, and what to do instead. */
interface Refusal {
  readonly message: string;
  readonly field: string;
  readonly fix: string;
}

function refuse(refusal: Refusal | undefined): void {
  if (refusal)
    throw ApplicationFailure.create({
      type: ErrorCode.ApprovalRefused,
      message: refusal.message,
      nonRetryable: true,
      details: [{ field: refusal.field, fix: refusal.fix }],
    });
}

/**
 * One run of a fleet (one wave; continue-as-new between waves): the plan, every member's record,
 * what the fleet waits for, and the handlers that change them. The wave loop reacts to `version`,
 * which every change moves on.
 */
export class FleetRun {
  readonly records: Record<string, MemberRecord>;
  version = 0;
  awaiting: FleetAwaiting | undefined;
  waveDecision: Decision | undefined;
  aborted = false;

  constructor(
    readonly input: FleetInput,
    readonly members: readonly FleetMember[],
    readonly wave: number,
    records: Record<string, MemberRecord>,
    readonly progress: Progress,
    /** What the copy of the roles did before the first member (roles copy). */
    readonly roles?: RolesReport[],
  ) {
    this.records = { ...records };
    setHandler(fleetQuery, () => this.state());
    setHandler(memberAtGateSignal, (workflowId) => this.atGate(workflowId));
    setHandler(approveWaveUpdate, (d) => this.decideWave('approved', d), {
      validator: (d) => refuse(this.waveProblem('approved', d)),
    });
    setHandler(rejectWaveUpdate, (d) => this.decideWave('rejected', d), {
      validator: (d) => refuse(this.waveProblem('rejected', d)),
    });
    setHandler(fleetDecisionUpdate, (d) => this.decide(d), {
      validator: (d) => refuse(this.decisionProblem(d)),
    });
  }

  /** A member's record. */
  record(member: FleetMember): MemberRecord {
    return this.records[member.name] ?? { state: 'pending', attempts: 0 };
  }

  /** Replaces a member's record and tells the loop. */
  set(member: FleetMember, record: MemberRecord): void {
    this.records[member.name] = record;
    this.changed();
  }

  /** The members this run works on: the wave's, and earlier ones sent back to pending by a retry. */
  inPlay(): FleetMember[] {
    const live: MemberRecord['state'][] = ['pending', 'running', 'at_gate'];
    return this.members.filter(
      (m) => m.wave === this.wave || (m.wave < this.wave && live.includes(this.record(m).state)),
    );
  }

  /** Members of this run in one of `states`. */
  count(...states: MemberRecord['state'][]): number {
    return this.inPlay().filter((m) => states.includes(this.record(m).state)).length;
  }

  /** More members of this wave failed than the budget allows. */
  overBudget(): boolean {
    return this.count('failed') > this.input.failureBudget;
  }

  /** Sets what the fleet waits for (or nothing), with the state a person reads. */
  wait(awaiting: FleetAwaiting | undefined): void {
    if (JSON.stringify(awaiting) === JSON.stringify(this.awaiting)) return;
    this.awaiting = awaiting;
    this.progress.waiting(awaiting !== undefined);
    this.changed();
  }

  /** Everything the loop reacts to moved on. */
  changed(): void {
    this.version += 1;
    this.progress.detail('fleet', this.summary());
  }

  /** What the next run carries. */
  carry(wave: number): FleetCarry {
    return {
      members: [...this.members],
      records: { ...this.records },
      wave,
      ...(this.roles ? { roles: this.roles } : {}),
    };
  }

  /** The fleet's result, once its last run ends. */
  result(outcome: FleetResult['outcome']): FleetResult {
    return {
      name: this.input.name,
      outcome,
      waves: waveCount(this.members),
      members: this.members.map((m) => ({ ...m, record: this.record(m) })),
      ...(this.roles ? { roles: this.roles } : {}),
    };
  }

  /** What the `fleet` query answers. */
  state(): FleetState {
    return {
      name: this.input.name,
      mode: this.input.mode,
      approve: this.input.approve,
      wave: this.wave,
      waves: waveCount(this.members),
      ...(this.awaiting ? { awaiting: this.awaiting } : {}),
      members: this.members.map((m) => ({ ...m, record: this.record(m) })),
      ...(this.roles ? { roles: this.roles } : {}),
    };
  }

  private summary(): Record<string, unknown> {
    return { wave: this.wave, waves: waveCount(this.members), awaiting: this.awaiting };
  }

  private memberById(workflowId: string): FleetMember | undefined {
    return this.members.find((m) => `${WorkflowIdPrefix.migration}${m.name}` === workflowId);
  }

  private atGate(workflowId: string): void {
    const member = this.memberById(workflowId);
    if (member && this.record(member).state === 'running')
      this.set(member, { ...this.record(member), state: 'at_gate' });
  }

  private waveProblem(outcome: Decision['outcome'], input: unknown): Refusal | undefined {
    const parsed = WaveDecisionInput.safeParse(input);
    if (!parsed.success)
      return {
        message: 'the decision needs { "wave": K, "by": "NAME" }',
        field: 'by',
        fix: 'say which wave, and who decides',
      };
    const { wave, by, reason } = parsed.data;
    if (this.input.approve !== 'waves')
      return {
        message: `fleet ${this.input.name} approves ${this.input.approve === 'each' ? 'each member on its own' : 'automatically'}, not by wave`,
        field: 'wave',
        fix:
          this.input.approve === 'each'
            ? 'approve each member: pgferry approve MEMBER --as NAME'
            : 'nothing to approve',
      };
    if (this.awaiting?.kind !== 'approval' || this.awaiting.wave !== wave)
      return {
        message: `wave ${wave} is not waiting for approval (the fleet is at wave ${this.wave}${this.awaiting ? `, waiting for a ${this.awaiting.kind}` : ''})`,
        field: 'wave',
        fix: 'see pgferry fleet status NAME: approve the wave it says is waiting, once all its members are at their gate',
      };
    if (outcome === 'approved' && this.input.approvers.length > 0 && !this.input.approvers.includes(by))
      return {
        message: `${by} is not one of the approvers (${this.input.approvers.join(', ')})`,
        field: 'by',
        fix: `ask one of ${this.input.approvers.join(', ')} to approve`,
      };
    if (outcome === 'rejected' && !reason?.trim())
      return {
        message: 'a rejection needs a reason',
        field: 'reason',
        fix: 'say why, e.g. --reason "not tonight"',
      };
    return undefined;
  }

  private decideWave(outcome: Decision['outcome'], input: WaveDecisionInput): Decision {
    this.waveDecision = {
      outcome,
      by: input.by,
      ...(input.reason ? { reason: input.reason } : {}),
      channel: 'update',
    };
    this.wait(undefined);
    return this.waveDecision;
  }

  private decisionProblem(input: unknown): Refusal | undefined {
    const parsed = FleetDecisionInput.safeParse(input);
    if (!parsed.success)
      return {
        message: 'the decision needs { "action": "retry|skip|abort", "by": "NAME" }',
        field: 'action',
        fix: 'say what to do, and who decides',
      };
    const { action, member } = parsed.data;
    if (action === 'retry') {
      const found = this.members.find((m) => m.database === member || m.name === member);
      if (!found)
        return {
          message: `no member "${member ?? ''}" in fleet ${this.input.name}`,
          field: 'member',
          fix: 'name a database of the fleet (see pgferry fleet status NAME)',
        };
      const state = this.record(found).state;
      if (state !== 'failed' && state !== 'skipped')
        return {
          message: `member ${found.database} is ${state}, not failed`,
          field: 'member',
          fix: 'retry only a failed (or skipped) member',
        };
      return undefined;
    }
    if (this.awaiting?.kind !== 'decision')
      return {
        message: `fleet ${this.input.name} is not halted`,
        field: 'action',
        fix: 'skip and abort answer a halted wave (see pgferry fleet status NAME)',
      };
    return undefined;
  }

  private decide(input: FleetDecisionInput): FleetState {
    if (input.action === 'retry') {
      const member = this.members.find((m) => m.database === input.member || m.name === input.member);
      if (member) this.set(member, { state: 'pending', attempts: this.record(member).attempts });
    } else {
      // skip: the failed members stay behind; abort: nothing more starts, the fleet ends.
      const [from, to] =
        input.action === 'skip' ? (['failed', 'skipped'] as const) : (['pending', 'not_started'] as const);
      for (const m of this.inPlay())
        if (this.record(m).state === from) this.records[m.name] = { ...this.record(m), state: to };
      if (input.action === 'abort') this.aborted = true;
      this.wait(undefined);
    }
    this.changed();
    return this.state();
  }
}
