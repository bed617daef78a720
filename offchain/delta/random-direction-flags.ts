import { DmlError } from '../errors.js';
import { compareDeltaNames } from './delta-format.js';

/** One party's delta in one round: its cosine similarity with the consensus, in `dimensions` floats. */
export interface RoundSimilarity {
  readonly partyId: string;
  readonly similarity: number;
  readonly dimensions: number;
}

/** A party's evidence over the rounds it took part in (see `flagRandomDirectionParties`). */
export interface CombinedSimilarityScore {
  readonly partyId: string;
  readonly rounds: number;
  /** Stouffer's combination of the rounds' scores similarity x sqrt(dimensions). */
  readonly z: number;
  readonly flagged: boolean;
}

/**
 * Which parties' deltas, over the rounds, are no more aligned with the cohort's consensus than a
 * random direction would be, or point away from it. The cosine of a direction drawn at random in
 * D dimensions with any fixed vector has mean 0 and standard deviation 1/sqrt(D) (close to
 * normal for D in the hundreds or more), so z = similarity x sqrt(D) is a standard score under
 * "this delta carries nothing of the consensus"; the rounds' scores are combined by Stouffer's
 * method, the sum over rounds divided by sqrt(rounds), again standard normal under that
 * hypothesis. A party is flagged when its combined score is below `zCritical` (default 3: a party
 * that sends random noise escapes with probability 0.13%; the sign-flipped delta scores far below
 * 0, a zero delta scores 0).
 *
 * Why not a fixed similarity threshold (`flagDissimilarDeltas`' `minSimilarity`): honest deltas
 * of many local steps on small shards are themselves nearly orthogonal to one another late in
 * training. On the full-size MNIST robustness run (rank-128 adapters, 23,808 floats per delta,
 * 10 parties) the honest similarities fell from 0.3-0.5 in round 1 to 0.01-0.1 by round 10,
 * below any fixed threshold that also catches noise (0.00 +- 0.01), while each honest round still
 * scored z = 2-9 and the noise z = -1.7..1.8, as the model predicts. Evidence that is thin in
 * one round is decisive over ten. Pure and deterministic; parties in byte-wise id order.
 */
export const flagRandomDirectionParties = (
  rounds: ReadonlyArray<ReadonlyArray<RoundSimilarity>>,
  options: { readonly zCritical?: number } = {},
): CombinedSimilarityScore[] => {
  const { zCritical = 3 } = options;
  if (!Number.isFinite(zCritical))
    throw new DmlError('FLAG_BAD_THRESHOLD', `the critical score ${zCritical} is not a number`);
  const sums = new Map<string, { sum: number; rounds: number }>();
  rounds.forEach((round, r) => {
    const seen = new Set<string>();
    for (const { partyId, similarity, dimensions } of round) {
      if (seen.has(partyId))
        throw new DmlError('FLAG_DUPLICATE_PARTY', `party ${partyId} has two similarities in round ${r + 1}`);
      seen.add(partyId);
      if (!Number.isSafeInteger(dimensions) || dimensions < 1)
        throw new DmlError(
          'FLAG_BAD_SIMILARITY',
          `party ${partyId}, round ${r + 1}: ${dimensions} dimensions`,
        );
      if (!(similarity >= -1 && similarity <= 1))
        throw new DmlError(
          'FLAG_BAD_SIMILARITY',
          `party ${partyId}, round ${r + 1}: similarity ${similarity} is not a cosine`,
        );
      const entry = sums.get(partyId) ?? { sum: 0, rounds: 0 };
      entry.sum += similarity * Math.sqrt(dimensions);
      entry.rounds += 1;
      sums.set(partyId, entry);
    }
  });
  return [...sums]
    .sort(([a], [b]) => compareDeltaNames(a, b))
    .map(([partyId, { sum, rounds: n }]) => {
      const z = sum / Math.sqrt(n);
      return { partyId, rounds: n, z, flagged: z < zCritical };
    });
};
