import { DmlError } from '../offchain/index.js';

/**
 * The round whose cohort adapter is reported, chosen on validation (never on the held-out text):
 * the round with the lowest mean over the parties of the cohort's validation bits per byte, each
 * figure taken as printed (3 decimals) so that a reader of the printed tables gets the same
 * answer; ties go to the later round. `cohortValidation[r][p]` is round r+1's figure for party p.
 * Returns the 1-based round and its mean.
 */
export const roundChosenOnValidation = (
  cohortValidation: ReadonlyArray<readonly number[]>,
): { readonly round: number; readonly meanBitsPerByte: number } => {
  if (cohortValidation.length === 0)
    throw new DmlError('LM_NO_ROUNDS', 'no round to choose from: run at least one round');
  let best = { round: 0, meanBitsPerByte: Number.POSITIVE_INFINITY };
  cohortValidation.forEach((figures, r) => {
    if (figures.length === 0 || !figures.every(Number.isFinite))
      throw new DmlError(
        'LM_BAD_FIGURES',
        `round ${r + 1}: validation figures ${figures.join(', ')} are not all numbers`,
      );
    // thousandths as integers: the mean of the printed figures, compared without float noise
    const thousandths = figures.reduce((sum, x) => sum + Math.round(x * 1000), 0);
    const mean = thousandths / figures.length / 1000;
    if (mean <= best.meanBitsPerByte) best = { round: r + 1, meanBitsPerByte: mean };
  });
  return best;
};
