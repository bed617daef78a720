import { makeDelta, type Delta } from './delta-format.js';
import { orderContributions, type DeltaContribution } from './contributions.js';

/**
 * Weighted FedAvg by sample count: out = sum_i n_i x_i / sum_i n_i per coordinate, summed in
 * float64 in party-id order, rounded once to float32. Only tensors whose name passes `include`
 * are averaged (all by default); the others must be identical and are copied.
 */
export const fedAvgDeltas = (
  contributions: readonly DeltaContribution[],
  include: (name: string) => boolean = () => true,
): Delta => {
  const ordered = orderContributions(contributions);
  let total = 0;
  for (const c of ordered) total += c.sampleCount;
  const first = ordered[0]!.delta;
  return makeDelta(
    first.tensors.map((t, ti) => {
      // copied, but never with a sender's q8 tag: an aggregate is f32
      if (!include(t.name)) return { name: t.name, shape: [...t.shape], values: t.values };
      const out = new Float32Array(t.values.length);
      for (let j = 0; j < out.length; j++) {
        let s = ordered[0]!.sampleCount * t.values[j]!; // not 0 + ...: keeps -0 when every value is -0
        for (let i = 1; i < ordered.length; i++)
          s += ordered[i]!.sampleCount * ordered[i]!.delta.tensors[ti]!.values[j]!;
        out[j] = s / total;
      }
      return { name: t.name, shape: [...t.shape], values: out };
    }),
  );
};
