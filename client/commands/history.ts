import type { Command } from 'commander';
import { describeChatIdentity } from '../../domain/chat';
import { formatDuration } from '../format';
import type { Timeline } from '../history';
import { outputFor, withJson, withPgferry, type CommonOptions } from './context';

function render(t: Timeline): string {
  const lines = [
    `${t.id} (${t.type}) ${t.outcome}, started ${t.startedAt}${t.closedAt ? `, closed ${t.closedAt}` : ''}`,
    '',
    'stages:',
  ];
  for (const s of t.stages) {
    lines.push(
      `  ${s.startedAt}  ${s.stage.padEnd(10)} ${s.durationMs !== undefined ? formatDuration(s.durationMs) : '(open)'}`,
    );
  }
  lines.push('', 'steps:');
  for (const s of t.steps) {
    const attempt = s.attempt && s.attempt > 1 ? ` (attempt ${s.attempt})` : '';
    const error = s.error ? ` [${s.error.code}] ${s.error.message}` : '';
    lines.push(
      `  ${s.scheduledAt}  ${s.step.padEnd(20)} ${s.outcome}${attempt}${s.durationMs !== undefined ? ` in ${formatDuration(s.durationMs)}` : ''}${error}`,
    );
  }
  const preflight = t.preflight as
    { ok?: boolean; checks?: { id: string; ok: boolean; severity: string }[] } | undefined;
  if (preflight?.checks) {
    lines.push('', `checks: ${preflight.ok ? 'passed' : 'blocked'}`);
    for (const c of preflight.checks)
      lines.push(`  ${c.ok ? 'ok  ' : c.severity === 'error' ? 'FAIL' : 'warn'}  ${c.id}`);
  }
  const validation = t.validation as { ok?: boolean; level?: string; tables?: unknown[] } | undefined;
  if (validation)
    lines.push(
      '',
      `validation (${validation.level}): ${validation.ok ? 'equal' : 'DIFFERENCES'}, ${validation.tables?.length ?? 0} tables`,
    );
  const ddl = (t.ddl ?? []) as {
    id: number;
    status: string;
    statement: string;
    error?: string;
    approvedBy?: string;
    approvalReason?: string;
  }[];
  if (ddl.length) {
    lines.push('', 'schema changes:');
    for (const c of ddl) {
      // --ddl hold: who let the change go to the target, and why.
      const approved = c.approvedBy ? ` [approved by ${c.approvedBy}: ${c.approvalReason ?? ''}]` : '';
      lines.push(
        `  #${c.id} ${c.status.padEnd(8)} ${c.statement.replace(/\s+/g, ' ')}${c.error ? ` (${c.error})` : ''}${approved}`,
      );
    }
  }
  if (t.decisions.length) {
    lines.push('', 'decisions:');
    for (const d of t.decisions) {
      // The chat identity says who clicked, where: `by` is the pgferry name it was mapped to.
      const chat = d.via ? ` (${describeChatIdentity(d.via)})` : '';
      lines.push(
        `  ${d.at}  ${d.outcome} by ${d.by ?? '?'}${chat} via ${d.channel}${d.reason ? `: ${d.reason}` : ''}`,
      );
    }
  }
  if (t.window.length) {
    lines.push('', 'fallback window:');
    for (const w of t.window) {
      const chat = w.via ? ` (${describeChatIdentity(w.via)})` : '';
      const ended =
        w.outcome === 'running'
          ? ' (running)'
          : w.outcome === 'failed'
            ? ` did not go through: ${w.problem ?? ''}`
            : w.downtimeMs !== undefined
              ? `, downtime ${formatDuration(w.downtimeMs)}`
              : '';
      lines.push(`  ${w.at}  ${w.kind} by ${w.by ?? '?'}${chat}${w.reason ? `: ${w.reason}` : ''}${ended}`);
    }
  }
  return lines.join('\n');
}

/** `pgferry history NAME`: the timeline and audit trail from the Temporal history. */
export function registerHistory(program: Command): void {
  withJson(
    program
      .command('history')
      .description(
        'rebuild a workflow’s timeline from its Temporal history: stages, steps, checks, validation, decisions, fallbacks',
      )
      .argument('<id>', 'a migration name or any workflow id'),
  ).action(async (id: string, flags: CommonOptions) => {
    const out = outputFor(flags);
    await withPgferry(async (client) => {
      const timeline = await client.history(id);
      out.result(timeline, () => render(timeline));
    });
  });
}
