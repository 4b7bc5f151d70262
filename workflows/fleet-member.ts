import { getExternalWorkflowHandle, workflowInfo } from '@temporalio/workflow';
import { WorkflowIdPrefix } from '../domain/constants';
import { memberAtGateSignal } from './fleet-signals';

/**
 * A migration started by a fleet tells it that it waits at its gate, so that the fleet starts the
 * next member (a member at its gate copies nothing) and asks for the wave's approval once all are
 * there. A migration of any other parent, or none, sends nothing.
 */
export async function tellFleetAtGate(): Promise<void> {
  const info = workflowInfo();
  const parent = info.parent?.workflowId;
  if (parent === undefined || !parent.startsWith(WorkflowIdPrefix.fleet)) return;
  // Without a run id: the fleet's current run, whichever continue-as-new it is in.
  await getExternalWorkflowHandle(parent).signal(memberAtGateSignal, info.workflowId);
}
