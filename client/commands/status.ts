import type { Command } from 'commander';
import type { Attention, WorkflowStatus } from '../../domain/contracts';
import { isLive } from '../../domain/live-states';
import { describeError } from '../../domain/errors';
import type { FallbackWindowReport } from '../../domain/migration';
import type { RollbackState } from '../../workflows/compensations';
import { cleanupCommand, formatBytes, formatDuration, formatFigures, formatStages } from '../format';
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
    readiness?: Record<string, string>;
    replication?: ReplicationFigures;
    cutoverAttempts?: { approvedBy: string; reason: string }[];
    ddl?: DdlChangeLine[];
    fallbackWindow?: FallbackWindowReport;
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
  lines.push(...readinessLines(s, details.readiness, details.replication));
  lines.push(...ddlLines(details.ddl ?? []));
  for (const a of details.cutoverAttempts ?? [])
    lines.push(`  cutover   back at the gate (approved by ${a.approvedBy}): ${a.reason}`);
  if (details.downtimeMs !== undefined) lines.push(`  downtime  ${details.downtimeMs} ms`);
  lines.push(...windowLines(s.id.replace(/^migration-/, ''), details.fallbackWindow));
  const attention = (s.details as { attention?: Attention } | undefined)?.attention;
  if (attention && !attention.resolved)
    lines.push(
      `  ATTENTION ${attention.step} keeps failing [${attention.code}] (try ${attention.attempts}, again in ${attention.nextRetrySeconds} s): ${attention.message}`,
      `            ${attention.fix}`,
    );
  const rollback = (s.details as { rollback?: RollbackState } | undefined)?.rollback;
  for (const p of rollback?.pending ?? [])
    lines.push(`  rollback  ${p.step} failing (${p.attempts} tries) [${p.code}]: ${p.message}`);
  if (s.error) lines.push(`  error     [${s.error.code}] ${describeError(s.error)}`);
  const cleanup = cleanupCommand(s);
  if (cleanup) lines.push(`  cleanup   ${cleanup}   (removes what the migration left; --dry-run lists it)`);
  return lines.join('\n');
}

/** The fallback window (--fallback-window): its state and deadline, what to run, and a fallback's figures. */
function windowLines(name: string, w: FallbackWindowReport | undefined): string[] {
  if (w === undefined) return [];
  const state = w.state.replace('_', ' ');
  const lines = [
    `  window    ${state}${w.until ? ` until ${w.until}` : ''}${w.problem ? `: ${w.problem}` : ''}`,
  ];
  if (w.state === 'open')
    lines.push(
      `            pgferry fallback ${name} --as NAME --reason TEXT moves back to the source; pgferry release ${name} ends the window`,
    );
  for (const f of w.failed ?? [])
    lines.push(`  fallback  by ${f.by} at ${f.at} did not go through: ${f.problem}`);
  const f = w.fallback;
  if (f)
    lines.push(
      `  fallback  by ${f.by} at ${f.at} (${f.reason})${f.downtimeMs === undefined ? '' : `, downtime ${f.downtimeMs} ms`}`,
    );
  return lines;
}

/** One schema change an online migration carried (details.ddl, from listDdlChanges). */
interface DdlChangeLine {
  id: number;
  tag: string;
  statement: string;
  status: string;
  error?: string;
  /** --ddl hold: who approved it, and why. */
  approvedBy?: string;
  approvalReason?: string;
}

/** The schema changes captured on the source, newest last, each with what became of it on the target. */
function ddlLines(changes: readonly DdlChangeLine[]): string[] {
  const shown = changes.slice(-DDL_SHOWN);
  const head =
    changes.length > shown.length ? [`${changes.length} changes captured, the last ${DDL_SHOWN}:`] : [];
  const items = shown.map((c) => {
    const statement = c.statement.replace(/\s+/g, ' ');
    const cut = statement.length > 100 ? `${statement.slice(0, 100)}…` : statement;
    const status =
      c.status === 'failed' ? 'FAILED' : c.status === 'held' ? 'HELD (waits for approval)' : c.status;
    const approved = c.approvedBy ? ` [approved by ${c.approvedBy}: ${c.approvalReason ?? ''}]` : '';
    return `#${c.id} ${status}: ${cut}${c.error ? ` (${c.error})` : ''}${approved}`;
  });
  return [...head, ...items].map((text, i) => `  ${i === 0 ? 'schema   ' : '         '} ${text}`);
}

/** Schema changes status prints (the JSON has them all). */
const DDL_SHOWN = 20;

/** What the watch of an online migration's replication last found (details.replication). */
interface ReplicationFigures {
  lost?: boolean;
  lagBytes?: number | null;
  lagSeconds?: number | null;
  applying?: boolean;
  applyErrors?: number;
  walStatus?: string;
  safeWalBytes?: number | null;
  retainedWalBytes?: number | null;
  maxRetainedWalBytes?: number;
  retainedWarning?: boolean;
  sourceDisk?: { freeBytes: number };
}

/**
 * Online: whether an approval would be taken now (or why not, by concern) and the replication's
 * figures: lag, apply worker and errors, the slot's wal_status and the WAL it holds, free disk.
 */
function readinessLines(
  s: WorkflowStatus,
  readiness: Record<string, string> | undefined,
  r: ReplicationFigures | undefined,
): string[] {
  if (!isLive(s.state) || (readiness === undefined && r === undefined)) return [];
  const problems = Object.values(readiness ?? {});
  const lines =
    problems.length === 0
      ? ['  ready     yes: an approval is taken now']
      : problems.map((p, i) => `  ${i === 0 ? 'ready     no:' : '             '} ${p}`);
  if (r) {
    const parts = [
      r.lagBytes == null
        ? undefined
        : `lag ${formatBytes(r.lagBytes)}${typeof r.lagSeconds === 'number' ? ` / ${r.lagSeconds.toFixed(1)}s` : ''}`,
      r.applying === undefined ? undefined : r.applying ? 'apply worker running' : 'apply worker NOT running',
      r.applyErrors === undefined ? undefined : `apply errors ${r.applyErrors}`,
      r.walStatus === undefined ? undefined : `slot ${r.lost ? 'LOST' : r.walStatus}`,
      r.retainedWalBytes == null
        ? undefined
        : `retains ${formatBytes(r.retainedWalBytes)} of WAL${r.maxRetainedWalBytes === undefined ? '' : ` (${r.retainedWarning ? 'PAST' : 'warning at'} ${formatBytes(r.maxRetainedWalBytes)})`}`,
      r.safeWalBytes == null ? undefined : `${formatBytes(r.safeWalBytes)} before the slot is lost`,
      r.sourceDisk ? `source disk ${formatBytes(r.sourceDisk.freeBytes)} free` : undefined,
    ].filter((p): p is string => p !== undefined);
    if (parts.length > 0) lines.push(`  replic.   ${parts.join(' · ')}`);
  }
  return lines;
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
      const cleanup = cleanupCommand(status);
      out.result(cleanup ? { ...status, cleanup } : status, () => render(status));
    });
  });
}
