import { DmlError } from '../errors.js';
import type { Delta } from './delta-format.js';
import { orderContributions, type DeltaContribution } from './contributions.js';
import { fedAvgDeltas } from './fedavg.js';
import { isLoraA } from './lora-names.js';

/**
 * FFA-LoRA (Sun et al. 2024): every A is frozen and shared (derived from the cohort's seed), so
 * only B moves. Each party's A tensors must be bit-identical to the others'; B and any other
 * tensor are FedAvg-ed by sample count. Exact: (sum w_i B_i) A = sum w_i (B_i A).
 */
export const ffaLoraDeltas = (contributions: readonly DeltaContribution[]): Delta => {
  const ordered = orderContributions(contributions);
  const ref = ordered[0]!;
  for (const c of ordered.slice(1))
    c.delta.tensors.forEach((t, ti) => {
      if (!isLoraA(t.name)) return;
      const a = ref.delta.tensors[ti]!.values;
      for (let j = 0; j < a.length; j++)
        if (!Object.is(a[j], t.values[j]))
          throw new DmlError(
            'AGGREGATE_FFA_A_DIFFERS',
            `party ${c.partyId}'s frozen ${t.name} differs from party ${ref.partyId}'s`,
            { hint: 'under FFA-LoRA every A is fixed by the cohort seed and must not be trained' },
          );
    });
  return fedAvgDeltas(ordered, (name) => !isLoraA(name));
};
