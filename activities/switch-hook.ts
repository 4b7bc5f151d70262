import type { SwitchHookInput } from '../domain/activity-inputs';
import { formatConnectionUrl } from '../domain/connection';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { postHeaders } from './signing';
import { runTool } from './tools';

/** The event the switch is told: the migration and both ends, without passwords. */
interface SwitchEvent {
  readonly event: 'pgferry.cutover';
  readonly migration: string;
  readonly source: string;
  readonly target: string;
}

/**
 * Tells the world the target is now the primary: POSTs the event to the migration's URL, and runs
 * the worker's PGFERRY_SWITCH_HOOK_COMMAND (with PGFERRY_MIGRATION, PGFERRY_SOURCE_URL and
 * PGFERRY_TARGET_URL in its environment). Each may take up to the input's timeout; the step
 * heartbeats meanwhile, so a slow hook is waited for and a dead worker is noticed. Either failing
 * fails the step.
 */
export async function switchEndpoint(
  deps: ActivityDeps,
  input: SwitchHookInput,
): Promise<{ url: boolean; command: boolean }> {
  const event: SwitchEvent = {
    event: 'pgferry.cutover',
    migration: input.migration,
    source: formatConnectionUrl(input.source),
    target: formatConnectionUrl(input.target),
  };
  return withHeartbeat('the endpoint switch', async (hb) => {
    const signal = AbortSignal.any([hb.signal, AbortSignal.timeout(input.timeoutSeconds * 1000)]);
    if (input.url) await postSwitch(deps, input, event, signal);
    if (deps.switchHookCommand) await runSwitchCommand(deps.switchHookCommand, event, signal);
    return { url: Boolean(input.url), command: Boolean(deps.switchHookCommand) };
  });
}

/** POSTs the event, signed like webhook notifications (PGFERRY_WEBHOOK_SECRET) and with its delivery id. */
async function postSwitch(
  deps: ActivityDeps,
  input: SwitchHookInput,
  event: SwitchEvent,
  signal: AbortSignal,
): Promise<void> {
  const url = input.url ?? '';
  const body = JSON.stringify(event);
  const headers = {
    ...postHeaders({
      event: event.event,
      delivery: input.delivery,
      body,
      secret: deps.notify?.webhookSecret,
    }),
    ...(input.delivery ? { 'idempotency-key': input.delivery } : {}),
  };
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers, body, signal });
  } catch (err) {
    if (signal.aborted && !(signal.reason instanceof DOMException && signal.reason.name === 'TimeoutError'))
      throw err;
    // Only the origin: hook URLs often carry their own token in the path.
    const why = signal.aborted ? `no answer within ${input.timeoutSeconds} s` : String(err);
    throw new PgferryError(ErrorCode.ToolFailed, `switchHook: ${new URL(url).origin}: ${why}`, {
      field: 'switchHook',
      fix: 'check the hook receiver, or give the migration a longer --switch-hook-timeout',
      cause: err,
    });
  }
  await response.arrayBuffer().catch(() => undefined);
  if (!response.ok) {
    throw new PgferryError(
      ErrorCode.ToolFailed,
      `switchHook: ${new URL(url).origin} answered ${response.status}`,
      {
        field: 'switchHook',
      },
    );
  }
}

/** Runs the worker's switch command with the event in its environment. */
async function runSwitchCommand(command: string, event: SwitchEvent, signal: AbortSignal): Promise<void> {
  const result = await runTool('/bin/sh', ['-c', command], {
    env: {
      PGFERRY_MIGRATION: event.migration,
      PGFERRY_SOURCE_URL: event.source,
      PGFERRY_TARGET_URL: event.target,
    },
    signal,
  });
  if (result.code !== 0) {
    throw new PgferryError(
      ErrorCode.ToolFailed,
      `the switch hook command exited ${String(result.code)}: ${result.stderrTail}`,
      { field: 'PGFERRY_SWITCH_HOOK_COMMAND' },
    );
  }
}
