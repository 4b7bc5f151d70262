import { message, say } from './log';

/**
 * What the run has set up and must take down — dev stacks, the logical cluster, databases — undone
 * in reverse on the way out, also after Ctrl-C, so nothing is left running or lying around.
 */
export class Cleanups {
  private readonly steps: (() => Promise<void>)[] = [];

  /** Registers a step; the function returned runs it now (once) and takes it off the list. */
  add(step: () => Promise<void>): () => Promise<void> {
    this.steps.push(step);
    return async () => {
      const i = this.steps.indexOf(step);
      if (i < 0) return;
      this.steps.splice(i, 1);
      await step();
    };
  }

  /** Runs every step left, newest first; a failing step is reported and the others still run. */
  async runAll(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      await step().catch((err: unknown) => say(`cleanup: ${message(err)}`));
    }
  }
}
