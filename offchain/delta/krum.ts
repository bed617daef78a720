import { DmlError } from '../errors.js';
import { orderContributions, type DeltaContribution } from './contributions.js';

export interface KrumSelection {
  /** The party ids selected, best score first. */
  readonly selected: readonly string[];
  /** Each party's Krum score (sum of squared distances to its n - f - 2 nearest others). */
  readonly scores: ReadonlyMap<string, number>;
}

/**
 * Krum (Blanchard et al. 2017) tolerating `byzantine` = f bad deltas among n (needs n > 2f + 2):
 * score each delta by the sum of squared Euclidean distances to its n - f - 2 nearest others and
 * select the `m` lowest (m = 1 is Krum, m > 1 Multi-Krum). Ties go to the smaller party id.
 */
export const krumSelect = (
  contributions: readonly DeltaContribution[],
  byzantine: number,
  m = 1,
): KrumSelection => {
  const ordered = orderContributions(contributions);
  const n = ordered.length;
  if (!Number.isInteger(byzantine) || byzantine < 0 || n <= 2 * byzantine + 2)
    throw new DmlError(
      'AGGREGATE_KRUM',
      `Krum with f = ${byzantine} needs more than ${2 * byzantine + 2} deltas, got ${n}`,
    );
  if (!Number.isInteger(m) || m < 1 || m > n)
    throw new DmlError('AGGREGATE_KRUM', `cannot select ${m} of ${n}`);
  const dist: number[][] = ordered.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++)
    for (let k = i + 1; k < n; k++) {
      let s = 0;
      const a = ordered[i]!.delta.tensors;
      const b = ordered[k]!.delta.tensors;
      for (let t = 0; t < a.length; t++) {
        const x = a[t]!.values;
        const y = b[t]!.values;
        for (let j = 0; j < x.length; j++) {
          const d = x[j]! - y[j]!;
          s += d * d;
        }
      }
      dist[i]![k] = s;
      dist[k]![i] = s;
    }
  const neighbours = n - byzantine - 2;
  const scores = new Map<string, number>();
  const scored = ordered.map((c, i) => {
    const others = dist[i]!.filter((_, k) => k !== i).sort((p, q) => p - q);
    let s = 0;
    for (let q = 0; q < neighbours; q++) s += others[q]!;
    scores.set(c.partyId, s);
    return { index: i, score: s };
  });
  scored.sort((p, q) => p.score - q.score || p.index - q.index);
  return { selected: scored.slice(0, m).map((x) => ordered[x.index]!.partyId), scores };
};
