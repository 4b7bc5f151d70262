import { isCancellation, sleep } from '@temporalio/workflow';
import type { Attention } from '../domain/contracts';
import { failureInfo } from '../domain/failure-info';
import type { Notifier } from './notify';
import type { Progress } from './progress';

/** One undo step of a rollback, named for the history and the failure message. */
interface Compensation {
  readonly name: string;
  readonly run: () => Promise<void>;
}

/** A step of a rollback that has not succeeded yet, as `pgferry status` shows it. */
export interface PendingStep {
  readonly step: string;
  readonly attempts: number;
  readonly code: string;
  readonly message: string;
}

/** Where a rollback stands (status `details.rollback`): the steps done, the steps still failing, the next pass. */
export interface RollbackState {
  readonly passes: number;
  readonly done: readonly string[];
  readonly pending: readonly PendingStep[];
  /** Seconds until the next pass; absent once every step has succeeded. */
  readonly nextRetrySeconds?: number;
  readonly fix?: string;
}

/** What a rollback tells while it runs: the progress state, and the people (once, when it is stuck). */
export interface RollbackWatch {
  detail(key: 'rollback', value: RollbackState): void;
  setNote(note: string | undefined): void;
  attention(problem: Attention): void;
  attended(): void;
  /** The rollback keeps failing: told once (notification). */
  stuck(problem: Attention): Promise<void>;
}

/** A migration's rollback watch: its progress state, and its notifier when the rollback is stuck. */
export function watchRollback(progress: Progress, notifier: Notifier): RollbackWatch {
  return {
    detail: (key, value) => progress.detail(key, value),
    setNote: (note) => progress.setNote(note),
    attention: (problem) => progress.attention(problem),
    attended: () => progress.attended(),
    stuck: (problem) => notifier.rollbackStuck(problem),
  };
}

/** The first wait between two passes over the failing steps: a server back in seconds is not waited for long. */
const FIRST_RETRY_SECONDS = 5;
/** The longest wait between two passes for the first STEADY_PASSES passes, and after them (history stays bounded). */
const MAX_RETRY_SECONDS = 5 * 60;
const LATE_MAX_RETRY_SECONDS = 30 * 60;
const STEADY_PASSES = 100;
/** After this many failed passes (about a minute and a half with the activities' own retries), a person is told. */
export const STUCK_AFTER_PASSES = 3;

/** What the person does about a rollback that keeps failing. */
export function rollbackFix(workflowId: string): string {
  const name = workflowId.replace(/^migration-/, '');
  return `every step is retried until it succeeds: mend the cause (a server down, a missing right) and the rollback finishes by itself. To give up instead, run \`pgferry cleanup ${name} --terminate\` once the servers are back (it terminates the workflow, then removes what the migration left)`;
}

/**
 * The compensation stack of a migration: each stage pushes the undo of what it changed, and a
 * rollback runs them newest first. A rollback always finishes: every step is attempted in each
 * pass even when an earlier one fails (a target that is down must not keep the source frozen, nor
 * its slot), and passes over the steps still failing repeat with backoff until all have succeeded,
 * shown in the status and the UI, and told to people after a few failed passes (needs_attention).
 */
export class Compensations {
  private readonly steps: Compensation[] = [];
  private sealed = false;

  /** `watch` hears how the rollback goes (the migration's progress and notifier); `fix` says what a person does. */
  constructor(
    private readonly watch?: RollbackWatch,
    private readonly fix = 'every step is retried until it succeeds',
  ) {}

  /**
   * The point of no return: the target has become the primary. From here on nothing is undone
   * (unfreezing the source or dropping the target would split the brain); failures are retried.
   */
  seal(): void {
    this.sealed = true;
  }

  /** False once sealed: a failure or cancel then leaves everything as it is. */
  get canRollBack(): boolean {
    return !this.sealed;
  }

  /** Registers the undo of a change, before the change is made (the change may half-happen). */
  push(name: string, run: () => Promise<void>): void {
    this.steps.push({ name, run });
  }

  /** The registered steps' names, oldest first. */
  get names(): string[] {
    return this.steps.map((s) => s.name);
  }

  /**
   * Runs every step, newest first, then again the ones that failed, with backoff, until each has
   * succeeded. Never throws but a cancellation (the caller shields it: a rollback is not cancelled).
   */
  async run(): Promise<void> {
    // A copy reversed: running twice runs in the same order.
    let pending = [...this.steps].reverse();
    const done: string[] = [];
    const attempts = new Map<string, number>();
    let wait = FIRST_RETRY_SECONDS;
    for (let pass = 1; ; pass++) {
      const failed: { step: Compensation; error: PendingStep }[] = [];
      for (const step of pending) {
        try {
          await step.run();
          done.push(step.name);
        } catch (err) {
          if (isCancellation(err)) throw err;
          const info = failureInfo(err);
          const tries = (attempts.get(step.name) ?? 0) + 1;
          attempts.set(step.name, tries);
          failed.push({
            step,
            error: { step: step.name, attempts: tries, code: String(info.code), message: info.message },
          });
        }
      }
      if (failed.length === 0) {
        if (pass > 1) this.settled(pass, done);
        return;
      }
      pending = failed.map((f) => f.step);
      await this.failedPass({
        passes: pass,
        done: [...done],
        pending: failed.map((f) => f.error),
        nextRetrySeconds: wait,
        fix: this.fix,
      });
      await sleep(wait * 1000);
      wait = Math.min(wait * 2, pass < STEADY_PASSES ? MAX_RETRY_SECONDS : LATE_MAX_RETRY_SECONDS);
    }
  }

  /** Shows a pass that left steps failing; after STUCK_AFTER_PASSES, needs_attention and one notification. */
  private async failedPass(state: RollbackState): Promise<void> {
    const watch = this.watch;
    if (!watch) return;
    watch.detail('rollback', state);
    const first = state.pending[0]!;
    const names = state.pending.map((p) => p.step).join(', ');
    watch.setNote(
      `rollback: ${state.pending.length} step(s) still failing (${names}; ${first.step}: [${first.code}] ${first.message}); pass ${state.passes + 1} in ${state.nextRetrySeconds} s`,
    );
    if (state.passes < STUCK_AFTER_PASSES) return;
    const problem: Attention = {
      step: `rollback (${names})`,
      code: first.code,
      message: first.message,
      fix: state.fix ?? this.fix,
      attempts: state.passes,
      nextRetrySeconds: state.nextRetrySeconds ?? 0,
    };
    watch.attention(problem);
    if (state.passes === STUCK_AFTER_PASSES) await watch.stuck(problem);
  }

  /** Every step has succeeded after failed passes: the status keeps how it went. */
  private settled(passes: number, done: readonly string[]): void {
    const watch = this.watch;
    if (!watch) return;
    watch.detail('rollback', { passes, done: [...done], pending: [] });
    watch.setNote(undefined);
    if (passes > STUCK_AFTER_PASSES) watch.attended();
  }
}

/**
 * Runs steps at once and waits until every one has ended, then throws the first failure: nothing
 * goes on (a rollback least of all) while one of them still runs.
 */
export async function allEnded<T extends readonly unknown[]>(
  steps: readonly [...{ [K in keyof T]: Promise<T[K]> }],
): Promise<T> {
  const ended = await Promise.allSettled(steps as readonly Promise<unknown>[]);
  const failed = ended.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return ended.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
