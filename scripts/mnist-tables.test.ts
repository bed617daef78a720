import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  type MnistPartyResult,
  cohortLifts,
  labelCounts,
  type MnistRunJson,
  labelMixTable,
  liftTable,
  mergeMnistRuns,
  perPartyTable,
  perRoundTable,
  randomDirectionVerdicts,
  type RoundFlags,
  robustRow,
  signedPoints,
  similarityMargin,
} from './mnist-tables.js';
import { flagDissimilarDeltas, makeDelta } from '../offchain/index.js';

const parties: MnistPartyResult[] = [
  { party: 0, alone: 0.9857, together: { 2: 0.989, 4: 0.9895 } },
  { party: 1, alone: 0.9843, together: { 2: 0.98, 4: 0.9895 } },
  { party: 2, alone: 0.9863, together: { 4: 0.9895 } },
];

describe('MNIST result tables', () => {
  it('signs a lift in points', () => {
    expect(signedPoints(0.0033)).toBe('+0.33');
    expect(signedPoints(-0.0017)).toBe('-0.17');
    expect(signedPoints(0)).toBe('+0.00');
    expect(signedPoints(-1e-9)).toBe('+0.00');
  });

  it('computes each cohort size’s lift over its members only', () => {
    const [two, four] = cohortLifts(parties, [2, 4]);
    expect(two).toMatchObject({ cohort: 2, compared: 2, above: 1 });
    expect(two!.min).toBeCloseTo(0.98 - 0.9843, 12);
    expect(two!.max).toBeCloseTo(0.989 - 0.9857, 12);
    expect(two!.mean).toBeCloseTo((0.989 - 0.9857 + 0.98 - 0.9843) / 2, 12);
    expect(four).toMatchObject({ cohort: 4, compared: 3, above: 3 });
    expect(four!.min).toBeCloseTo(0.9895 - 0.9863, 12);
  });

  it('leaves parties without an alone run out of the lift', () => {
    const [l] = cohortLifts([{ party: 0, alone: Number.NaN, together: { 2: 0.99 } }], [2]);
    expect(l).toMatchObject({ compared: 0, above: 0 });
    expect(liftTable([l!])).toContain('| 2 parties | no alone runs |');
  });

  it('counts members above alone as the number of positive lifts, for any accuracies', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
          {
            minLength: 1,
            maxLength: 12,
          },
        ),
        (pairs) => {
          const rows = pairs.map(([alone, t], p) => ({ party: p, alone, together: { 3: t } }));
          const [l] = cohortLifts(rows, [3]);
          expect(l!.above).toBe(pairs.filter(([a, t]) => t > a).length);
          expect(l!.min).toBeLessThanOrEqual(l!.mean + 1e-12);
          expect(l!.mean).toBeLessThanOrEqual(l!.max + 1e-12);
        },
      ),
    );
  });

  it('prints the per-party table with a dash where a party is not a member', () => {
    expect(perPartyTable(parties, [2, 4]).split('\n')).toEqual([
      '| party | alone % | cohort of 2 % (lift) | cohort of 4 % (lift) |',
      '| --- | --- | --- | --- |',
      '| 0 | 98.57 | 98.90 (+0.33) | 98.95 (+0.38) |',
      '| 1 | 98.43 | 98.00 (-0.43) | 98.95 (+0.52) |',
      '| 2 | 98.63 | - | 98.95 (+0.32) |',
    ]);
  });

  it('prints the lift table', () => {
    expect(
      liftTable(cohortLifts(parties, [2, 4]))
        .split('\n')
        .slice(2),
    ).toEqual([
      '| 2 parties | 1 of 2 | -0.43 | -0.05 | +0.33 |',
      '| 4 parties | 3 of 3 | +0.32 | +0.41 | +0.52 |',
    ]);
  });

  it('counts the labels of each shard', () => {
    expect(labelCounts(Uint8Array.from([0, 3, 3, 9]))).toEqual([1, 0, 0, 2, 0, 0, 0, 0, 0, 1]);
    expect(labelMixTable([Uint8Array.from([1, 1]), Uint8Array.from([2])], 3).split('\n')).toEqual([
      '| party | 0 | 1 | 2 |',
      '| --- | --- | --- | --- |',
      '| 0 | 0 | 2 | 0 |',
      '| 1 | 0 | 0 | 1 |',
    ]);
  });

  it('prints the per-round table with a dash for rounds not scored', () => {
    expect(perRoundTable(0.9801, { 4: [null, 0.9885], 2: [Number.NaN, 0.988] }).split('\n')).toEqual([
      '| cohort | base (NF4) | round 1 | round 2 |',
      '| --- | --- | --- | --- |',
      '| 2 parties | 98.01 | - | 98.80 |',
      '| 4 parties | 98.01 | - | 98.85 |',
    ]);
  });

  const settings = { rounds: '10', 'local-steps': '70', rank: '128', workers: '2', cohorts: 'none' };
  const aloneRun: MnistRunJson = {
    settings,
    base: { nf4: 0.9801, hash: 'e908' },
    iid: {
      perParty: [
        { party: 0, alone: 0.986, together: {} },
        { party: 1, alone: 0.985, together: {} },
      ],
      cohortRounds: {},
    },
  };
  const cohortRun: MnistRunJson = {
    settings: { ...settings, workers: '1', cohorts: '2' },
    base: { nf4: 0.9801, hash: 'e908' },
    iid: {
      perParty: [
        { party: 0, alone: null, together: { 2: 0.988 } },
        { party: 1, alone: null, together: { 2: 0.988 } },
      ],
      cohortRounds: { 2: [null, 0.988] },
    },
  };

  it('joins the alone runs of one process with the cohorts of another', () => {
    const merged = mergeMnistRuns([cohortRun, aloneRun], 'iid');
    expect(merged.cohorts).toEqual([2]);
    expect(merged.perParty).toEqual([
      { party: 0, alone: 0.986, together: { 2: 0.988 } },
      { party: 1, alone: 0.985, together: { 2: 0.988 } },
    ]);
    expect(merged.cohortRounds).toEqual({ 2: [null, 0.988] });
  });

  it('refuses runs that are not comparable or disagree', () => {
    expect(() =>
      mergeMnistRuns([aloneRun, { ...cohortRun, base: { nf4: 0.98, hash: 'other' } }], 'iid'),
    ).toThrow('different bases');
    expect(() =>
      mergeMnistRuns([aloneRun, { ...cohortRun, settings: { ...cohortRun.settings, rounds: '5' } }], 'iid'),
    ).toThrow('--rounds');
    const otherAlone: MnistRunJson = {
      ...aloneRun,
      iid: { perParty: [{ party: 0, alone: 0.9, together: {} }], cohortRounds: {} },
    };
    expect(() => mergeMnistRuns([aloneRun, otherAlone], 'iid')).toThrow('two alone accuracies');
    expect(() => mergeMnistRuns([aloneRun], 'dirichlet')).toThrow('no run has the dirichlet split');
  });

  it('reads the similarity margins and the threshold flagDissimilarDeltas applied', () => {
    const sims = [
      { partyId: 'p0', similarity: 0.4, flagged: false },
      { partyId: 'p1', similarity: 0.3, flagged: false },
      { partyId: 'p2', similarity: 0.5, flagged: false },
      { partyId: 'p3', similarity: -0.3, flagged: true },
      { partyId: 'p4', similarity: 0.02, flagged: true },
    ];
    expect(similarityMargin(sims, new Set(['p3', 'p4']))).toEqual({
      lowestHonest: 0.3,
      highestPoisoned: 0.02,
      threshold: 0.2,
    });
    expect(similarityMargin(sims.slice(0, 3), new Set()).highestPoisoned).toBeNaN();
    // on the real rule, a cohort of 7 honest deltas near one direction and 3 bad ones (the margin
    // is read from the rule's final answer; it is the rule's own threshold when its passes agree)
    const direction = [1, 0.5, -0.25, 0.75, 0, 0.2];
    // noise orthogonal to the direction (parties 07 and 09) and the direction flipped x5 (08)
    const noise: Record<number, number[]> = { 7: [0.5, -1, 0, 0, 1, 0], 9: [0, 0, 1, 1 / 3, 0, -0.5] };
    const contributions = Array.from({ length: 10 }, (_, i) => {
      const values = noise[i] ?? direction.map((v, j) => (i === 8 ? -5 * v : v + 0.3 * Math.sin(i * 3 + j)));
      return {
        partyId: `party-0${i}`,
        sampleCount: 1,
        delta: makeDelta([{ name: 'w', shape: [6], values: Float32Array.from(values) }]),
      };
    });
    const out = flagDissimilarDeltas(contributions);
    const margin = similarityMargin(out, new Set(['party-07', 'party-08', 'party-09']));
    expect(out.filter((d) => d.flagged).map((d) => d.partyId)).toEqual(['party-07', 'party-08', 'party-09']);
    expect(margin.highestPoisoned).toBeLessThan(margin.threshold);
    expect(margin.lowestHonest).toBeGreaterThanOrEqual(margin.threshold);
    for (const d of out) expect(d.similarity < margin.threshold).toBe(d.flagged);
  });

  it('judges a recorded run over its rounds: noise-like and negative parties flagged, the table reports the union', () => {
    // a run recorded before the parties and the delta size were: similarities in party order
    const round = (r: number, sims: number[]): RoundFlags => ({
      round: r,
      similarities: sims,
      lowestHonest: 0,
      highestPoisoned: 0,
      threshold: 0.1,
      flagged: [],
    });
    const rounds = [round(1, [0.3, 0.25, 0.004, -0.3]), round(2, [0.02, 0.03, -0.005, -0.2])];
    expect(() => randomDirectionVerdicts(rounds)).toThrow(/does not record the deltas' size/);
    const verdicts = randomDirectionVerdicts(rounds, { dimensions: 10_000 });
    expect(verdicts.map((v) => [v.partyId, v.flagged])).toEqual([
      ['party-00', false],
      ['party-01', false],
      ['party-02', true],
      ['party-03', true],
    ]);
    // a recorded size and parties win over the defaults
    const recorded = rounds.map((r) => ({ ...r, dimensions: 100, parties: ['a', 'b', 'c', 'd'] }));
    expect(randomDirectionVerdicts(recorded, { dimensions: 10_000 }).map((v) => v.partyId)).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
    expect(randomDirectionVerdicts(recorded).find((v) => v.partyId === 'b')!.z).toBeCloseTo(
      ((0.25 + 0.03) * 10) / Math.sqrt(2),
      9,
    );
    const row = robustRow('median', 2, '98.89', ['party-03'], verdicts);
    expect(row).toMatch(
      /^\| median, 2 poisoned \| 98.89 \| party-03 \| party-02 party-03 \| party-02 party-03 \| 00: /,
    );
  });
});
