// Shared fast-check generators and helpers for the delta tests (test-only; not exported by index.ts).
import { expect } from '@jest/globals';
import fc from 'fast-check';
import { DmlError } from '../errors.js';
import { decodeDelta, encodeDelta, makeDelta, type Delta } from './delta-format.js';
import type { DeltaContribution } from './contributions.js';

export const finiteF32 = fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });

export interface DeltaLayout {
  readonly names: string[];
  readonly shapes: number[][];
}

export const layoutArb: fc.Arbitrary<DeltaLayout> = fc
  .uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 4 })
  .chain((names) =>
    fc
      .array(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 3 }), {
        minLength: names.length,
        maxLength: names.length,
      })
      .map((shapes) => ({ names, shapes })),
  );

export const deltaOfLayout = (layout: DeltaLayout): fc.Arbitrary<Delta> =>
  fc
    .tuple(
      ...layout.shapes.map((s) =>
        fc.array(finiteF32, {
          minLength: s.reduce((p, d) => p * d, 1),
          maxLength: s.reduce((p, d) => p * d, 1),
        }),
      ),
    )
    .map((arrays) =>
      makeDelta(
        layout.names.map((name, i) => ({
          name,
          shape: layout.shapes[i]!,
          values: Float32Array.from(arrays[i]!),
        })),
      ),
    );

export const deltaArb: fc.Arbitrary<Delta> = layoutArb.chain(deltaOfLayout);

/** A round of n parties whose deltas share one layout. */
export const roundArb = (minParties: number, maxParties: number): fc.Arbitrary<DeltaContribution[]> =>
  layoutArb.chain((layout) =>
    fc
      .array(fc.tuple(deltaOfLayout(layout), fc.integer({ min: 1, max: 10000 })), {
        minLength: minParties,
        maxLength: maxParties,
      })
      .map((xs) =>
        xs.map(([delta, sampleCount], i) => ({
          partyId: `party-${String(i).padStart(3, '0')}`,
          sampleCount,
          delta,
        })),
      ),
  );

/** A deterministic pseudo-random generator (mulberry32) for reproducible test data. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** The property: one byte of an encoded delta (from `deltas`) set to any value decodes or raises a DmlError, nothing else. */
export const oneByteCorruptionRaisesOnlyDmlError = (deltas: fc.Arbitrary<Delta>) =>
  fc.property(deltas, fc.nat(), fc.integer({ min: 0, max: 255 }), (delta, at, value) => {
    const bytes = Uint8Array.from(encodeDelta(delta));
    bytes[at % bytes.length] = value;
    try {
      decodeDelta(bytes);
    } catch (e) {
      expect(e).toBeInstanceOf(DmlError);
    }
  });
