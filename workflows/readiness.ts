/**
 * Whether a migration at its approval gate may be approved now, and if not, why: each concern
 * (validation, replication, the cutover's last attempt) sets or clears its own problem. The gate
 * refuses an approval while any problem stands, and says which.
 */
export class Readiness {
  private readonly problems = new Map<string, string>();

  constructor(private readonly onChange: (problems: Record<string, string>) => void = () => undefined) {}

  /** Sets the problem of one concern, or clears it with undefined. */
  set(concern: string, problem: string | undefined): void {
    const before = this.problems.get(concern);
    if (before === problem) return;
    if (problem === undefined) this.problems.delete(concern);
    else this.problems.set(concern, problem);
    this.onChange(Object.fromEntries(this.problems));
  }

  /** True when no concern has a problem. */
  get ready(): boolean {
    return this.problems.size === 0;
  }

  /** The standing problems, joined for a person to read; empty when ready. */
  get why(): string {
    return [...this.problems.values()].join('; ');
  }
}
