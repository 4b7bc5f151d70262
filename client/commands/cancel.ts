import type { Command } from 'commander';
import { outputFor, withJson, withPgferry, type CommonOptions } from './context';

/** `pgferry cancel ID`. */
export function registerCancel(program: Command): void {
  withJson(
    program
      .command('cancel')
      .description('cancel a running workflow; it stops its current step and ends cancelled')
      .argument('<id>', 'the workflow id'),
  ).action(async (id: string, flags: CommonOptions) => {
    const out = outputFor(flags);
    await withPgferry(async (client) => {
      await client.cancel(id);
      out.result(
        { ok: true, workflowId: id, cancelRequested: true },
        () => `cancellation requested for ${id}`,
      );
    });
  });
}
