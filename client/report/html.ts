import type { ValidationReport } from '../../domain/migration';
import { describeChatIdentity } from '../../domain/chat';
import { formatBytes, formatCount, formatDuration } from '../format';
import { tableName, type MigrationReport, type RenderContext } from './model';
import { esc, lineChart, timelineChart, type ChartMarker } from './svg';

const STYLE = `
:root{--fg:#1d2430;--muted:#5b6676;--line:#d8dee8;--bg:#f6f8fb;--ok:#1a7f37;--bad:#c62828;--warn:#9a6700;--accent:#2f6fde}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:var(--muted)}.note{color:var(--muted);font-size:12px;margin:4px 0 0}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 18px;margin-top:16px}
section h2{margin-top:0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin-top:16px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .k{color:var(--muted);font-size:12px}.card .v{font-size:19px;font-weight:600}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600;color:#fff;background:var(--muted)}
.badge.ok{background:var(--ok)}.badge.bad{background:var(--bad)}.badge.warn{background:var(--warn)}
table{border-collapse:collapse;width:100%;margin-top:6px}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.yes{color:var(--ok);font-weight:600}.no{color:var(--bad);font-weight:600}.warnc{color:var(--warn);font-weight:600}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
svg.chart{width:100%;height:auto;display:block;margin-top:6px}
svg .grid{stroke:#e6eaf0}svg .tick,svg .label{font-size:11px;fill:var(--muted)}
svg .line{fill:none;stroke:var(--accent);stroke-width:2}svg .point{fill:#fff;stroke:var(--accent);stroke-width:2}
svg .marker line{stroke:#8a3ffc;stroke-dasharray:4 3}svg .marker text{font-size:11px;fill:#8a3ffc}
svg .band{fill:var(--bad);opacity:.18}
svg .bar-0{fill:#2f6fde}svg .bar-1{fill:#1a9c8c}svg .bar-2{fill:#e08a00}svg .bar-3{fill:#8a3ffc}
svg .bar-4{fill:#d1495b}svg .bar-5{fill:#3a86ff}svg .bar-6{fill:#6a994e}svg .bar-7{fill:#7d6b91}
details summary{cursor:pointer;color:var(--accent)}
`;

const ms = (iso: string) => Date.parse(iso);
const yesNo = (ok: boolean, yes = 'yes', no = 'no') =>
  `<span class="${ok ? 'yes' : 'no'}">${ok ? yes : no}</span>`;

function table(head: string[], rows: string[][], numeric: number[] = []): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows
    .map(
      (r) =>
        `<tr>${r.map((c, i) => `<td${numeric.includes(i) ? ' class="n"' : ''}>${c}</td>`).join('')}</tr>`,
    )
    .join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

function outcomeBadge(outcome: string): string {
  const kind = outcome === 'completed' ? 'ok' : outcome === 'running' ? 'warn' : 'bad';
  return `<span class="badge ${kind}" id="outcome">${esc(outcome)}</span>`;
}

function cards(r: MigrationReport): string {
  const validation = r.validation ?? r.liveValidation;
  const decision = r.decisions[r.decisions.length - 1];
  const items: [string, string][] = [
    ['Outcome', esc(r.outcome)],
    ['Downtime', r.downtimeMs === undefined ? '—' : `${formatCount(r.downtimeMs)} ms`],
    ['Took', r.durationMs === undefined ? 'running' : formatDuration(r.durationMs)],
    [
      'Copied',
      `${formatCount(r.totals?.rows ?? r.copy.rows)} rows · ${formatBytes(r.totals?.bytes ?? r.copy.bytes)}`,
    ],
    [
      'Validation',
      validation ? `${esc(validation.level)}: ${yesNo(validation.ok, 'equal', 'DIFFERENCES')}` : '—',
    ],
    ['Decision', decision ? `${esc(decision.outcome)} by ${esc(decision.by ?? '?')}` : '—'],
  ];
  return `<div class="cards">${items.map(([k, v]) => `<div class="card"><div class="k">${k}</div><div class="v">${v}</div></div>`).join('')}</div>`;
}

/** The decisions and the freeze as markers on the charts. */
function markersOf(r: MigrationReport): ChartMarker[] {
  return [
    ...r.decisions.map((d) => ({ x: ms(d.at), label: `${d.outcome} by ${d.by ?? '?'}` })),
    ...(r.freezeAt ? [{ x: ms(r.freezeAt), label: 'source frozen' }] : []),
  ];
}

/** The outage on the charts: from the freeze step's start, as long as the recorded downtime. */
function outageOf(r: MigrationReport) {
  if (r.freezeAt === undefined || r.downtimeMs === undefined) return undefined;
  const from = ms(r.freezeAt);
  return {
    from,
    to: from + r.downtimeMs,
    label: `downtime ${formatCount(r.downtimeMs)} ms (source frozen → target ready)`,
  };
}

function stagesSection(r: MigrationReport): string {
  const band = outageOf(r);
  const bars = r.stages
    .filter((s) => s.stage !== 'done')
    .map((s) => {
      const to = s.endedAt ? ms(s.endedAt) : ms(r.closedAt ?? s.startedAt);
      return {
        label: s.stage,
        from: ms(s.startedAt),
        to,
        title: `${s.stage}: ${s.durationMs === undefined ? 'open' : formatDuration(s.durationMs)}`,
      };
    });
  const chart = timelineChart({
    id: 'chart-stages',
    title: 'Stages on a timeline',
    bars,
    markers: markersOf(r),
    ...(band ? { band } : {}),
  });
  const rows = r.stages.map((s) => [
    esc(s.stage),
    esc(s.startedAt),
    s.durationMs === undefined ? '(open)' : formatDuration(s.durationMs),
  ]);
  return `<section id="stages"><h2>Stages</h2>${chart || '<p class="note">No stages recorded.</p>'}${table(['stage', 'started (UTC)', 'took'], rows, [2])}</section>`;
}

function copySection(r: MigrationReport): string {
  const { copy } = r;
  if (copy.batches.length === 0)
    return `<section id="copy"><h2>Copy throughput</h2><p class="note">No copy batch in this history.</p></section>`;
  const first = Math.min(...copy.batches.map((b) => ms(b.startedAt)));
  const last = Math.max(...copy.batches.map((b) => ms(b.endedAt)));
  const chart = lineChart({
    id: 'chart-throughput',
    title: 'Copy throughput over time',
    step: true,
    points: copy.throughput.map((p) => ({
      x: ms(p.at),
      y: p.bytesPerSecond,
      title: `${p.at}: ${formatBytes(p.bytesPerSecond)}/s`,
    })),
    formatY: (y) => `${formatBytes(y)}/s`,
  });
  const mean = last > first ? (copy.bytes * 1000) / (last - first) : 0;
  return `<section id="copy"><h2>Copy throughput</h2>${chart}
<p>${formatCount(copy.rows)} rows, ${formatBytes(copy.bytes)} in ${copy.batches.length} batches over ${formatDuration(last - first)}: ${formatBytes(mean)}/s on average.</p>
<p class="note">Throughput ${esc(copy.basis)}.</p></section>`;
}

function lagSection(r: MigrationReport): string {
  if (r.mode !== 'online') return '';
  const samples = r.lag.samples.filter((s) => s.lagBytes !== null);
  const chart = lineChart({
    id: 'chart-lag',
    title: 'Replication lag over time',
    points: samples.map((s) => ({
      x: ms(s.at),
      y: s.lagBytes ?? 0,
      title: `${s.at}: ${formatBytes(s.lagBytes ?? 0)}${s.lagSeconds === null ? '' : ` / ${s.lagSeconds.toFixed(2)} s`}${s.ready ? ', ready' : ', not ready'}`,
    })),
    formatY: (y) => formatBytes(y),
    markers: markersOf(r),
  });
  const rows = samples.map((s) => [
    esc(s.at),
    formatBytes(s.lagBytes ?? 0),
    s.lagSeconds === null ? '—' : `${s.lagSeconds.toFixed(3)} s`,
    yesNo(s.ready),
  ]);
  return `<section id="lag"><h2>Replication lag</h2>${chart || '<p class="note">No lag sample in this history.</p>'}
<p class="note">Lag ${esc(r.lag.basis)}.</p>${table(['at (UTC)', 'lag', 'lag (time)', 'ready'], rows, [1, 2])}</section>`;
}

function validationTable(v: ValidationReport, id: string, title: string): string {
  const rows = v.tables.map((t) => [
    esc(tableName(t)),
    formatCount(t.sourceRows),
    formatCount(t.targetRows),
    t.sourceChecksum === undefined ? '—' : yesNo(t.sourceChecksum === t.targetChecksum, 'match', 'differ'),
    yesNo(t.ok, 'equal', 'DIFFERS') + (t.note ? ` <span class="note">${esc(t.note)}</span>` : ''),
  ]);
  const extra = [
    ...v.sequences.map((s) => [
      esc(`sequence ${s.name}`),
      esc(s.source),
      esc(s.target),
      '—',
      yesNo(s.ok, 'equal', 'DIFFERS'),
    ]),
    [
      'large objects',
      formatCount(v.largeObjects.source),
      formatCount(v.largeObjects.target),
      '—',
      yesNo(v.largeObjects.ok, 'equal', 'DIFFERS'),
    ],
  ];
  return `<h3>${esc(title)} — ${esc(v.level)}: ${yesNo(v.ok, 'equal', 'DIFFERENCES')}</h3>${v.note ? `<p class="note">${esc(v.note)}</p>` : ''}
<div id="${id}">${table(['table', 'source rows', 'target rows', 'checksum', 'result'], [...rows, ...extra], [1, 2])}</div>`;
}

function validationSection(r: MigrationReport): string {
  const parts = [
    r.liveValidation ? validationTable(r.liveValidation, 'validation-live', 'While replicating') : '',
    r.validation
      ? validationTable(r.validation, 'validation', r.mode === 'online' ? 'At the cutover' : 'After the copy')
      : '',
  ].join('');
  return `<section id="validation-section"><h2>Validation</h2>${parts || '<p class="note">No validation in this history.</p>'}</section>`;
}

function preflightSection(r: MigrationReport): string {
  if (!r.preflight)
    return `<section id="preflight"><h2>Preflight checks</h2><p class="note">No preflight report in this history.</p></section>`;
  const rows = r.preflight.checks.map((c) => [
    `<code>${esc(c.id)}</code>`,
    c.ok
      ? '<span class="yes">ok</span>'
      : c.severity === 'error'
        ? '<span class="no">FAIL</span>'
        : '<span class="warnc">warning</span>',
    esc(c.message) + (c.items?.length ? `<br><span class="note">${esc(c.items.join(', '))}</span>` : ''),
    c.ok || !c.fix ? '' : esc(c.fix),
  ]);
  return `<section id="preflight"><h2>Preflight checks — ${yesNo(r.preflight.ok, 'passed', 'blocked')}</h2>${table(['check', 'result', 'found', 'fix'], rows)}</section>`;
}

function decisionsSection(r: MigrationReport): string {
  const rows = r.decisions.map((d) => [
    esc(d.at),
    d.outcome === 'approved' ? '<span class="yes">approved</span>' : '<span class="no">rejected</span>',
    esc(d.by ?? '?'),
    esc(d.reason ?? ''),
    esc(d.channel) + (d.via ? ` (${esc(describeChatIdentity(d.via))})` : ''),
  ]);
  const gate = r.gate
    ? `<p>The approval gate opened at ${esc(r.gate.openedAt)}${r.gate.waitedMs === undefined ? ' and is waiting' : ` and waited ${formatDuration(r.gate.waitedMs)} for the decision`}.</p>`
    : '';
  const body = rows.length
    ? table(['at (UTC)', 'decision', 'by', 'reason', 'via'], rows)
    : '<p class="note">No decision in this history.</p>';
  return `<section id="decisions"><h2>Decisions</h2>${gate}<div id="decision-table">${body}</div></section>`;
}

function stepsSection(r: MigrationReport): string {
  const row = (s: MigrationReport['steps'][number]) => [
    esc(s.step),
    esc(s.scheduledAt),
    s.durationMs === undefined ? '' : formatDuration(s.durationMs),
    String(s.attempt ?? ''),
    esc(s.outcome) + (s.error ? ` <code>[${esc(s.error.code)}]</code> ${esc(s.error.message)}` : ''),
  ];
  const head = ['step', 'scheduled (UTC)', 'took', 'attempt', 'outcome'];
  const troubles = r.troubles.length
    ? `<p>Steps that failed or needed another attempt:</p>${table(head, r.troubles.map(row), [2, 3])}`
    : '<p>Every step completed in its first attempt.</p>';
  return `<section id="steps"><h2>Steps</h2>${troubles}<details><summary>All ${r.steps.length} steps</summary>${table(head, r.steps.map(row), [2, 3])}</details></section>`;
}

/** The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched. */
export function renderReportHtml(r: MigrationReport, ctx: RenderContext): string {
  const route = [r.mode, r.source && r.target ? `${r.source} → ${r.target}` : undefined]
    .filter(Boolean)
    .join(' · ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>pgferry report: ${esc(r.id)}</title><style>${STYLE}</style></head>
<body><main>
<h1>${esc(r.id)} ${outcomeBadge(r.outcome)}</h1>
<div class="sub">${esc(route)}${route ? ' · ' : ''}started ${esc(r.startedAt)}${r.closedAt ? `, closed ${esc(r.closedAt)}` : ''}</div>
${cards(r)}
${stagesSection(r)}
${copySection(r)}
${lagSection(r)}
${validationSection(r)}
${preflightSection(r)}
${decisionsSection(r)}
${stepsSection(r)}
<p class="note">Rebuilt from the Temporal history of ${esc(r.id)} by pgferry ${esc(ctx.version)} at ${esc(ctx.generatedAt)}. Times are UTC.</p>
</main></body></html>
`;
}
