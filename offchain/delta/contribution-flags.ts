import { orderContributions, type DeltaContribution } from './contributions.js';
import { medianDeltas } from './median.js';

/**
 * Which deltas are far worse than the others, from one scorer's validation losses: a delta is
 * flagged when its loss exceeds the median by more than `threshold` robust standard deviations
 * (1.4826 x median absolute deviation) and by more than `minGap` in relative terms (so that
 * nearly identical honest losses are never flagged for tiny differences). Pure and
 * deterministic: every party and the auditor flag the same parties from the same scores.
 */
export const flagOutlierScores = (
  losses: ReadonlyArray<{ readonly partyId: string; readonly loss: number }>,
  options: { readonly threshold?: number; readonly minGap?: number } = {},
): string[] => {
  const { threshold = 3.5, minGap = 0.1 } = options;
  if (losses.length < 3) return [];
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const values = losses.map((l) => (Number.isFinite(l.loss) ? l.loss : Number.MAX_VALUE));
  const med = median(values);
  const mad = 1.4826 * median(values.map((v) => Math.abs(v - med)));
  return losses
    .filter((_, i) => {
      const v = values[i]!;
      return v > med * (1 + minGap) && (mad === 0 || (v - med) / mad > threshold);
    })
    .map((l) => l.partyId);
};

/**
 * Which deltas point away from the cohort: the cosine similarity of each delta with the
 * coordinate-wise median of the other deltas not yet flagged (a robust consensus direction). A delta
 * is flagged when its similarity is below max(`minSimilarity`, `relative` x the median
 * similarity of the unflagged ones); the consensus is recomputed without the flagged deltas,
 * up to three passes (a bad minority pulls the first median towards itself). Catches what
 * validation loss cannot: random noise of an honest norm barely moves the loss but is nearly
 * orthogonal to the consensus. Float64 sums in party order: deterministic. Each result carries the
 * delta's size in floats (`dimensions`), for `flagRandomDirectionParties` across rounds: late in
 * training honest similarities can fall below any fixed threshold (see there).
 */
export const flagDissimilarDeltas = (
  contributions: readonly DeltaContribution[],
  options: { readonly minSimilarity?: number; readonly relative?: number } = {},
): Array<{ partyId: string; similarity: number; dimensions: number; flagged: boolean }> => {
  const { minSimilarity = 0.1, relative = 0.5 } = options;
  const ordered = orderContributions(contributions);
  let flagged = new Set<string>();
  let similarities: number[] = [];
  for (let pass = 0; pass < 3; pass++) {
    // leave one out: a delta is compared with the median of the other unflagged deltas, so that
    // it cannot pull the consensus towards itself
    similarities = ordered.map((c) => {
      const others = ordered.filter((o) => o.partyId !== c.partyId && !flagged.has(o.partyId));
      return cosine(c, medianDeltas(others.length > 0 ? others : ordered).tensors);
    });
    const keptSims = ordered
      .map((c, i) => (flagged.has(c.partyId) ? NaN : similarities[i]!))
      .filter((x) => !Number.isNaN(x));
    const threshold = Math.max(minSimilarity, relative * medianOf(keptSims));
    const next = new Set(ordered.filter((_, i) => similarities[i]! < threshold).map((c) => c.partyId));
    if (next.size * 2 >= ordered.length) break; // never flag half or more: keep the previous answer
    const same = next.size === flagged.size && [...next].every((p) => flagged.has(p));
    flagged = next;
    if (same) break;
  }
  const dimensions = ordered[0]!.delta.tensors.reduce((n, t) => n + t.values.length, 0);
  return ordered.map((c, i) => ({
    partyId: c.partyId,
    similarity: similarities[i]!,
    dimensions,
    flagged: flagged.has(c.partyId),
  }));
};

const medianOf = (xs: readonly number[]): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const cosine = (c: DeltaContribution, median: readonly { values: Float32Array }[]): number => {
  let dot = 0;
  let a = 0;
  let b = 0;
  c.delta.tensors.forEach((t, ti) => {
    const m = median[ti]!.values;
    for (let j = 0; j < t.values.length; j++) {
      dot += t.values[j]! * m[j]!;
      a += t.values[j]! * t.values[j]!;
      b += m[j]! * m[j]!;
    }
  });
  return a === 0 || b === 0 ? 0 : dot / Math.sqrt(a * b);
};
