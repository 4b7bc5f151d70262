import { ApplicationFailure, condition, defineUpdate, setHandler } from '@temporalio/workflow';
import { ErrorCode } from '../domain/errors';
import {
  FallbackInput,
  ReleaseInput,
  type FallbackReport,
  type FallbackWindowReport,
  type MigrationInput,
} from '../domain/migration';
import { approverRefusal, refuse, type Refusal } from './approval';
import type { Progress } from './progress';

/** The Update that moves the application back to the source in the fallback window: `{ by, reason }`. */
export const fallbackUpdate = defineUpdate<FallbackReport, [FallbackInput]>('fallback');
/** The Update that ends the fallback window early: the reverse replication goes, the migration ends. */
export const releaseUpdate = defineUpdate<FallbackWindowReport, [ReleaseInput]>('release');

/** A fallback asked for, with when. */
export type FallbackAsked = FallbackInput & { readonly askedAt: string };

/**
 * The fallback window's state and its two Updates, registered when the migration starts so that a
 * call before the window opens is refused with why (validated before it is accepted: a refused
 * call leaves no trace but the caller's error). The fallback's Update returns once the source is
 * the primary again (or fails with why it could not be, the target unfrozen and the window still
 * open); release returns once the reverse replication is gone. Status shows the window as the
 * `fallbackWindow` detail.
 */
export class FallbackWindow {
  report: FallbackWindowReport | undefined;
  /** The fallback asked for and not yet tried. */
  asked: FallbackAsked | undefined;
  /** The release asked for. */
  released: ReleaseInput | undefined;
  private tried: { report?: FallbackReport; problem?: string } | undefined;

  constructor(
    private readonly input: MigrationInput,
    private readonly progress: Progress,
  ) {
    setHandler(fallbackUpdate, (call) => this.fallBack(call), {
      validator: (call) => refuse(this.problem('fallback', call)),
    });
    setHandler(releaseUpdate, (call) => this.release(call), {
      validator: (call) => refuse(this.problem('release', call)),
    });
  }

  /** The window could not open at the cutover: the cutover stands, without a way back. */
  notOpened(problem: string): void {
    this.set({ seconds: this.seconds, state: 'not_opened', problem });
  }

  /** The window is open until `until` (ISO 8601). */
  open(until: string): void {
    this.set({ seconds: this.seconds, until, state: 'open' });
    this.progress.setNote(
      `fallback window open until ${until}: \`pgferry fallback ${this.input.name} --as WHO --reason TEXT\` moves back to the source, \`pgferry release ${this.input.name}\` ends it`,
    );
  }

  /** A fallback is running. */
  fallingBack(): void {
    if (this.report) this.set({ ...this.report, state: 'falling_back' });
  }

  /** The fallback asked for could not go through: the target is the primary still, the window open. */
  failed(asked: FallbackAsked, problem: string, at: string): void {
    this.asked = undefined;
    this.tried = { problem };
    const failed = [...(this.report?.failed ?? []), { by: asked.by, at, problem }];
    if (this.report) this.set({ ...this.report, state: 'open', failed });
  }

  /** The source is the primary again. */
  fellBack(report: FallbackReport): void {
    this.asked = undefined;
    this.tried = { report };
    if (this.report) this.set({ ...this.report, state: 'fell_back', fallback: report });
  }

  /** The reverse replication is gone: the window has ended (after a fallback, a release or its deadline). */
  closed(at: string): FallbackWindowReport {
    const state = this.report?.state === 'fell_back' ? 'fell_back' : this.released ? 'released' : 'expired';
    const by = this.released?.by;
    this.set({
      ...(this.report ?? { seconds: this.seconds }),
      state,
      endedAt: at,
      ...(state === 'released' && by !== undefined ? { releasedBy: by } : {}),
    });
    this.progress.setNote(undefined);
    return this.report as FallbackWindowReport;
  }

  private get seconds(): number {
    return this.input.fallbackWindowSeconds ?? 0;
  }

  private set(report: FallbackWindowReport): void {
    this.report = report;
    this.progress.detail('fallbackWindow', report);
    this.progress.update({});
  }

  private problem(kind: 'fallback' | 'release', raw: unknown): Refusal | undefined {
    const { input } = this;
    const state = this.report?.state;
    if (input.fallbackWindowSeconds === undefined) {
      return {
        message: `${kind}: migration ${input.name} has no fallback window`,
        field: 'fallbackWindow',
        fix: 'a fallback window is asked for at the start: pgferry migrate --mode online --fallback-window 1h',
      };
    }
    if (state !== 'open' || this.asked !== undefined || this.released !== undefined) {
      const now = state === undefined ? `stage ${this.progress.stage}` : state.replace('_', ' ');
      return {
        message: `${kind}: the fallback window of migration ${input.name} is not open (${now})`,
        field: 'fallbackWindow',
        fix:
          state === undefined
            ? 'the window opens at the cutover; see pgferry status'
            : 'nothing to do: see pgferry status',
      };
    }
    const parsed = (kind === 'fallback' ? FallbackInput : ReleaseInput).safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = String(issue?.path[0] ?? 'by');
      return {
        message: `${field}: ${issue?.message ?? 'invalid'}`,
        field,
        fix: `give { "by": "NAME", "reason": "…" } (pgferry ${kind} ${input.name} --as WHO --reason TEXT)`,
      };
    }
    const by = (parsed.data as { by?: string }).by;
    return kind === 'fallback' && by !== undefined ? approverRefusal(by, input.approvers, input) : undefined;
  }

  private async fallBack(call: FallbackInput): Promise<FallbackReport> {
    this.tried = undefined;
    this.asked = {
      by: call.by,
      reason: call.reason.trim(),
      ...(call.via ? { via: call.via } : {}),
      askedAt: new Date().toISOString(),
    };
    await condition(() => this.tried !== undefined);
    const tried: { report?: FallbackReport; problem?: string } = this.tried ?? {};
    const { report, problem } = tried;
    if (report) return report;
    throw ApplicationFailure.create({
      type: ErrorCode.FallbackFailed,
      message: `fallback: ${problem ?? 'did not go through'}`,
      nonRetryable: true,
      details: [
        {
          field: 'fallback',
          fix: 'the target is the primary still and the window open: mend the cause and run pgferry fallback again',
        },
      ],
    });
  }

  private async release(call: ReleaseInput): Promise<FallbackWindowReport> {
    this.released = call;
    await condition(() => this.report?.endedAt !== undefined);
    return this.report as FallbackWindowReport;
  }
}
