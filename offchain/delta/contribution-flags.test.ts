import { describe, expect, it } from '@jest/globals';
import { makeDelta } from './delta-format.js';
import { flagDissimilarDeltas, flagOutlierScores } from './contribution-flags.js';
import { seededRandom } from './test-arbitraries.js';

describe('contribution flags', () => {
  it('flags a loss far above the others, never near-identical honest losses', () => {
    const honest = [0.31, 0.3, 0.32, 0.305, 0.315].map((loss, i) => ({ partyId: `p${i}`, loss }));
    expect(flagOutlierScores(honest)).toEqual([]);
    expect(flagOutlierScores([...honest, { partyId: 'bad', loss: 2.4 }])).toEqual(['bad']);
    expect(flagOutlierScores([...honest, { partyId: 'nan', loss: NaN }])).toEqual(['nan']);
    expect(flagOutlierScores(honest.slice(0, 2))).toEqual([]);
  });

  it('flags sign-flipped and random deltas that point away from the median delta', () => {
    const random = seededRandom(5);
    const direction = Float32Array.from({ length: 200 }, () => random() - 0.5);
    const noisy = (scale: number) => direction.map((v) => v + (random() - 0.5) * scale);
    const round = [
      ...Array.from({ length: 7 }, (_, i) => ({ partyId: `h${i}`, values: noisy(0.5) })),
      { partyId: 'x-flip', values: direction.map((v) => -5 * v) },
      { partyId: 'x-noise', values: Float32Array.from({ length: 200 }, () => random() - 0.5) },
    ].map(({ partyId, values }) => ({
      partyId,
      sampleCount: 1,
      delta: makeDelta([{ name: 'w', shape: [200], values }]),
    }));
    const flags = flagDissimilarDeltas(round);
    expect(flags.filter((f) => f.flagged).map((f) => f.partyId)).toEqual(['x-flip', 'x-noise']);
    expect(flags.find((f) => f.partyId === 'x-flip')!.similarity).toBeLessThan(-0.5);
  });
});
