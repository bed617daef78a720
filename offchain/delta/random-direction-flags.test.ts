import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { flagDissimilarDeltas } from './contribution-flags.js';
import { makeDelta } from './delta-format.js';
import { flagRandomDirectionParties, type RoundSimilarity } from './random-direction-flags.js';
import { seededRandom } from './test-arbitraries.js';
import { DmlError } from '../errors.js';

const expectDmlErrorSync = (run: () => unknown, code: string): void => {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(DmlError);
  expect((thrown as DmlError).code).toBe(code);
};

/** A standard normal draw (Box-Muller) from a uniform source. */
const gaussian = (random: () => number): number =>
  Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

const roundArb = fc.uniqueArray(
  fc.record({
    partyId: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
    similarity: fc.double({ min: -1, max: 1, noNaN: true }),
    dimensions: fc.integer({ min: 1, max: 1_000_000 }),
  }),
  { selector: (s) => s.partyId, minLength: 1 },
);

describe('flagRandomDirectionParties', () => {
  it('is the same whatever the order of the rounds and of the parties in them', () => {
    fc.assert(
      fc.property(fc.array(roundArb, { minLength: 1, maxLength: 6 }), fc.integer(), (rounds, seed) => {
        const random = seededRandom(seed);
        const shuffled = <T>(xs: readonly T[]): T[] =>
          xs
            .map((x) => ({ x, k: random() }))
            .sort((p, q) => p.k - q.k)
            .map(({ x }) => x);
        const once = flagRandomDirectionParties(rounds);
        const again = flagRandomDirectionParties(shuffled(rounds.map((r) => shuffled(r))));
        expect(again.map((s) => [s.partyId, s.rounds, s.flagged])).toEqual(
          once.map((s) => [s.partyId, s.rounds, s.flagged]),
        );
        again.forEach((s, i) => expect(s.z).toBeCloseTo(once[i]!.z, 9));
      }),
    );
  });

  it('flags exactly the parties whose combined score is below the critical one; R equal rounds give sqrt(R) x one', () => {
    fc.assert(
      fc.property(
        roundArb,
        fc.integer({ min: 1, max: 12 }),
        fc.double({ min: -5, max: 10, noNaN: true }),
        (round, r, zc) => {
          const one = flagRandomDirectionParties([round], { zCritical: zc });
          const many = flagRandomDirectionParties(
            Array.from({ length: r }, () => round),
            { zCritical: zc },
          );
          many.forEach((s, i) => {
            expect(s.rounds).toBe(r);
            expect(s.z).toBeCloseTo(one[i]!.z * Math.sqrt(r), 6);
            expect(s.flagged).toBe(s.z < zc);
          });
        },
      ),
    );
  });

  it('never flags a party for a higher similarity in a round than before', () => {
    fc.assert(
      fc.property(
        fc.array(roundArb, { minLength: 1, maxLength: 5 }),
        fc.nat(),
        fc.double({ min: 0, max: 2, noNaN: true }),
        (rounds, pick, up) => {
          const r = pick % rounds.length;
          const target = rounds[r]![pick % rounds[r]!.length]!;
          const raised = rounds.map((round, i) =>
            i !== r
              ? round
              : round.map((s) => (s === target ? { ...s, similarity: Math.min(1, s.similarity + up) } : s)),
          );
          const before = flagRandomDirectionParties(rounds).find((s) => s.partyId === target.partyId)!;
          const after = flagRandomDirectionParties(raised).find((s) => s.partyId === target.partyId)!;
          expect(after.z).toBeGreaterThanOrEqual(before.z - 1e-9);
          if (!before.flagged) expect(after.flagged).toBe(false);
        },
      ),
    );
  });

  it('scores random directions as standard normal: the model behind the threshold', () => {
    const random = seededRandom(17);
    const dimensions = 2_000;
    const consensus = Float32Array.from({ length: dimensions }, () => gaussian(random));
    const zs = Array.from({ length: 200 }, () => {
      const noise = Float32Array.from({ length: dimensions }, () => gaussian(random));
      let dot = 0;
      let a = 0;
      let b = 0;
      for (let j = 0; j < dimensions; j++) {
        dot += noise[j]! * consensus[j]!;
        a += noise[j]! * noise[j]!;
        b += consensus[j]! * consensus[j]!;
      }
      return (dot / Math.sqrt(a * b)) * Math.sqrt(dimensions);
    });
    const mean = zs.reduce((x, y) => x + y, 0) / zs.length;
    const sd = Math.sqrt(zs.reduce((x, y) => x + (y - mean) ** 2, 0) / (zs.length - 1));
    expect(Math.abs(mean)).toBeLessThan(0.28); // 4 standard errors of the mean
    expect(sd).toBeGreaterThan(0.85);
    expect(sd).toBeLessThan(1.15);
  });

  it('over ten rounds flags the noise and the sign flip, not honest deltas each nearly orthogonal to the consensus', () => {
    const random = seededRandom(3);
    const dimensions = 5_000;
    const rounds: RoundSimilarity[][] = [];
    for (let r = 0; r < 10; r++) {
      // honest deltas: a weak shared direction under much larger private noise (per-round z ~ 2-3)
      const shared = Float32Array.from({ length: dimensions }, () => gaussian(random));
      const honest = (): Float32Array => shared.map((v) => 0.2 * v + gaussian(random));
      const deltas = [
        ...Array.from({ length: 7 }, (_, i) => ({ partyId: `h${i}`, values: honest() })),
        { partyId: 'x-flip', values: honest().map((v) => -5 * v) },
        { partyId: 'x-noise', values: Float32Array.from({ length: dimensions }, () => gaussian(random)) },
        { partyId: 'x-zero', values: new Float32Array(dimensions) },
      ];
      rounds.push(
        flagDissimilarDeltas(
          deltas.map(({ partyId, values }) => ({
            partyId,
            sampleCount: 1,
            delta: makeDelta([{ name: 'w', shape: [dimensions], values }]),
          })),
        ),
      );
    }
    const honestPerRound = rounds.flatMap((round) =>
      round.filter((s) => s.partyId.startsWith('h')).map((s) => s.similarity * Math.sqrt(s.dimensions)),
    );
    expect(Math.min(...honestPerRound)).toBeLessThan(3); // a single round's evidence is thin
    const combined = flagRandomDirectionParties(rounds);
    expect(combined.filter((s) => s.flagged).map((s) => s.partyId)).toEqual(['x-flip', 'x-noise', 'x-zero']);
  });

  it('refuses what is not a cosine in some dimensions, and a party twice in a round', () => {
    const ok = { partyId: 'a', similarity: 0.1, dimensions: 10 };
    expectDmlErrorSync(
      () => flagRandomDirectionParties([[{ ...ok, similarity: NaN }]]),
      'FLAG_BAD_SIMILARITY',
    );
    expectDmlErrorSync(
      () => flagRandomDirectionParties([[{ ...ok, similarity: 1.5 }]]),
      'FLAG_BAD_SIMILARITY',
    );
    expectDmlErrorSync(() => flagRandomDirectionParties([[{ ...ok, dimensions: 0 }]]), 'FLAG_BAD_SIMILARITY');
    expectDmlErrorSync(() => flagRandomDirectionParties([[ok, ok]]), 'FLAG_DUPLICATE_PARTY');
    expectDmlErrorSync(() => flagRandomDirectionParties([[ok]], { zCritical: NaN }), 'FLAG_BAD_THRESHOLD');
  });
});
