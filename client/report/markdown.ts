import type { ValidationReport } from '../../domain/migration';
import { describeChatIdentity } from '../../domain/chat';
import { formatBytes, formatCount, formatDuration } from '../format';
import { tableName, type MigrationReport, type RenderContext } from './model';

/** A table cell: pipes escaped, on one line. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function table(head: string[], rows: string[][]): string[] {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
    '',
  ];
}

const bar = (value: number, max: number) => '█'.repeat(max > 0 ? Math.round((value / max) * 20) : 0);

function summary(r: MigrationReport): string[] {
  const validation = r.validation ?? r.liveValidation;
  return [
    `# pgferry report: ${r.id}`,
    '',
    `- **outcome**: ${r.outcome}${r.mode ? ` (${r.mode})` : ''}`,
    ...(r.source && r.target ? [`- **route**: \`${r.source}\` → \`${r.target}\``] : []),
    `- **started**: ${r.startedAt}${r.closedAt ? `, closed ${r.closedAt} (took ${formatDuration(r.durationMs ?? 0)})` : ''}`,
    ...(r.downtimeMs === undefined ? [] : [`- **downtime**: ${formatCount(r.downtimeMs)} ms`]),
    `- **copied**: ${formatCount(r.totals?.rows ?? r.copy.rows)} rows, ${formatBytes(r.totals?.bytes ?? r.copy.bytes)}`,
    ...(validation
      ? [`- **validation**: ${validation.level}, ${validation.ok ? 'equal' : 'DIFFERENCES'}`]
      : []),
    '',
  ];
}

function stages(r: MigrationReport): string[] {
  return [
    '## Stages',
    '',
    ...table(
      ['stage', 'started (UTC)', 'took'],
      r.stages.map((s) => [
        s.stage,
        s.startedAt,
        s.durationMs === undefined ? '(open)' : formatDuration(s.durationMs),
      ]),
    ),
  ];
}

function copy(r: MigrationReport): string[] {
  if (r.copy.throughput.length === 0) return ['## Copy throughput', '', 'No copy batch in this history.', ''];
  const max = Math.max(...r.copy.throughput.map((p) => p.bytesPerSecond));
  return [
    '## Copy throughput',
    '',
    `Throughput ${r.copy.basis}.`,
    '',
    ...table(
      ['at (UTC)', 'throughput', ''],
      r.copy.throughput.map((p) => [p.at, `${formatBytes(p.bytesPerSecond)}/s`, bar(p.bytesPerSecond, max)]),
    ),
  ];
}

function lag(r: MigrationReport): string[] {
  if (r.mode !== 'online') return [];
  const samples = r.lag.samples.filter((s) => s.lagBytes !== null);
  if (samples.length === 0) return ['## Replication lag', '', 'No lag sample in this history.', ''];
  const max = Math.max(...samples.map((s) => s.lagBytes ?? 0));
  return [
    '## Replication lag',
    '',
    `Lag ${r.lag.basis}.`,
    '',
    ...table(
      ['at (UTC)', 'lag', 'lag (time)', 'ready', ''],
      samples.map((s) => [
        s.at,
        formatBytes(s.lagBytes ?? 0),
        s.lagSeconds === null ? '—' : `${s.lagSeconds.toFixed(3)} s`,
        s.ready ? 'yes' : 'no',
        bar(s.lagBytes ?? 0, max),
      ]),
    ),
  ];
}

function validationTable(v: ValidationReport, title: string): string[] {
  return [
    `### ${title}: ${v.level}, ${v.ok ? 'equal' : 'DIFFERENCES'}`,
    '',
    ...(v.note ? [v.note, ''] : []),
    ...table(
      ['table', 'source rows', 'target rows', 'checksum', 'result'],
      [
        ...v.tables.map((t) => [
          tableName(t),
          formatCount(t.sourceRows),
          formatCount(t.targetRows),
          t.sourceChecksum === undefined ? '—' : t.sourceChecksum === t.targetChecksum ? 'match' : 'differ',
          `${t.ok ? 'equal' : 'DIFFERS'}${t.note ? ` (${t.note})` : ''}`,
        ]),
        ...v.sequences.map((s) => [
          `sequence ${s.name}`,
          s.source,
          s.target,
          '—',
          s.ok ? 'equal' : 'DIFFERS',
        ]),
        [
          'large objects',
          formatCount(v.largeObjects.source),
          formatCount(v.largeObjects.target),
          '—',
          v.largeObjects.ok ? 'equal' : 'DIFFERS',
        ],
      ],
    ),
  ];
}

function validation(r: MigrationReport): string[] {
  const parts = [
    ...(r.liveValidation ? validationTable(r.liveValidation, 'While replicating') : []),
    ...(r.validation
      ? validationTable(r.validation, r.mode === 'online' ? 'At the cutover' : 'After the copy')
      : []),
  ];
  return ['## Validation', '', ...(parts.length ? parts : ['No validation in this history.', ''])];
}

function preflight(r: MigrationReport): string[] {
  if (!r.preflight) return ['## Preflight checks', '', 'No preflight report in this history.', ''];
  return [
    `## Preflight checks: ${r.preflight.ok ? 'passed' : 'blocked'}`,
    '',
    ...table(
      ['check', 'result', 'found', 'fix'],
      r.preflight.checks.map((c) => [
        `\`${c.id}\``,
        c.ok ? 'ok' : c.severity === 'error' ? 'FAIL' : 'warning',
        c.message + (c.items?.length ? ` (${c.items.join(', ')})` : ''),
        c.ok || !c.fix ? '' : c.fix,
      ]),
    ),
  ];
}

function decisions(r: MigrationReport): string[] {
  const gate = r.gate
    ? [
        `The approval gate opened at ${r.gate.openedAt}${r.gate.waitedMs === undefined ? ' and is waiting' : ` and waited ${formatDuration(r.gate.waitedMs)} for the decision`}.`,
        '',
      ]
    : [];
  const rows = r.decisions.map((d) => [
    d.at,
    d.outcome,
    d.by ?? '?',
    d.reason ?? '',
    d.channel + (d.via ? ` (${describeChatIdentity(d.via)})` : ''),
  ]);
  return [
    '## Decisions',
    '',
    ...gate,
    ...(rows.length
      ? table(['at (UTC)', 'decision', 'by', 'reason', 'via'], rows)
      : ['No decision in this history.', '']),
  ];
}

function troubles(r: MigrationReport): string[] {
  if (r.troubles.length === 0)
    return ['## Steps', '', `Every one of the ${r.steps.length} steps completed in its first attempt.`, ''];
  return [
    '## Steps that failed or needed another attempt',
    '',
    ...table(
      ['step', 'scheduled (UTC)', 'attempt', 'outcome'],
      r.troubles.map((s) => [
        s.step,
        s.scheduledAt,
        String(s.attempt ?? ''),
        s.outcome + (s.error ? ` [${s.error.code}] ${s.error.message}` : ''),
      ]),
    ),
  ];
}

/** The report as Markdown, for a change review: the same sections as the page, charts as tables. */
export function renderReportMarkdown(r: MigrationReport, ctx: RenderContext): string {
  return [
    ...summary(r),
    ...stages(r),
    ...copy(r),
    ...lag(r),
    ...validation(r),
    ...preflight(r),
    ...decisions(r),
    ...troubles(r),
    `_Rebuilt from the Temporal history of ${r.id} by pgferry ${ctx.version} at ${ctx.generatedAt}. Times are UTC._`,
    '',
  ].join('\n');
}
