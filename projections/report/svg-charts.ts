/**
 * Inline SVG charts for the audit report: plain strings, no script, no external resource. Every
 * data mark carries `data-*` attributes with the value it draws, and a `<title>` (the tooltip),
 * so that a reader (or a test) can check a chart against the report's JSON.
 */

/** Escapes text for HTML and SVG content and attribute values. */
export const escapeXml = (text: string): string =>
  text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

/** A colour-blind-friendly palette (Okabe-Ito, then Tol), cycled for more series. */
export const SERIES_COLOURS = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#CC79A7',
  '#D55E00',
  '#56B4E9',
  '#332288',
  '#882255',
  '#117733',
  '#999933',
];
export const seriesColour = (i: number): string => SERIES_COLOURS[i % SERIES_COLOURS.length]!;

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
/** A short label for a long hex id. */
export const shortId = (hex: string): string =>
  hex.length > 14 ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : hex;

/** About five round numbers covering [min, max]. */
const ticks = (min: number, max: number): number[] => {
  if (min === max) return [min];
  const raw = (max - min) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step)
    out.push(Number(t.toPrecision(12)));
  return out;
};

const tickLabel = (x: number) =>
  Math.abs(x) >= 1000 || x === 0 ? String(x) : String(Number(x.toPrecision(4)));

export interface LineSeries {
  readonly name: string;
  /** One value per x label; undefined where the series has no point. */
  readonly values: ReadonlyArray<number | undefined>;
}

export interface LineChartSpec {
  /** `data-chart` of the SVG, e.g. `loss`. */
  readonly id: string;
  readonly title: string;
  readonly yLabel: string;
  readonly xLabels: readonly string[];
  readonly series: readonly LineSeries[];
  /** Fixed y range (e.g. [0, 1] for accuracy); else the data's range. */
  readonly yDomain?: readonly [number, number];
  /** Dashed horizontal lines (e.g. a threshold), each labelled; the y range is widened to show them. */
  readonly referenceLines?: ReadonlyArray<{ readonly value: number; readonly label: string }>;
}

const W = 720;
const H = 300;
const M = { left: 64, right: 16, top: 36, bottom: 48 };

/** A line chart: one polyline and one circle per point for each series, with axes and legend. */
export const lineChart = (spec: LineChartSpec): string => {
  const values = spec.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  const title = `<text x="${W / 2}" y="20" text-anchor="middle" class="chart-title">${escapeXml(spec.title)}</text>`;
  if (values.length === 0)
    return `<svg data-chart="${escapeXml(spec.id)}" data-points="0" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} 80" width="${W}" height="80" role="img">${title}<text x="${W / 2}" y="56" text-anchor="middle">no data</text></svg>`;
  const marks = (spec.referenceLines ?? []).map((r) => r.value);
  let [lo, hi] = spec.yDomain ?? [Math.min(...values, ...marks), Math.max(...values, ...marks)];
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  const perRow = 5;
  const legendRows = Math.ceil(spec.series.length / perRow);
  const top = M.top + legendRows * 16 + 8;
  const height = H + legendRows * 16 + 8;
  const plotW = W - M.left - M.right;
  const plotH = height - top - M.bottom;
  const n = spec.xLabels.length;
  const x = (i: number) => M.left + (n === 1 ? plotW / 2 : (i * plotW) / (n - 1));
  const y = (v: number) => top + plotH - ((v - lo) / (hi - lo)) * plotH;
  const parts: string[] = [title];
  spec.series.forEach((s, k) => {
    const lx = M.left + (k % perRow) * 130;
    const ly = M.top + Math.floor(k / perRow) * 16 + 4;
    parts.push(
      `<rect x="${lx}" y="${ly - 8}" width="10" height="10" fill="${seriesColour(k)}"/>`,
      `<text class="tick" x="${lx + 14}" y="${ly + 1}">${escapeXml(s.name)}</text>`,
    );
  });
  for (const t of ticks(lo, hi))
    parts.push(
      `<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${fmt(y(t))}" y2="${fmt(y(t))}"/>`,
      `<text class="tick" x="${M.left - 6}" y="${fmt(y(t) + 4)}" text-anchor="end">${tickLabel(t)}</text>`,
    );
  const every = Math.max(1, Math.ceil(n / 12));
  spec.xLabels.forEach((label, i) => {
    if (i % every === 0 || i === n - 1)
      parts.push(
        `<text class="tick" x="${fmt(x(i))}" y="${height - M.bottom + 16}" text-anchor="middle">${escapeXml(label)}</text>`,
      );
  });
  parts.push(
    `<line class="axis" x1="${M.left}" x2="${M.left}" y1="${top}" y2="${height - M.bottom}"/>`,
    `<line class="axis" x1="${M.left}" x2="${W - M.right}" y1="${height - M.bottom}" y2="${height - M.bottom}"/>`,
    `<text class="axis-label" x="16" y="${top + plotH / 2}" transform="rotate(-90 16 ${top + plotH / 2})" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
    `<text class="axis-label" x="${M.left + plotW / 2}" y="${height - 8}" text-anchor="middle">round</text>`,
  );
  for (const r of spec.referenceLines ?? [])
    parts.push(
      `<line class="reference" data-reference="${r.value}" stroke="#b00020" stroke-dasharray="6 4" x1="${M.left}" x2="${W - M.right}" y1="${fmt(y(r.value))}" y2="${fmt(y(r.value))}"/>`,
      `<text class="tick" fill="#b00020" x="${W - M.right - 4}" y="${fmt(y(r.value) - 4)}" text-anchor="end">${escapeXml(r.label)}</text>`,
    );
  spec.series.forEach((s, k) => {
    const colour = seriesColour(k);
    const points = s.values
      .map((v, i) => (v === undefined ? undefined : `${fmt(x(i))},${fmt(y(v))}`))
      .filter((p): p is string => p !== undefined);
    if (points.length > 1)
      parts.push(
        `<polyline data-series="${escapeXml(s.name)}" fill="none" stroke="${colour}" stroke-width="2" points="${points.join(' ')}"/>`,
      );
    s.values.forEach((v, i) => {
      if (v === undefined) return;
      parts.push(
        `<circle class="point" data-series="${escapeXml(s.name)}" data-x="${escapeXml(spec.xLabels[i]!)}" data-value="${v}" cx="${fmt(x(i))}" cy="${fmt(y(v))}" r="3.5" fill="${colour}"><title>${escapeXml(`${s.name}, ${spec.xLabels[i]}: ${spec.yLabel} ${v}`)}</title></circle>`,
      );
    });
  });
  return `<svg data-chart="${escapeXml(spec.id)}" data-points="${values.length}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="${escapeXml(spec.title)}">${parts.join('')}</svg>`;
};

export interface StackedBarSpec {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  /** The stacked fields, in drawing order, with their legend names. */
  readonly fields: ReadonlyArray<{ key: string; name: string }>;
  readonly rows: ReadonlyArray<{ label: string; title: string; values: Readonly<Record<string, number>> }>;
}

/** Horizontal stacked bars: one row per item, one segment per non-zero field. */
export const stackedBarChart = (spec: StackedBarSpec): string => {
  const rowH = 26;
  const legendH = 24;
  const left = 120;
  const h = M.top + legendH + spec.rows.length * rowH + 36;
  const plotW = W - left - M.right;
  const total = Math.max(
    0,
    ...spec.rows.map((r) => spec.fields.reduce((s, f) => s + (r.values[f.key] ?? 0), 0)),
  );
  const scale = (v: number) => (total > 0 ? (v / total) * plotW : 0);
  const parts: string[] = [
    `<text x="${W / 2}" y="20" text-anchor="middle" class="chart-title">${escapeXml(spec.title)}</text>`,
  ];
  const step = Math.min(110, (W - M.left - M.right) / spec.fields.length);
  spec.fields.forEach((f, k) => {
    const lx = M.left + k * step;
    parts.push(
      `<rect x="${lx}" y="${M.top - 6}" width="10" height="10" fill="${seriesColour(k)}"/>`,
      `<text class="tick" x="${lx + 14}" y="${M.top + 3}">${escapeXml(f.name)}</text>`,
    );
  });
  let marks = 0;
  spec.rows.forEach((row, r) => {
    const y0 = M.top + legendH + r * rowH;
    parts.push(
      `<text class="tick" x="${left - 6}" y="${y0 + 15}" text-anchor="end"><title>${escapeXml(row.title)}</title>${escapeXml(row.label)}</text>`,
    );
    let at = left;
    spec.fields.forEach((f, k) => {
      const v = row.values[f.key] ?? 0;
      if (v <= 0) return;
      const w = scale(v);
      marks++;
      parts.push(
        `<rect class="bar" data-row="${escapeXml(row.title)}" data-field="${escapeXml(f.key)}" data-value="${v}" x="${fmt(at)}" y="${y0 + 3}" width="${fmt(Math.max(w, 1))}" height="${rowH - 6}" fill="${seriesColour(k)}"><title>${escapeXml(`${row.title}: ${f.name} ${v} ${spec.unit}`)}</title></rect>`,
      );
      at += w;
    });
  });
  const axisY = M.top + legendH + spec.rows.length * rowH + 4;
  parts.push(`<line class="axis" x1="${left}" x2="${W - M.right}" y1="${axisY}" y2="${axisY}"/>`);
  for (const t of ticks(0, total || 1))
    parts.push(
      `<text class="tick" x="${fmt(left + scale(t))}" y="${axisY + 16}" text-anchor="middle">${tickLabel(t)}</text>`,
    );
  parts.push(
    `<text class="axis-label" x="${W - M.right}" y="${axisY + 30}" text-anchor="end">${escapeXml(spec.unit)}</text>`,
  );
  return `<svg data-chart="${escapeXml(spec.id)}" data-points="${marks}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="${escapeXml(spec.title)}">${parts.join('')}</svg>`;
};

export interface TimelineSpec {
  readonly id: string;
  readonly title: string;
  /** The phases, in legend order. */
  readonly phases: readonly string[];
  readonly rows: ReadonlyArray<{
    label: string;
    title: string;
    segments: ReadonlyArray<{ phase: string; from: string; to: string }>;
  }>;
}

/** A Gantt-like timeline: per row, one bar per phase between two ISO 8601 times. */
export const timelineChart = (spec: TimelineSpec): string => {
  const rowH = 26;
  const left = 120;
  const legendH = 24;
  const times = spec.rows.flatMap((r) => r.segments.flatMap((s) => [Date.parse(s.from), Date.parse(s.to)]));
  const h = M.top + legendH + spec.rows.length * rowH + 40;
  const title = `<text x="${W / 2}" y="20" text-anchor="middle" class="chart-title">${escapeXml(spec.title)}</text>`;
  if (times.length === 0)
    return `<svg data-chart="${escapeXml(spec.id)}" data-points="0" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} 80" width="${W}" height="80" role="img">${title}<text x="${W / 2}" y="56" text-anchor="middle">no head in the log</text></svg>`;
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const plotW = W - left - M.right;
  const x = (t: number) => left + (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * plotW);
  const parts = [title];
  spec.phases.forEach((p, k) => {
    const lx = left + k * 120;
    parts.push(
      `<rect x="${lx}" y="${M.top - 6}" width="10" height="10" fill="${seriesColour(k)}"/>`,
      `<text class="tick" x="${lx + 14}" y="${M.top + 3}">${escapeXml(p)}</text>`,
    );
  });
  let marks = 0;
  spec.rows.forEach((row, r) => {
    const y0 = M.top + legendH + r * rowH;
    parts.push(
      `<text class="tick" x="${left - 6}" y="${y0 + 15}" text-anchor="end"><title>${escapeXml(row.title)}</title>${escapeXml(row.label)}</text>`,
    );
    for (const s of row.segments) {
      const a = x(Date.parse(s.from));
      const b = x(Date.parse(s.to));
      marks++;
      parts.push(
        `<rect class="phase" data-row="${escapeXml(row.title)}" data-phase="${escapeXml(s.phase)}" data-from="${escapeXml(s.from)}" data-to="${escapeXml(s.to)}" x="${fmt(a)}" y="${y0 + 3}" width="${fmt(Math.max(b - a, 2))}" height="${rowH - 6}" fill="${seriesColour(Math.max(0, spec.phases.indexOf(s.phase)))}"><title>${escapeXml(`${row.title}: ${s.phase} ${s.from} → ${s.to}`)}</title></rect>`,
      );
    }
  });
  const axisY = M.top + legendH + spec.rows.length * rowH + 4;
  parts.push(
    `<line class="axis" x1="${left}" x2="${W - M.right}" y1="${axisY}" y2="${axisY}"/>`,
    `<text class="tick" x="${left}" y="${axisY + 16}" text-anchor="start">${escapeXml(new Date(t0).toISOString())}</text>`,
    `<text class="tick" x="${W - M.right}" y="${axisY + 16}" text-anchor="end">${escapeXml(new Date(t1).toISOString())}</text>`,
  );
  return `<svg data-chart="${escapeXml(spec.id)}" data-points="${marks}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="${escapeXml(spec.title)}">${parts.join('')}</svg>`;
};
