import { makeDelta, type Delta } from './delta-format.js';
import { orderContributions, type DeltaContribution } from './contributions.js';

/** Coordinate-wise sorted copies of the parties' values, reusing one buffer. */
export const mapSortedCoordinates = (
  contributions: readonly DeltaContribution[],
  reduce: (sorted: Float64Array) => number,
): Delta => {
  const ordered = orderContributions(contributions);
  const column = new Float64Array(ordered.length);
  return makeDelta(
    ordered[0]!.delta.tensors.map((t, ti) => {
      const out = new Float32Array(t.values.length);
      for (let j = 0; j < out.length; j++) {
        ordered.forEach((c, i) => (column[i] = c.delta.tensors[ti]!.values[j]!));
        column.sort();
        out[j] = reduce(column);
      }
      return { name: t.name, shape: [...t.shape], values: out };
    }),
  );
};

/** Coordinate-wise median (unweighted); with an even count, the mean of the two middle values. */
export const medianDeltas = (contributions: readonly DeltaContribution[]): Delta =>
  mapSortedCoordinates(contributions, (s) => {
    const m = s.length >> 1;
    return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  });
