import type { Command } from 'commander';
import type { Attention, WorkflowStatus } from '../../domain/contracts';
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
  const details = (s.details ?? {}) as {
    approval?: {
      decision?: { outcome: string; by: string; reason?: string };
      refused?: { by: string; problem: string }[];
    };
    validation?: { ok: boolean; level: string };
    preflight?: { ok: boolean; checks: { ok: boolean; id: string; severity: string }[] };
    downtimeMs?: number;
  };
  if (details.preflight) {
    const failed = details.preflight.checks.filter((c) => !c.ok).map((c) => `${c.id} (${c.severity})`);
    lines.push(
      `  preflight ${details.preflight.ok ? 'passed' : 'blocked'}${failed.length ? `: ${failed.join(', ')}` : ''}`,
    );
  }
  if (details.validation)
    lines.push(`  validate  ${details.validation.level}: ${details.validation.ok ? 'equal' : 'DIFFERENCES'}`);
  const decision = details.approval?.decision;
  if (decision)
    lines.push(
      `  decision  ${decision.outcome} by ${decision.by}${decision.reason ? ` (${decision.reason})` : ''}`,
    );
  else if (s.state === 'waiting')
    lines.push(`  decision  waiting: pgferry approve ${s.id.replace(/^migration-/, '')} --as NAME`);
  for (const r of details.approval?.refused ?? []) lines.push(`  refused   ${r.by}: ${r.problem}`);
  if (details.downtimeMs !== undefined) lines.push(`  downtime  ${details.downtimeMs} ms`);
  const attention = (s.details as { attention?: Attention } | undefined)?.attention;
  if (attention && !attention.resolved)
    lines.push(
      `  ATTENTION ${attention.step} keeps failing [${attention.code}] (try ${attention.attempts}, again in ${attention.nextRetrySeconds} s): ${attention.message}`,
      `            ${attention.fix}`,
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
