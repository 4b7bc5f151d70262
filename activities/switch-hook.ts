import type { SwitchHookInput } from '../domain/activity-inputs';
import { formatConnectionUrl } from '../domain/connection';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { postHeaders } from './signing';
import { runTool } from './tools';

/**
 * The event the switch is told: the migration, both ends (without passwords), which way the
 * primary moves, and the primary it moves to.
 */
interface SwitchEvent {
  readonly event: 'pgferry.cutover' | 'pgferry.fallback';
  readonly migration: string;
  readonly source: string;
  readonly target: string;
  /** `cutover`: the target is now the primary; `fallback`: the source is the primary again. */
  readonly direction: 'cutover' | 'fallback';
  readonly primary: string;
}

/**
 * Tells the world the target is now the primary (or, on a fallback, the source again): POSTs the
 * event to the migration's URL, and runs the worker's PGFERRY_SWITCH_HOOK_COMMAND (with
 * PGFERRY_MIGRATION, PGFERRY_SOURCE_URL, PGFERRY_TARGET_URL, PGFERRY_SWITCH_DIRECTION and
 * PGFERRY_PRIMARY_URL in its environment). Each may take up to the input's timeout; the step
 * heartbeats meanwhile, so a slow hook is waited for and a dead worker is noticed. Either failing
 * fails the step.
 */
export async function switchEndpoint(
  deps: ActivityDeps,
  input: SwitchHookInput,
): Promise<{ url: boolean; command: boolean }> {
  const source = formatConnectionUrl(input.source);
  const target = formatConnectionUrl(input.target);
  const event: SwitchEvent = {
    event: input.direction === 'fallback' ? 'pgferry.fallback' : 'pgferry.cutover',
    migration: input.migration,
    source,
    target,
    direction: input.direction,
    primary: input.direction === 'fallback' ? source : target,
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
      PGFERRY_SWITCH_DIRECTION: event.direction,
      PGFERRY_PRIMARY_URL: event.primary,
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
