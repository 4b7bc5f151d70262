import { describeError, type ErrorInfo } from '../domain/errors';

/** Where a command writes: one JSON document with --json, lines for people otherwise. */
export class Output {
  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {}

  /** True when a person watches a terminal (progress is drawn in place). */
  get tty(): boolean {
    return !this.json && Boolean(this.stderr.isTTY);
  }

  /** The command's result: the JSON document, or the human lines. */
  result(value: unknown, human: () => string): void {
    this.stdout.write(this.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
  }

  /** A note for people (stderr, so that stdout stays parseable); silent with --json. */
  note(line: string): void {
    if (!this.json) this.stderr.write(`${line}\n`);
  }

  /** Draws a progress line in place on a TTY; elsewhere prints it when `key` (the stage) changed. */
  progress(line: string, key: string, last: { key: string }): void {
    if (this.json) return;
    if (this.tty) this.stderr.write(`\r\x1b[K${line}`);
    else if (key !== last.key) this.stderr.write(`${line}\n`);
    last.key = key;
  }

  /** Ends an in-place progress line. */
  endProgress(): void {
    if (this.tty) this.stderr.write('\n');
  }

  /** An error: `{ "ok": false, "error": {...} }` with --json, else "error [Code] field: message. Fix: …". */
  error(info: ErrorInfo): void {
    if (this.json) {
      this.stdout.write(`${JSON.stringify({ ok: false, error: info }, null, 2)}\n`);
    } else {
      this.stderr.write(`error [${info.code}] ${describeError(info)}\n`);
    }
  }
}
