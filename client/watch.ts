import type { WorkflowStatus } from '../domain/contracts';
import { isLive } from '../domain/live-states';
import { formatDuration, formatFigures, formatStages } from './format';
import type { Output } from './output';
import type { PgferryClient } from './pgferry-client';

/** A terminal redraws the progress twice a second. */
const TTY_POLL_MS = 500;
/** Logs and --json get a line per stage: each poll is a query the worker answers, so fewer of them. */
const PLAIN_POLL_MS = 1000;

/** True once a workflow has ended, one way or another. */
export function isClosed(status: WorkflowStatus): boolean {
  return !isLive(status.state);
}

/** One progress line: "dump ▶ · tables 3/10 · 4.2 MB · 12s". */
export function progressLine(status: WorkflowStatus, elapsedMs: number): string {
  const figures = formatFigures(status.progress);
  return [`${status.id}: ${formatStages(status)}`, figures, formatDuration(elapsedMs)]
    .filter(Boolean)
    .join(' · ');
}

/**
 * Follows a workflow until `until` holds (by default: until it ends), drawing progress for people.
 * Returns the last status seen. `ended`, when given, settles as the workflow closes (its result's
 * long poll): the status is read again at once instead of at the next poll.
 */
export async function watch(
  client: PgferryClient,
  id: string,
  out: Output,
  until: (s: WorkflowStatus) => boolean = isClosed,
  timeoutMs = Number.POSITIVE_INFINITY,
  ended?: Promise<unknown>,
): Promise<WorkflowStatus> {
  const closed = ended?.then(
    () => undefined,
    () => undefined,
  );
  const started = Date.now();
  const last = { key: '' };
  for (;;) {
    const status = await client.status(id);
    out.progress(progressLine(status, Date.now() - started), `${status.stage}/${status.state}`, last);
    if (until(status) || Date.now() - started > timeoutMs) {
      out.endProgress();
      return status;
    }
    let timer: NodeJS.Timeout | undefined;
    const pollMs = out.tty ? TTY_POLL_MS : PLAIN_POLL_MS;
    await Promise.race([new Promise((r) => (timer = setTimeout(r, pollMs))), ...(closed ? [closed] : [])]);
    clearTimeout(timer);
  }
}
