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
 * coordinate-wise median of all deltas (a robust consensus direction); a delta is flagged when
 * its similarity is below `minSimilarity`. Catches what validation loss cannot: random noise of
 * an honest norm barely moves the loss but is nearly orthogonal to the consensus. Float64 sums
 * in party order: deterministic.
 */
export const flagDissimilarDeltas = (
  contributions: readonly DeltaContribution[],
  options: { readonly minSimilarity?: number } = {},
): Array<{ partyId: string; similarity: number; flagged: boolean }> => {
  const { minSimilarity = 0.2 } = options;
  const ordered = orderContributions(contributions);
  const median = medianDeltas(ordered);
  return ordered.map((c) => {
    let dot = 0;
    let a = 0;
    let b = 0;
    c.delta.tensors.forEach((t, ti) => {
      const m = median.tensors[ti]!.values;
      for (let j = 0; j < t.values.length; j++) {
        dot += t.values[j]! * m[j]!;
        a += t.values[j]! * t.values[j]!;
        b += m[j]! * m[j]!;
      }
    });
    const similarity = a === 0 || b === 0 ? 0 : dot / Math.sqrt(a * b);
    return { partyId: c.partyId, similarity, flagged: similarity < minSimilarity };
  });
};
