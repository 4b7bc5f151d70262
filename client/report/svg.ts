/** Escapes text for HTML and SVG (element content and quoted attributes). */
export function esc(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** One point of a chart: x in epoch milliseconds, y in the chart's unit, and its tooltip. */
export interface ChartPoint {
  x: number;
  y: number;
  title: string;
}

/** A moment named on a chart (a decision, a stage's start). */
export interface ChartMarker {
  x: number;
  label: string;
}

/** What a line chart draws. */
export interface LineChartOptions {
  id: string;
  title: string;
  points: readonly ChartPoint[];
  /** Draw the line as steps (a rate that holds until the next point). */
  step?: boolean;
  formatY: (y: number) => string;
  markers?: readonly ChartMarker[];
  /** A shaded span (the outage). */
  band?: { from: number; to: number; label: string };
}

const W = 760;
const H = 240;
const PAD = { left: 78, right: 18, top: 16, bottom: 34 };
const plotW = W - PAD.left - PAD.right;
const plotH = H - PAD.top - PAD.bottom;
const fmt = (n: number) => n.toFixed(1);

/** 1, 2 or 5 times a power of ten, at least `max`: the top of a y axis. */
export function niceCeiling(max: number): number {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * power).find((v) => v >= max) ?? 10 * power;
}

/** HH:MM:SS (UTC) of an epoch-ms time, with tenths when the axis spans less than 10 s. */
export function clock(x: number, spanMs = Infinity): string {
  return new Date(x).toISOString().slice(11, spanMs < 10_000 ? 21 : 19);
}

/** The x range of a chart: its points, markers and band, at least a second wide. */
function xRange(o: { points: readonly { x: number }[]; markers?: readonly ChartMarker[] }) {
  const xs = [...o.points.map((p) => p.x), ...(o.markers ?? []).map((m) => m.x)];
  let lo = Math.min(...xs);
  let hi = Math.max(...xs);
  if (hi - lo < 1000) {
    lo -= 500;
    hi += 500;
  }
  return { lo, hi, sx: (x: number) => PAD.left + ((x - lo) / (hi - lo)) * plotW };
}

/** Five time ticks under a plot whose drawing is `height` high; the outer ones kept inside it. */
function xAxis(lo: number, hi: number, sx: (x: number) => number, height: number): string {
  const anchors = ['start', 'middle', 'middle', 'middle', 'end'];
  return anchors
    .map((anchor, i) => {
      const t = lo + ((hi - lo) * i) / 4;
      return `<text class="tick" x="${fmt(sx(t))}" y="${height - 12}" text-anchor="${anchor}">${clock(t, hi - lo)}</text>`;
    })
    .join('');
}

/** Vertical dashed lines across a plot `height` high, with their labels. */
function markerLines(markers: readonly ChartMarker[], sx: (x: number) => number, height: number): string {
  return markers
    .map((m, i) => {
      const x = sx(m.x);
      // Near the right edge the label goes to the left of its line, so that it stays in the picture.
      const left = x > PAD.left + plotW * 0.65;
      return (
        `<g class="marker"><line x1="${fmt(x)}" x2="${fmt(x)}" y1="${PAD.top}" y2="${PAD.top + height}"/>` +
        `<text x="${fmt(left ? x - 3 : x + 3)}" y="${PAD.top + 11 + (i % 3) * 12}" text-anchor="${left ? 'end' : 'start'}">${esc(m.label)}</text><title>${esc(m.label)}</title></g>`
      );
    })
    .join('');
}

/** A shaded span across a plot `height` high. */
function bandRect(band: LineChartOptions['band'], sx: (x: number) => number, height: number): string {
  if (!band) return '';
  const x = sx(band.from);
  const w = Math.max(2, sx(band.to) - x);
  return `<rect class="band" x="${fmt(x)}" y="${PAD.top}" width="${fmt(w)}" height="${height}"><title>${esc(band.label)}</title></rect>`;
}

/**
 * A line chart as inline SVG: time on x, the value from zero on y, a circle per point with its
 * figures as a tooltip. No script, no font or file from anywhere: the page stays self-contained.
 */
export function lineChart(o: LineChartOptions): string {
  if (o.points.length === 0) return '';
  const { lo, hi, sx } = xRange(o);
  const top = niceCeiling(Math.max(...o.points.map((p) => p.y)));
  const sy = (y: number) => PAD.top + plotH - (y / top) * plotH;
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const y = sy(top * f);
      return `<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${fmt(y)}" y2="${fmt(y)}"/><text class="tick" x="${PAD.left - 6}" y="${fmt(y + 4)}" text-anchor="end">${esc(o.formatY(top * f))}</text>`;
    })
    .join('');
  const path = o.points
    .map((p, i) => {
      const prev = o.points[i - 1];
      const move = `${fmt(sx(p.x))},${fmt(sy(p.y))}`;
      if (!prev) return `M${move}`;
      return o.step ? `L${fmt(sx(p.x))},${fmt(sy(prev.y))} L${move}` : `L${move}`;
    })
    .join(' ');
  const dots = o.points
    .map(
      (p) =>
        `<circle class="point" cx="${fmt(sx(p.x))}" cy="${fmt(sy(p.y))}" r="3.5"><title>${esc(p.title)}</title></circle>`,
    )
    .join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="${esc(o.id)}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(o.title)}" data-points="${o.points.length}">`,
    `<title>${esc(o.title)}</title>`,
    grid,
    bandRect(o.band, sx, plotH),
    `<path class="line" d="${path}"/>`,
    dots,
    markerLines(o.markers ?? [], sx, plotH),
    xAxis(lo, hi, sx, H),
    '</svg>',
  ].join('');
}

/** One row of the timeline: a stage's span. */
export interface TimelineBar {
  label: string;
  from: number;
  to: number;
  title: string;
}

/** The stages on a timeline (a bar per stage), with markers (decisions) and a band (the outage). */
export function timelineChart(o: {
  id: string;
  title: string;
  bars: readonly TimelineBar[];
  markers?: readonly ChartMarker[];
  band?: LineChartOptions['band'];
}): string {
  if (o.bars.length === 0) return '';
  const rowH = 22;
  const height = PAD.top + o.bars.length * rowH + PAD.bottom;
  const { lo, hi, sx } = xRange({
    points: o.bars.flatMap((b) => [{ x: b.from }, { x: b.to }]),
    ...(o.markers ? { markers: o.markers } : {}),
  });
  const rows = o.bars
    .map((b, i) => {
      const y = PAD.top + i * rowH;
      const x = sx(b.from);
      const w = Math.max(2, sx(b.to) - x);
      return (
        `<g class="stage"><text class="label" x="${PAD.left - 6}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>` +
        `<rect class="bar bar-${i % 8}" x="${fmt(x)}" y="${y + 3}" width="${fmt(w)}" height="${rowH - 6}" rx="3"><title>${esc(b.title)}</title></rect></g>`
      );
    })
    .join('');
  const plot = { top: PAD.top, height: o.bars.length * rowH };
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart timeline" id="${esc(o.id)}" viewBox="0 0 ${W} ${height}" role="img" aria-label="${esc(o.title)}" data-points="${o.bars.length}">`,
    `<title>${esc(o.title)}</title>`,
    bandRect(o.band, sx, plot.height),
    rows,
    markerLines(o.markers ?? [], sx, plot.height),
    xAxis(lo, hi, sx, height),
    '</svg>',
  ].join('');
}
