import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DmlError } from '../errors.js';
import { aggregateDeltas } from './aggregation-rule.js';
import {
  type Delta,
  type DeltaTensor,
  decodeDelta,
  deltaEncodingOf,
  encodeDelta,
  hashDelta,
  hashDeltaBytes,
  makeDelta,
  withDeltaEncoding,
} from './delta-format.js';
import { Q8_BLOCK, Q8_MIN_SCALE, dequantizeQ8, quantizeQ8 } from './q8.js';
import { layoutArb, oneByteCorruptionRaisesOnlyDmlError, seededRandom } from './test-arbitraries.js';

const fail = (why: string): Error => new DmlError('TEST', why);

const codeOf = (bytes: Uint8Array): string | undefined => {
  try {
    decodeDelta(bytes);
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(DmlError);
    return (e as DmlError).code;
  }
};

/** Any float32 but the largest (whose block q8 refuses), every magnitude including subnormals. */
const anyF32 = fc
  .float({ noNaN: true, noDefaultInfinity: true })
  .filter((x) => Math.abs(x) < 3.4028234663852886e38);
const scaledF32 = fc
  .tuple(
    fc.float({ noNaN: true, noDefaultInfinity: true, min: -1, max: 1 }),
    fc.integer({ min: -140, max: 60 }),
  )
  .map(([m, e]) => Math.fround(m * 2 ** e));

/** A delta whose tensors are each f32 or q8, with values of every scale. */
const mixedDeltaArb: fc.Arbitrary<Delta> = layoutArb.chain((layout) =>
  fc
    .tuple(
      ...layout.shapes.map((s) =>
        fc.tuple(
          fc.array(fc.oneof(anyF32, scaledF32, fc.constant(0)), {
            minLength: s.reduce((p, d) => p * d, 1),
            maxLength: s.reduce((p, d) => p * d, 1),
          }),
          fc.boolean(),
        ),
      ),
    )
    .map((tensors) =>
      makeDelta(
        layout.names.map((name, i) => ({
          name,
          shape: layout.shapes[i]!,
          values: Float32Array.from(tensors[i]![0]),
          ...(tensors[i]![1] ? { encoding: 'q8' as const } : {}),
        })),
      ),
    ),
);

const random = seededRandom(7);
const vals = (n: number): Float32Array => Float32Array.from({ length: n }, () => (random() - 0.5) * 0.02);
/** The fixture of the hash test (an adapter's shapes): the same every run. */
const fixture = makeDelta([
  { name: 'blocks.0.attn.q.lora_B', shape: [64, 16], values: vals(1024) },
  { name: 'blocks.0.attn.q.lora_A', shape: [16, 64], values: vals(1024) },
  { name: 'head.bias', shape: [3], values: Float32Array.from([0, -0, 1e-30]) },
]);

describe('q8 values', () => {
  it('quantises a known block: scale absmax/127, ties away from zero, decode fround(code x scale)', () => {
    // absmax 127 gives scale 1 exactly: codes are x rounded, ties away from zero
    const x = Float32Array.from([127, 0.5, -0.5, 1.5, -1.5, 2.4999, -126.5, 0]);
    const { scales, codes } = quantizeQ8(x, fail);
    expect([...scales]).toEqual([1]);
    expect([...codes]).toEqual([127, 1, -1, 2, -2, 2, -127, 0]);
    expect([...dequantizeQ8(scales, codes, fail)]).toEqual([127, 1, -1, 2, -2, 2, -127, 0]);
    // 65 values: two blocks, the second of one value
    const y = new Float32Array(65);
    y[3] = -0.25;
    y[64] = 3;
    const q = quantizeQ8(y, fail);
    expect(q.scales.length).toBe(2);
    expect(q.scales[0]).toBe(Math.fround(0.25 / 127));
    expect(q.codes[3]).toBe(-127);
    expect(q.scales[1]).toBe(Math.fround(3 / 127));
    expect(q.codes[64]).toBe(127);
  });

  it('bounds the error: |x - decode(encode(x))| <= scale/2 (+ half a float32 ulp of the decoded value)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(anyF32, scaledF32), { minLength: 1, maxLength: 200 }), (xs) => {
        const x = Float32Array.from(xs);
        const { scales, codes } = quantizeQ8(x, fail);
        const d = dequantizeQ8(scales, codes, fail);
        for (let j = 0; j < x.length; j++) {
          const s = scales[Math.floor(j / Q8_BLOCK)]!;
          const err = Math.abs(x[j]! - d[j]!);
          if (s === 0) {
            // a block whose codes all round to 0 has scale 0: its values are below 2^-127
            expect(d[j]).toBe(0);
            expect(Math.abs(x[j]!)).toBeLessThanOrEqual(Q8_MIN_SCALE / 2);
          } else {
            expect(s).toBeGreaterThanOrEqual(Q8_MIN_SCALE);
            expect(err).toBeLessThanOrEqual(s / 2 + s * 2 ** -17);
            expect(Math.abs(codes[j]!)).toBeLessThanOrEqual(127);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('encodes an all-zero block as scale 0 and zero codes, and -0 as 0', () => {
    const x = new Float32Array(130);
    x[1] = -0;
    x[129] = 5;
    const { scales, codes } = quantizeQ8(x, fail);
    expect([...scales]).toEqual([0, 0, Math.fround(5 / 127)]);
    expect(codes.slice(0, 129).every((c) => c === 0)).toBe(true);
    const d = dequantizeQ8(scales, codes, fail);
    expect(Object.is(d[1], 0)).toBe(true);
    expect(d[129]).toBe(Math.fround(127 * Math.fround(5 / 127)));
  });

  it('refuses the largest float32, the one value q8 cannot hold', () => {
    const delta = makeDelta([
      { name: 'w', shape: [2], values: Float32Array.from([1, -3.4028234663852886e38]) },
    ]);
    expect(() => withDeltaEncoding(delta, 'q8')).toThrow(DmlError);
    expect(() => encodeDelta({ tensors: [{ ...delta.tensors[0]!, encoding: 'q8' }] })).toThrow(
      /tensor w cannot be encoded as q8/,
    );
    // the next float32 down is fine
    expect(() =>
      withDeltaEncoding(
        makeDelta([{ name: 'w', shape: [1], values: Float32Array.from([3.4028232635611926e38]) }]),
        'q8',
      ),
    ).not.toThrow();
  });
});

describe('delta format version 2 (q8)', () => {
  it('still writes an all-f32 delta as version 1: the bytes and hashes every log holds', () => {
    // computed by the version-1-only implementation (before q8 existed)
    expect(hashDelta(fixture)).toBe('9a96b0bdecd623b2d936a03b45ef6c3a6e61f543255fdb1bdc22107d9d273d05');
    expect(encodeDelta(fixture).length).toBe(8298);
    expect(hashDelta(withDeltaEncoding(fixture, 'f32'))).toBe(hashDelta(fixture));
    expect(deltaEncodingOf(decodeDelta(encodeDelta(fixture)))).toBe('f32');
  });

  it('writes q8 as version 2 with an encoding byte per tensor, scales then codes: known bytes', () => {
    const delta = makeDelta([
      { name: 'b', shape: [2], values: Float32Array.from([0.5, -2]) },
      { name: 'a', shape: [3], values: Float32Array.from([127, -0.5, 63.5]), encoding: 'q8' },
    ]);
    const hex = Buffer.from(encodeDelta(delta)).toString('hex');
    expect(hex).toBe(
      '444d4c44' +
        '0200' +
        '0000' +
        '02000000' +
        ('0100' + Buffer.from('a').toString('hex') + '01' + '03000000' + '01') +
        ('0100' + Buffer.from('b').toString('hex') + '01' + '02000000' + '00') +
        '0000803f' + // a: scale 1
        '7f' + // 127
        'ff' + // -0.5 -> -1 (away from zero)
        '40' + // 63.5 -> 64
        '0000003f' + // b: 0.5
        '000000c0', // -2
    );
    expect(hashDelta(delta)).toBe(hashDeltaBytes(encodeDelta(delta)));
  });

  it('pins the hash of a q8 adapter delta, and its size: n + 4 ceil(n/64) bytes a tensor', () => {
    const q = withDeltaEncoding(fixture, 'q8');
    const bytes = encodeDelta(q);
    const header = 12 + (2 + 22 + 1 + 8 + 1) * 2 + (2 + 9 + 1 + 4 + 1);
    expect(bytes.length).toBe(header + 2 * (1024 + 4 * 16) + (3 + 4));
    expect(hashDeltaBytes(bytes)).toBe(hashDelta(q));
    expect(hashDelta(q)).toBe('5fd933fd597cb5c08811110b500dc713a19bfa9670f3d861fbf506222204104a');
  });

  it('round-trips: decode gives what withDeltaEncoding gives, and re-encoding gives the same bytes', () => {
    fc.assert(
      fc.property(mixedDeltaArb, (delta) => {
        const bytes = encodeDelta(delta);
        const back = decodeDelta(bytes);
        const q8 = delta.tensors.some((t) => t.encoding === 'q8');
        expect(bytes[4]).toBe(q8 ? 2 : 1);
        back.tensors.forEach((t, i) => {
          const sent = delta.tensors[i]!;
          expect(t.name).toBe(sent.name);
          expect(t.shape).toEqual(sent.shape);
          expect(t.encoding).toBe(sent.encoding === 'q8' ? 'q8' : undefined);
          const expected =
            sent.encoding === 'q8'
              ? withDeltaEncoding({ tensors: [sent] }, 'q8').tensors[0]!.values
              : sent.values;
          expect(Buffer.from(t.values.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
        });
        expect(Buffer.from(encodeDelta(back)).equals(Buffer.from(bytes))).toBe(true);
        expect(hashDelta(back)).toBe(hashDeltaBytes(bytes));
        // quantising twice changes nothing: what a party keeps is what its peers decode
        const once = withDeltaEncoding(delta, 'q8');
        expect(hashDelta(withDeltaEncoding(once, 'q8'))).toBe(hashDelta(once));
        expect(hashDelta(decodeDelta(encodeDelta(once)))).toBe(hashDelta(once));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses every truncation and any trailing byte with DELTA_MALFORMED', () => {
    const bytes = encodeDelta(withDeltaEncoding(makeDelta([...fixture.tensors.slice(2)]), 'q8'));
    const mixed = encodeDelta(
      makeDelta([
        { name: 'f', shape: [2], values: Float32Array.from([1, 2]) },
        { name: 'q', shape: [70], values: vals(70), encoding: 'q8' },
      ]),
    );
    for (const b of [bytes, mixed]) {
      for (let n = 0; n < b.length; n++) expect(codeOf(b.subarray(0, n))).toBe('DELTA_MALFORMED');
      expect(codeOf(Uint8Array.from([...b, 0]))).toBe('DELTA_MALFORMED');
    }
  });

  it('refuses non-canonical version 2 bytes: no q8 tensor, bad encoding byte, bad scale or code', () => {
    const delta = makeDelta([
      { name: 'a', shape: [3], values: Float32Array.from([127, -0.5, 63.5]), encoding: 'q8' },
    ]);
    const bytes = encodeDelta(delta);
    const encodingAt = 12 + 2 + 1 + 1 + 4;
    const scaleAt = encodingAt + 1;
    const patched = (f: (b: Uint8Array, v: DataView) => void): Uint8Array => {
      const b = Uint8Array.from(bytes);
      f(b, new DataView(b.buffer));
      return b;
    };
    expect(codeOf(bytes)).toBeUndefined();
    // the same tensor said f32 would be an all-f32 delta in version 2 (and 4 bytes short)
    expect(codeOf(patched((b) => (b[encodingAt] = 0)))).toBe('DELTA_MALFORMED');
    expect(codeOf(patched((b) => (b[encodingAt] = 2)))).toBe('DELTA_MALFORMED');
    // (a scale one ulp up is another delta's canonical encoding: 127 x scale is its absmax)
    expect(codeOf(patched((_, v) => v.setFloat32(scaleAt, -1, true)))).toBe('DELTA_MALFORMED');
    expect(codeOf(patched((_, v) => v.setFloat32(scaleAt, -0, true)))).toBe('DELTA_MALFORMED');
    expect(codeOf(patched((_, v) => v.setFloat32(scaleAt, NaN, true)))).toBe('DELTA_MALFORMED');
    expect(codeOf(patched((_, v) => v.setFloat32(scaleAt, Infinity, true)))).toBe('DELTA_MALFORMED');
    // scale 0 with a non-zero code; code -128; no code at 127 (so another scale)
    expect(codeOf(patched((_, v) => v.setFloat32(scaleAt, 0, true)))).toBe('DELTA_MALFORMED');
    expect(codeOf(patched((b) => (b[scaleAt + 4 + 1] = 0x80)))).toBe('DELTA_MALFORMED');
    expect(codeOf(patched((b) => (b[scaleAt + 4] = 100)))).toBe('DELTA_MALFORMED');
    // a scale so large that 127 x scale overflows float32
    expect(codeOf(patched((_, v) => v.setFloat32(scaleAt, 3e38, true)))).toBe('DELTA_MALFORMED');
  });

  it('raises only DmlError on any corruption of q8 bytes', () => {
    fc.assert(oneByteCorruptionRaisesOnlyDmlError(mixedDeltaArb), { numRuns: 400 });
  });

  it('aggregates decoded q8 deltas into an f32 aggregate (no q8 tag is passed on)', () => {
    const party = (seed: number): Delta => {
      const r = seededRandom(seed);
      const b: DeltaTensor = {
        name: 'l.lora_B',
        shape: [50, 2],
        values: Float32Array.from({ length: 100 }, () => r() - 0.5),
      };
      const a = { name: 'l.lora_A', shape: [2, 2], values: Float32Array.from([1, 2, 3, 4]) };
      return decodeDelta(encodeDelta(withDeltaEncoding(makeDelta([a, b]), 'q8')));
    };
    const contributions = [1, 2, 3].map((s) => ({ partyId: `p${s}`, sampleCount: s, delta: party(s) }));
    for (const kind of ['ffa-lora', 'fedavg', 'median', 'lora-stack'] as const) {
      const { delta, hash } = aggregateDeltas({ kind }, contributions);
      expect(deltaEncodingOf(delta)).toBe('f32');
      expect(encodeDelta(delta)[4]).toBe(1);
      expect(hash).toBe(hashDeltaBytes(encodeDelta(delta)));
    }
  });
});
