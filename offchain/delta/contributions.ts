import { DmlError } from '../errors.js';
import { compareDeltaNames, type Delta } from './delta-format.js';

/** One party's delta for a round, with the sample count it was trained on. */
export interface DeltaContribution {
  readonly partyId: string;
  readonly sampleCount: number;
  readonly delta: Delta;
}

/**
 * The fixed order of aggregation: by party id (byte-wise), never by arrival. Rejects an empty
 * round, duplicate parties, bad sample counts and deltas whose tensors differ in name or shape.
 */
export const orderContributions = (contributions: readonly DeltaContribution[]): DeltaContribution[] => {
  if (contributions.length === 0) throw new DmlError('AGGREGATE_EMPTY', 'no delta to aggregate');
  const ordered = [...contributions].sort((a, b) => compareDeltaNames(a.partyId, b.partyId));
  for (let i = 0; i < ordered.length; i++) {
    const c = ordered[i]!;
    if (i > 0 && ordered[i - 1]!.partyId === c.partyId)
      throw new DmlError('AGGREGATE_DUPLICATE_PARTY', `party ${c.partyId} has two deltas in one round`);
    if (!Number.isSafeInteger(c.sampleCount) || c.sampleCount < 1)
      throw new DmlError('AGGREGATE_SAMPLE_COUNT', `party ${c.partyId} declares ${c.sampleCount} samples`);
  }
  const ref = ordered[0]!.delta.tensors;
  for (const c of ordered.slice(1)) {
    const ts = c.delta.tensors;
    const same =
      ts.length === ref.length &&
      ts.every(
        (t, i) =>
          t.name === ref[i]!.name &&
          t.shape.length === ref[i]!.shape.length &&
          t.shape.every((d, k) => d === ref[i]!.shape[k]),
      );
    if (!same)
      throw new DmlError(
        'AGGREGATE_SHAPE_MISMATCH',
        `party ${c.partyId}'s delta does not have the tensors and shapes of party ${ordered[0]!.partyId}'s`,
      );
  }
  return ordered;
};
