// A workflow of your own that runs pgferry's `migration` as a child and waits for it. Only the
// workflow type name, its task queue and its JSON input are needed: no pgferry code runs here.
import { executeChild } from '@temporalio/workflow';

/** Input of the example's own workflow. */
export interface MoveCustomerInput {
  readonly customer: string;
  readonly source: string;
  readonly target: string;
}

/** Moves one customer's database, then (in a real app) would flip the customer's connection string. */
export async function moveCustomer(
  input: MoveCustomerInput,
): Promise<{ customer: string; outcome: string; rows: number }> {
  const result = await executeChild<(raw: unknown) => Promise<{ outcome: string; rows: number }>>(
    'migration',
    {
      taskQueue: 'pgferry-control',
      workflowId: `migration-${input.customer}`,
      args: [
        {
          name: input.customer,
          source: input.source,
          target: input.target,
          mode: 'offline',
          autoApprove: true,
        },
      ],
    },
  );
  return { customer: input.customer, outcome: result.outcome, rows: result.rows };
}
