/** Progress lines of the benchmark go to stderr, so stdout holds the report alone. */
export function say(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

/** The message of anything thrown. */
export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
