import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { roundChosenOnValidation } from './lm-round-choice.js';

/** Run (g)'s cohort validation figures as its log printed them (design_docs/trainer.md, "40 rounds"). */
const RUN_G = [
  '2.682/2.730/2.755/2.901',
  '2.633/2.672/2.699/2.867',
  '2.613/2.649/2.688/2.849',
  '2.593/2.630/2.664/2.828',
  '2.579/2.612/2.656/2.813',
  '2.563/2.603/2.643/2.800',
  '2.549/2.589/2.636/2.789',
  '2.546/2.582/2.625/2.778',
  '2.534/2.567/2.610/2.775',
  '2.520/2.558/2.620/2.771',
  '2.516/2.555/2.605/2.766',
  '2.511/2.542/2.603/2.760',
  '2.506/2.546/2.594/2.763',
  '2.494/2.525/2.590/2.746',
  '2.497/2.528/2.587/2.741',
  '2.499/2.536/2.586/2.742',
  '2.485/2.520/2.585/2.737',
  '2.482/2.517/2.582/2.737',
  '2.479/2.514/2.573/2.727',
  '2.473/2.507/2.573/2.723',
  '2.474/2.504/2.574/2.715',
  '2.469/2.496/2.571/2.714',
  '2.460/2.492/2.554/2.708',
  '2.459/2.498/2.549/2.712',
  '2.453/2.496/2.555/2.710',
  '2.451/2.491/2.556/2.707',
  '2.442/2.492/2.561/2.696',
  '2.449/2.487/2.566/2.702',
  '2.447/2.482/2.556/2.691',
  '2.442/2.482/2.553/2.696',
  '2.442/2.480/2.555/2.687',
  '2.432/2.475/2.549/2.687',
  '2.438/2.476/2.541/2.678',
  '2.426/2.464/2.538/2.687',
  '2.428/2.461/2.536/2.684',
  '2.430/2.464/2.539/2.669',
  '2.414/2.456/2.534/2.668',
  '2.416/2.454/2.527/2.671',
  '2.422/2.454/2.535/2.674',
  '2.417/2.453/2.531/2.670',
].map((row) => row.split('/').map(Number));

describe('roundChosenOnValidation', () => {
  it("chooses round 38 on run (g)'s printed figures, as the rule fixed before that run did by hand", () => {
    const { round, meanBitsPerByte } = roundChosenOnValidation(RUN_G);
    expect(round).toBe(38);
    expect(meanBitsPerByte).toBeCloseTo(2.517, 6);
  });

  it('takes the later round on a tie, and compares the printed 3-decimal figures', () => {
    expect(
      roundChosenOnValidation([
        [2.5, 2.6],
        [2.6, 2.5],
        [2.7, 2.7],
      ]).round,
    ).toBe(2);
    // 2.5004 prints as 2.500: the same as round 1's, so the later round wins
    expect(roundChosenOnValidation([[2.5], [2.5004]]).round).toBe(2);
  });

  it('always returns a round whose mean is the smallest, and the latest of those', () => {
    const figure = fc.integer({ min: 2000, max: 3500 }).map((t) => t / 1000);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }).chain((parties) =>
          fc.array(fc.array(figure, { minLength: parties, maxLength: parties }), {
            minLength: 1,
            maxLength: 40,
          }),
        ),
        (rounds) => {
          const means = rounds.map((f) => f.reduce((a, b) => a + Math.round(b * 1000), 0));
          const smallest = Math.min(...means);
          const { round } = roundChosenOnValidation(rounds);
          expect(means[round - 1]).toBe(smallest);
          expect(means.slice(round).every((m) => m > smallest)).toBe(true);
        },
      ),
    );
  });

  it('refuses no rounds and figures that are not numbers, in one line', () => {
    expect(() => roundChosenOnValidation([])).toThrow('no round to choose from');
    expect(() => roundChosenOnValidation([[2.5, Number.NaN]])).toThrow('round 1: validation figures');
  });
});
