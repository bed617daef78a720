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
