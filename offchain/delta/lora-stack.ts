import { DmlError } from '../errors.js';
import { makeDelta, type Delta, type DeltaTensor } from './delta-format.js';
import { orderContributions, type DeltaContribution } from './contributions.js';
import { fedAvgDeltas } from './fedavg.js';
import { isLoraA, isLoraB, LORA_A_SUFFIX, LORA_B_SUFFIX } from './lora-names.js';

/**
 * A product-based exact rule (stacking, as in FLoRA, Wang et al. 2024): for each layer the
 * aggregate adapter is A = [A_1; ...; A_k] (rank k r) and B = [w_1 B_1, ..., w_k B_k], so that
 * B A = sum_i w_i B_i A_i exactly: the weighted mean of the products, not the product of the means.
 * Parties are stacked in party-id order. Tensors that are not LoRA factors are FedAvg-ed.
 */
export const loraStackDeltas = (contributions: readonly DeltaContribution[]): Delta => {
  const ordered = orderContributions(contributions);
  let total = 0;
  for (const c of ordered) total += c.sampleCount;
  const averaged = fedAvgDeltas(ordered, (name) => !isLoraA(name) && !isLoraB(name));
  const out: DeltaTensor[] = [];
  averaged.tensors.forEach((t, ti) => {
    if (isLoraA(t.name)) {
      const [r, cols] = t.shape as [number, number];
      if (t.shape.length !== 2) throw new DmlError('AGGREGATE_LORA_SHAPE', `${t.name} is not a matrix`);
      const values = new Float32Array(ordered.length * r * cols);
      ordered.forEach((c, i) => values.set(c.delta.tensors[ti]!.values, i * r * cols));
      out.push({ name: t.name, shape: [ordered.length * r, cols], values });
    } else if (isLoraB(t.name)) {
      const [rows, r] = t.shape as [number, number];
      if (t.shape.length !== 2) throw new DmlError('AGGREGATE_LORA_SHAPE', `${t.name} is not a matrix`);
      const k = ordered.length;
      const values = new Float32Array(rows * k * r);
      ordered.forEach((c, i) => {
        const b = c.delta.tensors[ti]!.values;
        const w = c.sampleCount / total;
        for (let row = 0; row < rows; row++)
          for (let q = 0; q < r; q++) values[row * k * r + i * r + q] = w * b[row * r + q]!;
      });
      out.push({ name: t.name, shape: [rows, k * r], values });
    } else out.push(t);
  });
  for (const t of out) {
    const pair = isLoraA(t.name)
      ? t.name.slice(0, -LORA_A_SUFFIX.length) + LORA_B_SUFFIX
      : isLoraB(t.name)
        ? t.name.slice(0, -LORA_B_SUFFIX.length) + LORA_A_SUFFIX
        : undefined;
    if (pair !== undefined && !out.some((x) => x.name === pair))
      throw new DmlError('AGGREGATE_LORA_UNPAIRED', `${t.name} has no matching ${pair}`);
  }
  return makeDelta(out);
};

/** The dense product (B A) of one layer's adapter, [out, in], in float64 then rounded to float32. */
export const loraProduct = (a: DeltaTensor, b: DeltaTensor): Float32Array => {
  const [r, cols] = a.shape as [number, number];
  const [rows, rb] = b.shape as [number, number];
  if (r !== rb)
    throw new DmlError('AGGREGATE_LORA_SHAPE', `rank of ${a.name} (${r}) != rank of ${b.name} (${rb})`);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let q = 0; q < r; q++) s += b.values[i * r + q]! * a.values[q * cols + j]!;
      out[i * cols + j] = s;
    }
  return out;
};
