import { workflowInfo } from '@temporalio/workflow';
import { control } from './activities';
import { untilDone } from './attention';
import type { MigrationRun } from './migration-run';

/** What a person does when the endpoint switch keeps failing past the point of no return. */
const SWITCH_FIX =
  'the target is the primary now and the source stays frozen; fix the switch hook (its URL or PGFERRY_SWITCH_HOOK_COMMAND on the worker) and pgferry tries again, or switch the endpoint by hand and `pgferry cancel` the migration (nothing is rolled back)';

/** The same, when the switch back of a fallback keeps failing. */
const FALLBACK_SWITCH_FIX =
  'the source is the primary again and the target stays frozen; fix the switch hook (its URL or PGFERRY_SWITCH_HOOK_COMMAND on the worker) and pgferry tries again, or switch the endpoint back by hand and `pgferry cancel` the migration (nothing is undone)';

/**
 * The endpoint switch: the hook has its own deadline (it may take minutes) and heartbeats while
 * it waits; a few quick attempts, then the caller's backoff. The delivery id lets the receiver
 * recognise a repeated call.
 */
function callHook(run: MigrationRun, direction: 'cutover' | 'fallback') {
  const { input } = run;
  const info = workflowInfo();
  return control.switchEndpoint.executeWithOptions(
    {
      // The URL and the worker's command may each take the whole timeout.
      startToCloseTimeout: `${2 * input.switchHookTimeoutSeconds + 30} seconds`,
      heartbeatTimeout: '30 seconds',
      retry: { initialInterval: '1 second', maximumAttempts: 3 },
    },
    [
      {
        migration: input.name,
        source: input.source,
        target: input.target,
        url: input.switchHook,
        delivery: `${info.workflowId}/${info.runId}/${direction === 'cutover' ? 'switch' : 'fallback'}`,
        timeoutSeconds: input.switchHookTimeoutSeconds,
        direction,
      },
    ],
  );
}

/**
 * Switches the endpoint past the point of no return (to the target; on a fallback, back to the
 * source): retried until it succeeds, never undone.
 */
export async function switchEndpoint(
  run: MigrationRun,
  direction: 'cutover' | 'fallback' = 'cutover',
): Promise<void> {
  const fix = direction === 'cutover' ? SWITCH_FIX : FALLBACK_SWITCH_FIX;
  await untilDone(run, 'switchEndpoint', fix, () => callHook(run, direction));
}
