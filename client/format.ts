import { formatByteSize } from '../domain/byte-size';
import type { ProgressFigures, WorkflowStatus } from '../domain/contracts';
import { isLive } from '../domain/live-states';

/** 12345678 → "11.8 MB". */
export function formatBytes(bytes: number): string {
  return formatByteSize(bytes);
}

/** 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** 83000 → "1m 23s". */
export function formatDuration(ms: number): string {
  // Steps of a migration often take well under a second: "0s" would say nothing.
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

/** The figures of a progress state on one line: "tables 3/10 · rows 1,200 · 4.2 MB". */
export function formatFigures(p: ProgressFigures): string {
  const parts: string[] = [];
  if (p.tables !== undefined) parts.push(`tables ${p.tablesDone ?? 0}/${p.tables}`);
  else if (p.tablesDone !== undefined) parts.push(`items ${p.tablesDone}`);
  if (p.rows !== undefined) parts.push(`rows ${formatCount(p.rows)}`);
  if (p.bytes !== undefined) parts.push(formatBytes(p.bytes));
  if (p.files !== undefined) parts.push(`files ${p.files}`);
  if (p.bytesPerSecond !== undefined) parts.push(`${formatBytes(p.bytesPerSecond)}/s`);
  if (p.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(p.etaSeconds * 1000)}`);
  if (p.lagBytes !== undefined)
    parts.push(`lag ${formatBytes(p.lagBytes)}${p.lagSeconds ? ` / ${p.lagSeconds}s` : ''}`);
  if (p.detail) parts.push(p.detail);
  return parts.join(' · ');
}

/** The stages as a line: "preflight ✓ → dump ▶ → done". */
export function formatStages(status: Pick<WorkflowStatus, 'stages' | 'stage' | 'state'>): string {
  const at = status.stages.indexOf(status.stage);
  return status.stages
    .map((s, i) => {
      if (status.state === 'completed') return `${s} ✓`;
      if (i < at) return `${s} ✓`;
      if (i === at)
        return status.state === 'needs_attention' ? `${s} !` : isLive(status.state) ? `${s} ▶` : `${s} ✗`;
      return s;
    })
    .join(' → ');
}

/**
 * The command that gets a migration out of the state it is in, when that state leaves something
 * behind: failed, cancelled or terminated (`pgferry cleanup NAME`), or a rollback that keeps
 * failing (`pgferry cleanup NAME --terminate`, which gives it up first).
 */
export function cleanupCommand(
  s: Pick<WorkflowStatus, 'id' | 'type' | 'state' | 'stage'>,
): string | undefined {
  if (s.type !== 'migration') return undefined;
  const name = s.id.replace(/^migration-/, '');
  if (s.state === 'failed' || s.state === 'cancelled') return `pgferry cleanup ${name}`;
  if (s.state === 'needs_attention' && s.stage === 'rollback') return `pgferry cleanup ${name} --terminate`;
  return undefined;
}

/** A captured SQL statement on one line, cut at `max` characters: for messages that name it. */
export function oneLineStatement(statement: string, max = 200): string {
  const line = statement.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
