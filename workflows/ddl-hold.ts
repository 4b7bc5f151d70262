import { ApplicationFailure, defineUpdate, setHandler } from '@temporalio/workflow';
import { ErrorCode } from '../domain/errors';
import { failureInfo } from '../domain/failure-info';
import { DdlApprovalInput, type DdlApproval, type MigrationInput } from '../domain/migration';
import { control } from './activities';
import { approverRefusal, refuse, type Refusal } from './approval';
import type { Progress } from './progress';

/** The Update that approves one held schema change (--ddl hold): `{ change, by, reason }`. */
export const approveDdlUpdate = defineUpdate<DdlApproval, [DdlApprovalInput]>('approveDdl');

/** The stages in which the migration replicates, or is about to (the capture begins with the copy). */
const CAPTURING = ['copy', 'replicate', 'validate', 'approval'];

/** Where the approvals go: the replication objects' name and both databases. */
interface HoldTarget {
  readonly source: string;
  readonly target: string;
  readonly publication: string;
}

/**
 * The approvals of held schema changes (--ddl hold): a person approves each change through an
 * Update with the migration's approver rules (--approvers, --require-second-person), validated
 * before it is accepted; the handler records the approval on the target (approveDdlChange), where
 * the replay trigger runs the change on the apply worker's next retry. The Update's input and
 * result stay in the history (who, why, when); status lists them as the `ddlApprovals` detail.
 */
export class DdlHold {
  readonly approvals: DdlApproval[] = [];

  constructor(
    private readonly input: MigrationInput,
    private readonly progress: Progress,
    private readonly where: HoldTarget,
  ) {
    setHandler(approveDdlUpdate, (approval) => this.approve(approval), {
      validator: (approval) => refuse(this.problem(approval)),
    });
  }

  private problem(raw: unknown): Refusal | undefined {
    const { input } = this;
    if (input.mode !== 'online' || input.ddl !== 'hold') {
      return {
        message: `ddl: migration ${input.name} does not hold schema changes for approval (${input.mode === 'online' ? `--ddl ${input.ddl}` : 'offline'})`,
        field: 'ddl',
        fix: 'only an online migration started with --ddl hold takes approvals of schema changes',
      };
    }
    const parsed = DdlApprovalInput.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = String(issue?.path[0] ?? 'change');
      return {
        message: `${field}: ${issue?.message ?? 'invalid'}`,
        field,
        fix: 'give { "change": N, "by": "NAME", "reason": "…" } (pgferry ddl approve NAME --change N --as WHO --reason TEXT)',
      };
    }
    if (!CAPTURING.includes(this.progress.stage)) {
      return {
        message: `stage: migration ${input.name} does not capture schema changes now (stage ${this.progress.stage})`,
        field: 'stage',
        fix: 'approve schema changes while the migration replicates (pgferry status lists the held ones)',
      };
    }
    return approverRefusal(parsed.data.by, input.approvers, input);
  }

  private async approve(approval: DdlApprovalInput): Promise<DdlApproval> {
    let recorded: DdlApproval;
    try {
      recorded = await control.approveDdlChange({
        ...this.where,
        migration: this.input.name,
        change: approval.change,
        by: approval.by,
        reason: approval.reason,
      });
    } catch (err) {
      // The caller hears the step's own code and fix (an unknown change, one already applied).
      const info = failureInfo(err);
      throw ApplicationFailure.create({
        type: info.code ?? ErrorCode.Internal,
        message: info.message,
        nonRetryable: true,
        details: [{ field: info.field, fix: info.fix }],
      });
    }
    this.approvals.push(recorded);
    this.progress.detail('ddlApprovals', [...this.approvals]);
    return recorded;
  }
}
