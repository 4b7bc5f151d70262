import type { Command } from 'commander';
import type { WorkflowStatus } from '../../domain/contracts';
import { describeError } from '../../domain/errors';
import { formatDuration, formatFigures, formatStages } from '../format';
import { watch } from '../watch';
import { outputFor, withJson, withPgferry, type CommonOptions } from './context';

function render(s: WorkflowStatus): string {
  const lines = [
    `${s.id}  (${s.type})`,
    `  state     ${s.state}`,
    `  stage     ${s.stage}${s.stages.length ? `   [${formatStages(s)}]` : ''}`,
  ];
  const figures = formatFigures(s.progress);
  if (figures) lines.push(`  progress  ${figures}`);
  lines.push(
    `  started   ${s.startedAt}${s.durationMs !== undefined ? `  (took ${formatDuration(s.durationMs)})` : ''}`,
  );
  if (s.error) lines.push(`  error     [${s.error.code}] ${describeError(s.error)}`);
  return lines.join('\n');
}

/** `pgferry status ID [--watch]`. */
export function registerStatus(program: Command): void {
  withJson(
    program
      .command('status')
      .description('show where a workflow stands: stage, state, progress figures, result or error')
      .argument('<id>', 'the workflow id (see `pgferry list`)')
      .option('--watch', 'follow it until it ends'),
  ).action(async (id: string, flags: CommonOptions & { watch?: boolean }) => {
    const out = outputFor(flags);
    await withPgferry(async (client) => {
      const status = flags.watch ? await watch(client, id, out) : await client.status(id);
      out.result(status, () => render(status));
    });
  });
}
