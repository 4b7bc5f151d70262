// Apart from the contracts (which load zod) so that the CLI's renderers load nothing heavy.
import type { WorkflowState } from './contracts';

/** The states of a workflow that has not ended (it may still wait for a person or a fix). */
export const LIVE_STATES: readonly WorkflowState[] = ['running', 'waiting', 'needs_attention'];

/** True while a workflow has not ended. */
export function isLive(state: WorkflowState): boolean {
  return LIVE_STATES.includes(state);
}
