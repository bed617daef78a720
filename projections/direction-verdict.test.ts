import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { flagRandomDirectionParties } from '../offchain/index.js';
import { judgeDirections } from './direction-verdict.js';

const round = (zs: Record<string, number>) => Object.entries(zs).map(([partyId, z]) => ({ partyId, z }));

describe('judgeDirections', () => {
  it('flags noise and a flip once an honest party of the same rounds clears twice the threshold', () => {
    // five rounds: honest z 4-6 a round (combined ~11), noise ~0, the flip far below 0
    const rounds = [0, 1, 2, 3, 4].map((r) =>
      round({ h1: 4 + r * 0.5, h2: 5, h3: 6 - r * 0.3, h4: 4.5, noise: (r % 2 ? 1 : -1) * 0.8, flip: -5 }),
    );
    const v = judgeDirections(rounds);
    expect(v.flagged).toEqual(['flip', 'noise']);
    const of = (p: string) => v.parties.find((x) => x.partyId === p)!;
    expect(of('noise').verdict).toBe('random');
    expect(of('flip').verdict).toBe('opposed');
    for (const h of ['h1', 'h2', 'h3', 'h4']) expect(of(h).verdict).toBe('aligned');
    expect(of('noise').referenceZ).toBeGreaterThanOrEqual(6);
    expect(v.rounds).toBe(5);
  });

  it('says "insufficient" rather than flagging when an honest party could not reach the threshold', () => {
    // one round of weak evidence: honest z ~2, noise ~0
    const v = judgeDirections([round({ h1: 2, h2: 2.5, h3: 1.8, noise: 0.1 })]);
    expect(v.flagged).toEqual([]);
    expect(v.parties.map((p) => p.verdict)).toEqual([
      'insufficient',
      'insufficient',
      'insufficient',
      'insufficient',
    ]);
    // the same evidence over twelve rounds is enough (median 1.9 x sqrt(12) = 6.6): the noise party flagged
    const nine = judgeDirections(
      Array.from({ length: 12 }, () => round({ h1: 2, h2: 2.5, h3: 1.8, noise: 0.1 })),
    );
    expect(nine.flagged).toEqual(['noise']);
  });

  it('flags no one when the typical party does not share a direction (honest deltas anti-correlated)', () => {
    // the demo's honest cohort late in training: every party's delta points back to its own
    // shard, so each is anti-correlated with the others' median (z -2 to -14 a round)
    const rounds = [
      round({ a: -4.7, b: -2.6, c: -1.9, d: -3.0 }),
      round({ a: -13.8, b: -11.4, c: -11.6, d: -9.0 }),
      round({ a: -10.4, b: -12.0, c: -8.3, d: 0.7 }),
    ];
    const v = judgeDirections(rounds);
    expect(v.flagged).toEqual([]);
    expect(v.parties.map((p) => p.verdict)).toEqual(Array(4).fill('insufficient'));
    // a flip among parties that do share a direction is flagged as opposed
    const shared = judgeDirections([round({ h1: 7, h2: 8, h3: 9, flip: -5 })]);
    expect(shared.flagged).toEqual(['flip']);
    expect(shared.parties.find((p) => p.partyId === 'flip')!.verdict).toBe('opposed');
  });

  it('leaves out rounds with fewer than four parties (the median of two others is their mean)', () => {
    const v = judgeDirections([round({ a: -9, b: -9, c: 5 }), round({ a: 1, b: 1, c: 1, d: 1 })]);
    expect(v.rounds).toBe(1);
    expect(v.parties.every((p) => p.rounds === 1 && p.z === 1)).toBe(true);
    expect(judgeDirections([]).parties).toEqual([]);
  });

  it('combines the rounds as flagRandomDirectionParties does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 4, maxLength: 6 }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.integer({ min: 1, max: 5000 }),
        (sims, dimensions) => {
          const rounds = sims.map((r) =>
            r.map((similarity, i) => ({ partyId: `p${i}`, similarity, dimensions })),
          );
          const v = judgeDirections(
            rounds.map((r) =>
              r.map((s) => ({ partyId: s.partyId, z: s.similarity * Math.sqrt(dimensions) })),
            ),
          );
          const reference = flagRandomDirectionParties(rounds);
          expect(v.parties.map((p) => p.partyId)).toEqual(reference.map((p) => p.partyId));
          v.parties.forEach((p, i) => {
            expect(p.z).toBeCloseTo(reference[i]!.z, 9);
            expect(p.rounds).toBe(reference[i]!.rounds);
            // flagged here implies flagged there (this rule only adds "not enough evidence")
            if (p.flagged) expect(reference[i]!.flagged).toBe(true);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('does not depend on the order of the rounds or of the parties within a round', () => {
    const roundArb = fc.uniqueArray(
      fc.record({
        partyId: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
        z: fc.double({ min: -20, max: 20, noNaN: true }),
      }),
      { selector: (s) => s.partyId, minLength: 1, maxLength: 5 },
    );
    fc.assert(
      fc.property(fc.array(roundArb, { maxLength: 8 }), fc.nat(), (rounds, seed) => {
        const shuffle = <T>(xs: readonly T[], s: number) =>
          xs
            .map((x, i) => ({ x, k: (i * 7919 + s) % 101 }))
            .sort((a, b) => a.k - b.k)
            .map((e) => e.x);
        const permuted = shuffle(rounds, seed).map((r, i) => shuffle(r, seed + i));
        expect(judgeDirections(permuted)).toEqual(judgeDirections(rounds));
      }),
      { numRuns: 200 },
    );
  });
});
