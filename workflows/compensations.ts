/** One undo step of a rollback, named for the history and the failure message. */
interface Compensation {
  readonly name: string;
  readonly run: () => Promise<void>;
}

/**
 * The compensation stack of a migration: each stage pushes the undo of what it changed, and a
 * rollback runs them newest first. Every step is attempted even when an earlier one fails (a
 * target that is down must not keep the source frozen); the first failure is thrown at the end.
 */
export class Compensations {
  private readonly steps: Compensation[] = [];
  private sealed = false;

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

  /** Runs every step, newest first; throws the first failure once all have been attempted. */
  async run(): Promise<void> {
    const failures: unknown[] = [];
    // A copy reversed: running twice runs in the same order.
    for (const step of [...this.steps].reverse()) {
      await step.run().catch((err: unknown) => failures.push(err));
    }
    if (failures.length > 0) throw failures[0] as Error;
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
