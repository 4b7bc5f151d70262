import type { EventCount } from './events';
import type { FleetResults, FleetTool } from './fleet-run';
import { table, type ToolRow } from './report';

/** Issue 16's goals for the fleet run. */
export const FLEET_GOALS = {
  /** pgferry's fleet (with its validation) over the pg_dump | pg_restore loop's wall time. */
  fleetVsLoop: 1.0,
  /** History events of the many-tables database's migration, its children's included. */
  manyTablesEvents: 10_000,
} as const;

const MB = 2 ** 20;
const secs = (s: number | undefined) => (s === undefined ? '—' : s.toFixed(1));
const times = (r: number | undefined) => (r === undefined ? '—' : `${r.toFixed(2)}×`);
const goal = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? 'MET' : 'NOT MET');

/** pgferry's fleet wall time over the loop's, when both moved every database whole. */
export function fleetRatio(r: FleetResults): number | undefined {
  const whole = (t: FleetTool) =>
    t.error === undefined && t.seconds !== undefined && t.verified === r.source.databases.length;
  return whole(r.fleet) && whole(r.loop) ? r.fleet.seconds! / r.loop.seconds! : undefined;
}

/** A member's events: its own and its children's (the provision workflow). */
export const totalEvents = (e: EventCount) => e.own + e.children;

function spread(values: readonly number[], digits = 0): string {
  if (values.length === 0) return '—';
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return `median ${at(0.5).toFixed(digits)}, min ${at(0).toFixed(digits)}, max ${at(1).toFixed(digits)}`;
}

function fleetTable(r: FleetResults): string {
  const n = r.source.databases.length;
  const row = (t: FleetTool) => [
    t.tool,
    secs(t.seconds),
    t.seconds === undefined ? '—' : ((60 * n) / t.seconds).toFixed(1),
    t.error !== undefined ? `FAILED: ${t.error.slice(0, 80)}` : `${t.verified} of ${n}`,
  ];
  return table(
    ['tool', 'wall s', 'databases/min', 'identical to the source'],
    [row(r.fleet), row(r.loop)],
    [false, true, true, false],
  );
}

/** Where a tool's CPU went, and how much of the machine it kept busy over its wall time. */
function cpuLine(t: FleetTool, cpus: number): string {
  const total = t.cpu.reduce((sum, c) => sum + c.seconds, 0);
  const busy = t.seconds
    ? ` (${((100 * total) / (t.seconds * cpus)).toFixed(0)}% of ${cpus} CPUs over its wall time)`
    : '';
  return `CPU s, ${t.tool.split(' (')[0]}: ${t.cpu.map((c) => `${c.label} ${c.seconds.toFixed(1)}`).join(', ')}; total ${total.toFixed(1)}${busy}`;
}

function fleetDetails(r: FleetResults): string[] {
  const f = r.fleet;
  const ratio = fleetRatio(r);
  const lines = [
    `pgferry fleet / loop: ${times(ratio)} (goal ≤ ${FLEET_GOALS.fleetVsLoop.toFixed(1)}×, with validation: ${goal(ratio === undefined ? undefined : ratio <= FLEET_GOALS.fleetVsLoop)})`,
    `history events per member (its migration and the provision child): ${spread(f.memberEvents.map(totalEvents))}; its own workflow alone: ${spread(f.memberEvents.map((e) => e.own))}`,
    `the fleet workflow: ${f.fleetEvents ? `${f.fleetEvents.own} events in ${f.fleetEvents.runs} runs (continue-as-new between waves)` : '—'}`,
    `member migration, first to last event, s: ${spread(
      f.memberEvents.map((e) => e.seconds),
      1,
    )}`,
  ];
  if (f.seconds !== undefined && f.memberEvents.length > 0) {
    const busy = f.memberEvents.reduce((sum, e) => sum + e.seconds, 0);
    lines.push(
      `members running on average: ${(busy / f.seconds).toFixed(1)} of the ${r.settings.concurrency} allowed`,
    );
  }
  if (f.rss)
    lines.push(
      `worker RSS: idle ${(f.rss.startBytes / MB).toFixed(0)} MB, peak ${(f.rss.peakBytes / MB).toFixed(0)} MB, at the end ${(f.rss.endBytes / MB).toFixed(0)} MB (${f.rss.samples} samples)`,
    );
  if (f.medianMember) {
    const b = f.medianMember.breakdown;
    lines.push(
      `the median member (${f.medianMember.name}, ${b.workflowSeconds.toFixed(1)} s): ${b.stages
        .map((s) => `${s.stage} ${s.seconds.toFixed(1)}`)
        .join(', ')}`,
    );
  }
  for (const t of [f, r.loop]) lines.push(cpuLine(t, r.machine.cpus));
  for (const t of [f, r.loop])
    if (t.differences.length > 0) lines.push(`${t.tool} DIFFERS:`, ...t.differences.map((d) => `  ${d}`));
  return lines;
}

function manyTablesLines(r: FleetResults): string[] {
  const m = r.many;
  if (!m) return ['Many tables: skipped (--fleet-tables 0).'];
  const status = (t: ToolRow) =>
    t.error !== undefined
      ? `FAILED: ${t.error.slice(0, 80)}`
      : t.differences.length === 0
        ? 'equal'
        : 'ROWS DIFFER';
  const ratio =
    m.pgferry.seconds !== undefined && m.pgcopydb.seconds !== undefined && m.pgferry.error === undefined
      ? m.pgferry.seconds / m.pgcopydb.seconds
      : undefined;
  const events = m.events ? totalEvents(m.events) : undefined;
  return [
    `Many tables: ${m.tables.toLocaleString('en-US')} tables (${m.relations.toLocaleString('en-US')} relations, ${(m.bytes / MB).toFixed(0)} MB), --jobs ${r.settings.jobs}`,
    '',
    table(
      ['tool', 'wall s', 'vs pgcopydb', 'row counts'],
      [
        [m.pgferry.tool, secs(m.pgferry.seconds), times(ratio), status(m.pgferry)],
        [m.pgcopydb.tool, secs(m.pgcopydb.seconds), '1.00×', status(m.pgcopydb)],
      ],
      [false, true, true, false],
    ),
    '',
    `history events of its migration: ${events === undefined ? '—' : `${events.toLocaleString('en-US')} (${m.events?.own} its own, ${m.events?.children} its children's)`} (goal < ${FLEET_GOALS.manyTablesEvents.toLocaleString('en-US')}: ${goal(events === undefined ? undefined : events < FLEET_GOALS.manyTablesEvents)})`,
  ];
}

/** The fleet run's report, plain text. */
export function renderFleetReport(r: FleetResults): string {
  const s = r.settings;
  const m = r.machine;
  return [
    `Fleet: ${r.source.databases.length} databases of ${(r.source.databaseBytes / MB).toFixed(1)} MB (${(r.source.userBytes / MB).toFixed(1)} MB of tables and indexes; ${r.source.withLargeObjects} with large objects), waves of ${s.waveSize}, concurrency ${s.concurrency}, --jobs ${s.jobs}, each way into a fresh cluster`,
    `machine: ${m.cpus} CPUs (${m.cpuModel}), ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB, ${m.postgres}, ${m.pgcopydb}, Node ${m.node}; commit ${m.commit}${m.uncommitted.length > 0 ? ` + uncommitted ${m.uncommitted.join(', ')}` : ''}`,
    `load average at the start ${m.loadAverage.map((x) => x.toFixed(2)).join(' ')}, at the end ${r.loadAverageAtEnd.map((x) => x.toFixed(2)).join(' ')}`,
    '',
    fleetTable(r),
    '',
    ...fleetDetails(r),
    '',
    ...manyTablesLines(r),
  ].join('\n');
}
