// Pure logic of `npm run bench:peers`: interleaving order, pairing of figures, ratios, records.
import type { BenchRecord } from './result.js';

/** Which way a figure improves. */
export type Better = 'higher' | 'lower';

/** One figure of one run (ours or peer), taken from that run's figures object. */
export interface FigureSpec<F> {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  readonly better: Better;
  readonly pick: (figures: F) => number;
}

/** The schedule of one experiment: ours, peer, ours, peer ... (pairs times), or peer only. */
export const interleave = (pairs: number, oursPresent: boolean): Array<'ours' | 'peer'> => {
  if (!Number.isInteger(pairs) || pairs < 1)
    throw new Error(`pairs must be a positive integer, got ${pairs}`);
  const one: Array<'ours' | 'peer'> = oursPresent ? ['ours', 'peer'] : ['peer'];
  return Array.from({ length: pairs }, () => one).flat();
};

export const median = (values: readonly number[]): number => {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** One figure compared: medians of each side and the median of the per-pair ratios ours/peer. */
export interface Comparison {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  readonly better: Better;
  readonly peer: number;
  readonly peerRuns: readonly number[];
  readonly ours?: number;
  readonly oursRuns?: readonly number[];
  /** ours / peer, the median over pairs (pair i = the i-th ours run and the i-th peer run). */
  readonly ratio?: number;
}

/**
 * Compares paired runs figure by figure. `ours` is undefined when our side does not exist; else
 * it must have as many runs as `peer` (run i of each side ran next to each other).
 */
export const compare = <P, O>(
  specs: ReadonlyArray<{ readonly peer: FigureSpec<P>; readonly ours: (figures: O) => number }>,
  peerRuns: readonly P[],
  oursRuns: readonly O[] | undefined,
): Comparison[] => {
  if (peerRuns.length === 0) throw new Error('no peer run to compare');
  if (oursRuns !== undefined && oursRuns.length !== peerRuns.length)
    throw new Error(`unpaired runs: ${oursRuns.length} ours, ${peerRuns.length} peer`);
  return specs.map(({ peer: spec, ours }) => {
    const peerValues = peerRuns.map(spec.pick);
    const base = {
      key: spec.key,
      label: spec.label,
      unit: spec.unit,
      better: spec.better,
      peer: median(peerValues),
      peerRuns: peerValues,
    };
    if (oursRuns === undefined) return base;
    const oursValues = oursRuns.map(ours);
    const ratios = oursValues.map((v, i) => v / peerValues[i]!);
    return { ...base, ours: median(oursValues), oursRuns: oursValues, ratio: median(ratios) };
  });
};

/** How far ours is ahead of the peer, as a factor >= 1 means ours is better for this figure. */
export const advantage = (c: Comparison): number | undefined =>
  c.ratio === undefined ? undefined : c.better === 'higher' ? c.ratio : 1 / c.ratio;

const fmt = (value: number): string => {
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(3);
  return value.toLocaleString('en-US', { maximumFractionDigits: abs >= 100 ? 1 : 4 });
};

/** One line: "label: ours X / peer Y unit = ratio (higher is better)". */
export const describeComparison = (c: Comparison, peerName: string): string => {
  if (c.ours === undefined || c.ratio === undefined)
    return `${c.label}: ours: not yet measured / ${peerName} ${fmt(c.peer)} ${c.unit}`;
  return (
    `${c.label}: ours ${fmt(c.ours)} / ${peerName} ${fmt(c.peer)} ${c.unit}` +
    ` = ${c.ratio.toFixed(3)}x (${c.better} is better)`
  );
};

export interface RecordContext {
  readonly area: string;
  readonly experiment: string;
  readonly peerName: string;
  readonly peerBackend: string;
  readonly oursBackend?: string;
  readonly cores: number;
  readonly date: string;
  readonly commit: string;
  readonly note: string;
  /** What our side said of its runs (its figures' `note`), added to our records' note. */
  readonly oursNote?: string;
}

/** The records of one comparison: the peer's median, ours and the ratio when ours exists. */
export const comparisonRecords = (c: Comparison, ctx: RecordContext): BenchRecord[] => {
  const common = { area: ctx.area, cores: ctx.cores, date: ctx.date, commit: ctx.commit };
  const runs = (values: readonly number[]) => `median of ${values.length}: ${values.map(fmt).join(', ')}`;
  const records: BenchRecord[] = [
    {
      ...common,
      name: `${ctx.experiment} ${c.label} (${ctx.peerName})`,
      value: c.peer,
      unit: c.unit,
      backend: ctx.peerBackend,
      note: `${ctx.note}; ${runs(c.peerRuns)}`,
    },
  ];
  if (c.ours !== undefined && c.ratio !== undefined && c.oursRuns !== undefined) {
    records.push(
      {
        ...common,
        name: `${ctx.experiment} ${c.label} (ours)`,
        value: c.ours,
        unit: c.unit,
        ...(ctx.oursBackend === undefined ? {} : { backend: ctx.oursBackend }),
        note: `${ctx.note}; ${runs(c.oursRuns)}${ctx.oursNote === undefined ? '' : `; ours: ${ctx.oursNote}`}`,
      },
      {
        ...common,
        name: `${ctx.experiment} ${c.label} ours/${ctx.peerName}`,
        value: c.ratio,
        unit: 'ratio',
        note: `median of per-pair ratios; ${c.better} is better`,
      },
    );
  }
  return records;
};

/** bench/results.json after appending: earlier records are kept as they are. */
/**
 * What our side said of its runs, as one note: said once when every run said the same, else each
 * run's own ("run 1: ... | run 2: ..."); undefined when no run said anything.
 */
export const joinRunNotes = (notes: readonly string[]): string | undefined => {
  if (notes.length === 0) return undefined;
  if (notes.every((n) => n === notes[0])) return notes[0];
  return notes.map((n, i) => `run ${i + 1}: ${n}`).join(' | ');
};

export const appendRecords = (existing: unknown, added: readonly BenchRecord[]): BenchRecord[] => {
  if (existing === undefined) return [...added];
  if (!Array.isArray(existing)) throw new Error('bench/results.json does not hold an array of records');
  return [...(existing as BenchRecord[]), ...added];
};

/** The figures object printed by a peer script: the last line of its stdout that parses as JSON. */
export const parsePeerOutput = (stdout: string): Record<string, unknown> => {
  const lines = stdout.split('\n').map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i -= 1) {
    const line = lines[i]!;
    if (!line.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (value !== null && typeof value === 'object' && !Array.isArray(value))
        return value as Record<string, unknown>;
    } catch {
      // not the figures line
    }
  }
  throw new Error('the peer printed no JSON object of figures');
};
