import { workflowInfo } from '@temporalio/workflow';
import { parseConnectionUrl, connectionLabel } from '../domain/connection';
import { ProvisionInput, type ProvisionOptions, type ProvisionResult } from '../domain/contracts';
import { control, data } from './activities';
import { parseWorkflowInput } from './input';
import { Progress } from './progress';

/** The comment a provision run stamps on its database, so that its retries and its parent recognise it. */
export function provisionMarker(workflowId: string): string {
  return `pgferry:${workflowId}`;
}

/** Makes a target database exist, idempotently: `local` on a running server, `local-cluster` on a fresh cluster. */
export async function provision(raw: ProvisionOptions): Promise<ProvisionResult> {
  const input = parseWorkflowInput(ProvisionInput, raw, 'provision');
  const marker = provisionMarker(workflowInfo().workflowId);
  const target =
    input.provider === 'local'
      ? connectionLabel(parseConnectionUrl(input.target, 'target'))
      : `local-cluster:${input.cluster}`;
  const progress = new Progress(['provision', 'done'], { target });
  return progress.run(async () => {
    if (input.provider === 'local') {
      return control.provisionDatabase({ target: input.target, marker });
    }
    return data.provisionLocalCluster({
      cluster: input.cluster,
      database: input.database,
      port: input.port,
      pgVersion: input.pgVersion,
      marker,
    });
  });
}
