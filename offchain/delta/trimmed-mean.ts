import { DmlError } from '../errors.js';
import type { Delta } from './delta-format.js';
import type { DeltaContribution } from './contributions.js';
import { mapSortedCoordinates } from './median.js';

/**
 * Coordinate-wise trimmed mean (Yin et al. 2018): drop the `trim` largest and `trim` smallest
 * values of each coordinate and average the rest (unweighted, summed in ascending order).
 */
export const trimmedMeanDeltas = (contributions: readonly DeltaContribution[], trim: number): Delta => {
  if (!Number.isInteger(trim) || trim < 0 || 2 * trim >= contributions.length)
    throw new DmlError(
      'AGGREGATE_TRIM',
      `cannot trim ${trim} from each end of ${contributions.length} deltas`,
      { hint: 'trim must be a whole number with 2 * trim < number of parties' },
    );
  return mapSortedCoordinates(contributions, (s) => {
    let sum = s[trim]!; // not 0 + ...: keeps -0 when every value is -0
    for (let i = trim + 1; i < s.length - trim; i++) sum += s[i]!;
    return sum / (s.length - 2 * trim);
  });
};
