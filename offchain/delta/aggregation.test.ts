import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DmlError } from '../errors.js';
import { encodeDelta, getDeltaTensor, hashDelta, makeDelta, type Delta } from './delta-format.js';
import type { DeltaContribution } from './contributions.js';
import { aggregateDeltas, type AggregationRule } from './aggregation-rule.js';
import { fedAvgDeltas } from './fedavg.js';
import { ffaLoraDeltas } from './ffa-lora.js';
import { krumSelect } from './krum.js';
import { loraProduct, loraStackDeltas } from './lora-stack.js';
import { medianDeltas } from './median.js';
import { trimmedMeanDeltas } from './trimmed-mean.js';
import { nesterovOuterStep } from './diloco.js';
import { roundArb, seededRandom } from './test-arbitraries.js';

const bytesOf = (d: Delta): string => Buffer.from(encodeDelta(d)).toString('hex');

const shuffle = <T>(xs: readonly T[], seed: number): T[] => {
  const r = seededRandom(seed);
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};

const randomMatrix = (rows: number, cols: number, rnd: () => number, scale = 1): Float32Array =>
  Float32Array.from({ length: rows * cols }, () => (rnd() * 2 - 1) * scale);

const ALL_RULES: AggregationRule[] = [
  { kind: 'fedavg' },
  { kind: 'median' },
  { kind: 'trimmed-mean', trim: 1 },
  { kind: 'krum', byzantine: 1, select: 2 },
];

describe('aggregation rules', () => {
  it('give the same bytes whatever order deltas arrive in (order is by party id)', () => {
    fc.assert(
      fc.property(roundArb(5, 8), fc.integer(), (round, seed) => {
        for (const rule of ALL_RULES) {
          const a = aggregateDeltas(rule, round);
          const b = aggregateDeltas(rule, shuffle(round, seed));
          expect(b.hash).toBe(a.hash);
          expect(bytesOf(b.delta)).toBe(bytesOf(a.delta));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('median, trimmed mean, FedAvg and Krum of identical deltas are that delta', () => {
    fc.assert(
      fc.property(roundArb(1, 1), fc.integer({ min: 5, max: 9 }), (one, n) => {
        const round: DeltaContribution[] = Array.from({ length: n }, (_, i) => ({
          partyId: `p${i}`,
          sampleCount: 1 + i * 7,
          delta: one[0]!.delta,
        }));
        const want = bytesOf(one[0]!.delta);
        expect(bytesOf(medianDeltas(round))).toBe(want);
        expect(bytesOf(trimmedMeanDeltas(round, 1))).toBe(want);
        expect(bytesOf(aggregateDeltas({ kind: 'krum', byzantine: 1 }, round).delta)).toBe(want);
        // a weighted mean of equal values may differ from the value in its last bit only
        const avg = fedAvgDeltas(round);
        avg.tensors.forEach((t, ti) =>
          t.values.forEach((v, j) => {
            const x = one[0]!.delta.tensors[ti]!.values[j]!;
            expect(Math.abs(v - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -23);
          }),
        );
      }),
      { numRuns: 80 },
    );
  });

  it('FedAvg weighs by sample count, and median/trimmed mean stay within the honest range', () => {
    const d = (x: number): Delta => makeDelta([{ name: 'w', shape: [1], values: Float32Array.from([x]) }]);
    const round: DeltaContribution[] = [
      { partyId: 'a', sampleCount: 1, delta: d(0) },
      { partyId: 'b', sampleCount: 3, delta: d(4) },
    ];
    expect(getDeltaTensor(fedAvgDeltas(round), 'w').values[0]).toBe(3);
    const withOutliers: DeltaContribution[] = [1, 2, 3, 4, 5, 1e6, -1e6].map((x, i) => ({
      partyId: `p${i}`,
      sampleCount: 1,
      delta: d(x),
    }));
    expect(getDeltaTensor(medianDeltas(withOutliers), 'w').values[0]).toBe(3);
    expect(getDeltaTensor(trimmedMeanDeltas(withOutliers, 2), 'w').values[0]).toBe(3);
    expect(getDeltaTensor(medianDeltas(withOutliers.slice(0, 4)), 'w').values[0]).toBe(2.5);
  });

  it('Krum picks an honest delta when a minority is far away', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e9 }),
        fc.integer({ min: 1, max: 3 }),
        fc.double({ min: 5, max: 1e4, noNaN: true }),
        (seed, f, far) => {
          const rnd = seededRandom(seed);
          const n = 2 * f + 3;
          const round: DeltaContribution[] = Array.from({ length: n }, (_, i) => {
            const bad = i < f; // bad parties first in id order: ties must not favour them
            const values = randomMatrix(1, 16, rnd, 0.1).map((v) =>
              bad ? v + far * (rnd() < 0.5 ? -1 : 1) : v,
            );
            return {
              partyId: `p${String(i).padStart(2, '0')}`,
              sampleCount: 10,
              delta: makeDelta([{ name: 'w', shape: [16], values }]),
            };
          });
          const { selected } = krumSelect(round, f, n - f);
          expect(selected.every((p) => Number(p.slice(1)) >= f)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('FFA-LoRA is exact: (sum w_i B_i) A equals the weighted mean of the products B_i A', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 2, max: 6 }), (seed, k) => {
        const rnd = seededRandom(seed);
        const [r, din, dout] = [2, 5, 3];
        const A = randomMatrix(r, din, rnd);
        const round: DeltaContribution[] = Array.from({ length: k }, (_, i) => ({
          partyId: `p${i}`,
          sampleCount: 1 + Math.floor(rnd() * 100),
          delta: makeDelta([
            { name: 'fc.lora_A', shape: [r, din], values: A },
            { name: 'fc.lora_B', shape: [dout, r], values: randomMatrix(dout, r, rnd) },
          ]),
        }));
        const agg = ffaLoraDeltas(round);
        expect(bytesOf(makeDelta([getDeltaTensor(agg, 'fc.lora_A')]))).toBe(
          bytesOf(makeDelta([{ name: 'fc.lora_A', shape: [r, din], values: A }])),
        );
        const got = loraProduct(getDeltaTensor(agg, 'fc.lora_A'), getDeltaTensor(agg, 'fc.lora_B'));
        expectCloseToMeanOfProducts(got, round);
      }),
      { numRuns: 50 },
    );
    const a = makeDelta([{ name: 'fc.lora_A', shape: [1, 1], values: Float32Array.from([1]) }]);
    const b = makeDelta([{ name: 'fc.lora_A', shape: [1, 1], values: Float32Array.from([2]) }]);
    expect(() =>
      ffaLoraDeltas([
        { partyId: 'x', sampleCount: 1, delta: a },
        { partyId: 'y', sampleCount: 1, delta: b },
      ]),
    ).toThrow(DmlError);
  });

  it('the stacking rule is exact where averaging A and B separately is not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 2, max: 5 }), (seed, k) => {
        const rnd = seededRandom(seed);
        const [r, din, dout] = [2, 4, 3];
        const round: DeltaContribution[] = Array.from({ length: k }, (_, i) => ({
          partyId: `p${i}`,
          sampleCount: 1 + Math.floor(rnd() * 100),
          delta: makeDelta([
            { name: 'fc.lora_A', shape: [r, din], values: randomMatrix(r, din, rnd) },
            { name: 'fc.lora_B', shape: [dout, r], values: randomMatrix(dout, r, rnd) },
            { name: 'fc.bias', shape: [dout], values: randomMatrix(1, dout, rnd) },
          ]),
        }));
        const agg = loraStackDeltas(round);
        expect(getDeltaTensor(agg, 'fc.lora_A').shape).toEqual([k * r, din]);
        expect(getDeltaTensor(agg, 'fc.lora_B').shape).toEqual([dout, k * r]);
        expectCloseToMeanOfProducts(
          loraProduct(getDeltaTensor(agg, 'fc.lora_A'), getDeltaTensor(agg, 'fc.lora_B')),
          round,
        );
        // naive: mean(B) mean(A) is not the mean of the products
        const naive = fedAvgDeltas(round);
        const naiveProduct = loraProduct(
          getDeltaTensor(naive, 'fc.lora_A'),
          getDeltaTensor(naive, 'fc.lora_B'),
        );
        const want = meanOfProducts(round);
        const err = Math.max(...Array.from(naiveProduct, (v, j) => Math.abs(v - want[j]!)));
        expect(err).toBeGreaterThan(1e-3);
      }),
      { numRuns: 50 },
    );
  });

  it('the Nesterov outer step is the averaged delta with momentum 0 and lr 1, and accumulates velocity', () => {
    const d = makeDelta([{ name: 'w', shape: [2], values: Float32Array.from([1, -2]) }]);
    const plain = nesterovOuterStep(d, null, { learningRate: 1, momentum: 0 });
    expect(bytesOf(plain.update)).toBe(bytesOf(d));
    const s1 = nesterovOuterStep(d, null, { learningRate: 0.5, momentum: 0.9 });
    expect(Array.from(s1.velocity.tensors[0]!.values)).toEqual([1, -2]);
    expect(Array.from(s1.update.tensors[0]!.values)).toEqual([
      Math.fround(0.5 * 1.9),
      Math.fround(0.5 * -3.8),
    ]);
    const s2 = nesterovOuterStep(d, s1.velocity, { learningRate: 0.5, momentum: 0.9 });
    expect(s2.velocity.tensors[0]!.values[0]).toBeCloseTo(1.9, 6);
    expect(s2.update.tensors[0]!.values[0]).toBeCloseTo(0.5 * (1 + 0.9 * 1.9), 6);
    expect(() => nesterovOuterStep(d, null, { learningRate: 1, momentum: 1 })).toThrow(DmlError);
  });

  it('rejects empty rounds, duplicate parties, bad counts, mismatched shapes and bad settings', () => {
    const d = makeDelta([{ name: 'w', shape: [1], values: Float32Array.from([1]) }]);
    const e = makeDelta([{ name: 'w', shape: [1, 1], values: Float32Array.from([1]) }]);
    const codeOf = (f: () => unknown): string => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(DmlError);
        return (err as DmlError).code;
      }
      return 'none';
    };
    expect(codeOf(() => aggregateDeltas({ kind: 'fedavg' }, []))).toBe('AGGREGATE_EMPTY');
    expect(
      codeOf(() =>
        aggregateDeltas({ kind: 'fedavg' }, [
          { partyId: 'a', sampleCount: 1, delta: d },
          { partyId: 'a', sampleCount: 1, delta: d },
        ]),
      ),
    ).toBe('AGGREGATE_DUPLICATE_PARTY');
    expect(
      codeOf(() => aggregateDeltas({ kind: 'fedavg' }, [{ partyId: 'a', sampleCount: 0, delta: d }])),
    ).toBe('AGGREGATE_SAMPLE_COUNT');
    expect(
      codeOf(() =>
        aggregateDeltas({ kind: 'median' }, [
          { partyId: 'a', sampleCount: 1, delta: d },
          { partyId: 'b', sampleCount: 1, delta: e },
        ]),
      ),
    ).toBe('AGGREGATE_SHAPE_MISMATCH');
    const three = ['a', 'b', 'c'].map((partyId) => ({ partyId, sampleCount: 1, delta: d }));
    expect(codeOf(() => aggregateDeltas({ kind: 'trimmed-mean', trim: 2 }, three))).toBe('AGGREGATE_TRIM');
    expect(codeOf(() => aggregateDeltas({ kind: 'krum', byzantine: 1 }, three))).toBe('AGGREGATE_KRUM');
    expect(aggregateDeltas({ kind: 'fedavg' }, three).hash).toBe(hashDelta(d));
  });
});

function meanOfProducts(round: readonly DeltaContribution[]): Float64Array {
  const total = round.reduce((s, c) => s + c.sampleCount, 0);
  const first = loraProduct(
    getDeltaTensor(round[0]!.delta, 'fc.lora_A'),
    getDeltaTensor(round[0]!.delta, 'fc.lora_B'),
  );
  const want = new Float64Array(first.length);
  for (const c of round) {
    const p = loraProduct(getDeltaTensor(c.delta, 'fc.lora_A'), getDeltaTensor(c.delta, 'fc.lora_B'));
    p.forEach((v, j) => (want[j] = want[j]! + (c.sampleCount / total) * v));
  }
  return want;
}

function expectCloseToMeanOfProducts(got: Float32Array, round: readonly DeltaContribution[]): void {
  const want = meanOfProducts(round);
  got.forEach((v, j) => expect(Math.abs(v - want[j]!)).toBeLessThan(1e-5));
}
