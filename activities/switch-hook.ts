import type { SwitchHookInput } from '../domain/activity-inputs';
import { formatConnectionUrl } from '../domain/connection';
import { ErrorCode, PgferryError } from '../domain/errors';
import type { ActivityDeps } from './deps';
import { runTool } from './tools';

/**
 * Tells the world the target is now the primary: POSTs the event to the migration's URL, and runs
 * the worker's PGFERRY_SWITCH_HOOK_COMMAND (with PGFERRY_MIGRATION, PGFERRY_SOURCE_URL and
 * PGFERRY_TARGET_URL in its environment). Either failing fails the step, which is retried.
 */
export async function switchEndpoint(
  deps: ActivityDeps,
  input: SwitchHookInput,
): Promise<{ url: boolean; command: boolean }> {
  const event = {
    event: 'pgferry.cutover',
    migration: input.migration,
    source: formatConnectionUrl(input.source),
    target: formatConnectionUrl(input.target),
  };
  if (input.url) {
    const response = await fetch(input.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(30_000),
    });
    if (!response.ok) {
      throw new PgferryError(ErrorCode.ToolFailed, `switchHook: ${input.url} answered ${response.status}`, {
        field: 'switchHook',
      });
    }
  }
  if (deps.switchHookCommand) {
    const result = await runTool('/bin/sh', ['-c', deps.switchHookCommand], {
      env: {
        PGFERRY_MIGRATION: event.migration,
        PGFERRY_SOURCE_URL: event.source,
        PGFERRY_TARGET_URL: event.target,
      },
    });
    if (result.code !== 0) {
      throw new PgferryError(
        ErrorCode.ToolFailed,
        `the switch hook command exited ${String(result.code)}: ${result.stderrTail}`,
        {
          field: 'PGFERRY_SWITCH_HOOK_COMMAND',
        },
      );
    }
  }
  return { url: Boolean(input.url), command: Boolean(deps.switchHookCommand) };
}
