/** One activity of a migration as its history shows it: name, summary, when it ran. */
export interface Span {
  readonly step: string;
  /** The workflow's one-line summary of it (which tables, which chunks), when it gave one. */
  readonly summary: string | undefined;
  /** Epoch milliseconds: its start (the last attempt's, else its scheduling) and its end. */
  readonly start: number;
  readonly end: number;
}

/** A step in the tail of a run, and how long it ran there. */
export interface TailStep {
  readonly step: string;
  readonly summary: string | undefined;
  readonly seconds: number;
}

/**
 * Where a migration's wall time went beyond its busy lanes: what ran alone at the end, and how long
 * fewer steps ran than there are lanes. This is the critical path the scheduling has to shorten.
 */
export interface CriticalPath {
  /** The step that ended last, its whole duration, and how long it ran with no other step at the end. */
  readonly last: (TailStep & { readonly aloneSeconds: number }) | undefined;
  /** From the last moment every lane was busy to the workflow's close. */
  readonly tailSeconds: number;
  /** The steps that ran in the tail, longest there first. */
  readonly tail: TailStep[];
  /**
   * Each step's seconds while it ran with a lane idle (fewer steps than lanes), most first: what
   * ran alone, which the scheduling should overlap with other work or split.
   */
  readonly idleLanes: TailStep[];
  /**
   * The chain of steps that ends the run, each the one that ended last before the next began,
   * in order: what the wall time waited on. Its steps' time plus the gaps between them (the
   * workflow's own steps between stages) make the workflow's time.
   */
  readonly chain: TailStep[];
  readonly chainGapSeconds: number;
  /** Seconds of the workflow with every lane busy, with some but not all, and with no step at all. */
  readonly allLanesSeconds: number;
  readonly someLanesSeconds: number;
  readonly noStepSeconds: number;
  /** From the last step's end to the workflow's close. */
  readonly afterLastStepSeconds: number;
  /** The CLI's wall time outside the workflow: its start, the workflow's start, the result's delivery, its exit. */
  readonly outsideWorkflowSeconds: number;
  readonly workflowSeconds: number;
}

/** How many spans run at each moment between `from` and `to`: [start, end, running] segments. */
function segments(spans: readonly Span[], from: number, to: number): [number, number, number][] {
  const points = [
    ...new Set([from, to, ...spans.flatMap((s) => [s.start, s.end])].filter((t) => t >= from && t <= to)),
  ].sort((a, b) => a - b);
  const out: [number, number, number][] = [];
  for (let i = 0; i + 1 < points.length; i += 1) {
    const a = points[i]!;
    const b = points[i + 1]!;
    out.push([a, b, spans.filter((s) => s.start <= a && s.end >= b).length]);
  }
  return out;
}

/** Backwards from the step that ended last: each time the step that ended last before this one began. */
function chainOf(spans: readonly Span[]): Span[] {
  const latestFirst = [...spans].sort((a, b) => b.end - a.end);
  const out: Span[] = [];
  let current = latestFirst[0];
  while (current !== undefined) {
    out.unshift(current);
    const start = current.start;
    current = latestFirst.find((s) => s.end <= start && s.start < start);
  }
  return out;
}

/**
 * The critical path of a finished migration from its steps: `lanes` is its --jobs, `workflow` its
 * start and close (epoch ms), `cliSeconds` the wall time the CLI measured around it.
 */
export function criticalPath(
  spans: readonly Span[],
  workflow: { readonly start: number; readonly close: number },
  lanes: number,
  cliSeconds: number,
): CriticalPath {
  const segs = segments(spans, workflow.start, workflow.close);
  const sum = (pred: (n: number) => boolean) =>
    segs.filter(([, , n]) => pred(n)).reduce((total, [a, b]) => total + (b - a) / 1000, 0);
  const lastFull = [...segs].reverse().find(([, , n]) => n >= lanes);
  const tailFrom = lastFull ? lastFull[1] : workflow.start;
  const inTail = new Map<Span, number>();
  for (const s of spans) {
    const seconds = (Math.min(s.end, workflow.close) - Math.max(s.start, tailFrom)) / 1000;
    if (seconds > 0) inTail.set(s, seconds);
  }
  const idle = new Map<Span, number>();
  for (const [a, b, n] of segs) {
    if (n === 0 || n >= lanes) continue;
    for (const s of spans) if (s.start <= a && s.end >= b) idle.set(s, (idle.get(s) ?? 0) + (b - a) / 1000);
  }
  const byEnd = [...spans].sort((a, b) => b.end - a.end);
  const lastSpan = byEnd[0];
  const others = byEnd.slice(1);
  const aloneFrom = Math.max(lastSpan?.start ?? 0, ...others.map((s) => Math.min(s.end, lastSpan?.end ?? 0)));
  const workflowSeconds = (workflow.close - workflow.start) / 1000;
  const chain = chainOf(spans);
  const chainSteps = chain.reduce((total, c) => total + (c.end - c.start) / 1000, 0);
  return {
    last: lastSpan && {
      step: lastSpan.step,
      summary: lastSpan.summary,
      seconds: (lastSpan.end - lastSpan.start) / 1000,
      aloneSeconds: (lastSpan.end - aloneFrom) / 1000,
    },
    tailSeconds: (workflow.close - tailFrom) / 1000,
    tail: [...inTail.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([s, seconds]) => ({ step: s.step, summary: s.summary, seconds })),
    idleLanes: [...idle.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([s, seconds]) => ({ step: s.step, summary: s.summary, seconds })),
    chain: chain.map((c) => ({ step: c.step, summary: c.summary, seconds: (c.end - c.start) / 1000 })),
    chainGapSeconds: Math.max(0, workflowSeconds - chainSteps),
    allLanesSeconds: sum((n) => n >= lanes),
    someLanesSeconds: sum((n) => n > 0 && n < lanes),
    noStepSeconds: sum((n) => n === 0),
    afterLastStepSeconds: lastSpan ? Math.max(0, (workflow.close - lastSpan.end) / 1000) : 0,
    outsideWorkflowSeconds: Math.max(0, cliSeconds - workflowSeconds),
    workflowSeconds,
  };
}

const s1 = (n: number) => `${n.toFixed(1)} s`;

/** A database as the summaries name it (`host:port/db`), with what joins two of them. */
const DATABASES = /(?::\s*)?\S+:\d+\/[^\s,)]+(?:\s*→\s*\S+:\d+\/[^\s,)]+)?/g;

/**
 * A step as the report names it: the activity and what it worked on, its summary without the
 * databases (the same source and target throughout a run) and shortened.
 */
export function stepLabel(step: { readonly step: string; readonly summary: string | undefined }): string {
  const summary = (step.summary ?? '')
    .replace(DATABASES, '')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/\s+(on|of|of the frozen)$/, '');
  if (!summary) return step.step;
  return `${step.step} (${summary.length > 90 ? `${summary.slice(0, 89)}…` : summary})`;
}

/** The critical path in three lines for the report. */
export function describeCriticalPath(p: CriticalPath, lanes: number): string[] {
  const list = (steps: readonly TailStep[]) =>
    steps
      .slice(0, 3)
      .map((t) => `${stepLabel(t)} ${s1(t.seconds)}`)
      .join(', ');
  // The chain's longest steps, in the order they ran.
  const longest = new Set([...p.chain].sort((a, b) => b.seconds - a.seconds).slice(0, 4));
  const chain = p.chain
    .filter((c) => longest.has(c))
    .map((c) => `${stepLabel(c)} ${s1(c.seconds)}`)
    .join(' → ');
  return [
    `with a lane idle: ${list(p.idleLanes) || 'nothing'}`,
    `chain of ${p.chain.length} steps (${s1(p.workflowSeconds - p.chainGapSeconds)} in steps, ${s1(p.chainGapSeconds)} between them), longest: ${chain || '—'}`,
    `lanes (${lanes}): all busy ${s1(p.allLanesSeconds)}, some idle ${s1(p.someLanesSeconds)}, none busy ${s1(p.noStepSeconds)} of the workflow's ${s1(p.workflowSeconds)}; ${s1(p.outsideWorkflowSeconds)} of CLI outside it; after the last all-busy moment ${s1(p.tailSeconds)}${p.tail.length > 0 ? ` (${list(p.tail)})` : ''}`,
  ];
}
