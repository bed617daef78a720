import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DmlError } from '../errors.js';
import { decodeDelta, encodeDelta, hashDelta, makeDelta, parseDeltaValueEncoding } from './delta-format.js';
import { deltaArb, oneByteCorruptionRaisesOnlyDmlError } from './test-arbitraries.js';

const sample = makeDelta([
  { name: 'fc2.lora_B', shape: [2, 1], values: Float32Array.from([0.5, -2]) },
  { name: 'fc1.lora_A', shape: [1, 3], values: Float32Array.from([1, 2, 3]) },
]);

const expectMalformed = (bytes: Uint8Array, code = 'DELTA_MALFORMED'): void => {
  let caught: unknown;
  try {
    decodeDelta(bytes);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(DmlError);
  expect((caught as DmlError).code).toBe(code);
};

describe('delta format', () => {
  it('encodes a known delta to known bytes (little-endian, names ascending)', () => {
    const hex = Buffer.from(encodeDelta(sample)).toString('hex');
    expect(hex).toBe(
      '444d4c44' +
        '0100' +
        '0000' +
        '02000000' +
        '0a00' +
        Buffer.from('fc1.lora_A').toString('hex') +
        '02' +
        '01000000' +
        '03000000' +
        '0a00' +
        Buffer.from('fc2.lora_B').toString('hex') +
        '02' +
        '02000000' +
        '01000000' +
        '0000803f' +
        '00000040' +
        '00004040' +
        '0000003f' +
        '000000c0',
    );
  });

  it('round-trips any delta, bytes and hash stable', () => {
    fc.assert(
      fc.property(deltaArb, (delta) => {
        const bytes = encodeDelta(delta);
        const back = decodeDelta(bytes);
        expect(back.tensors.map((t) => t.name)).toEqual(delta.tensors.map((t) => t.name));
        back.tensors.forEach((t, i) => {
          expect(t.shape).toEqual(delta.tensors[i]!.shape);
          expect(Buffer.from(t.values.buffer).equals(Buffer.from(delta.tensors[i]!.values.buffer))).toBe(
            true,
          );
        });
        expect(Buffer.from(encodeDelta(back)).equals(Buffer.from(bytes))).toBe(true);
        expect(hashDelta(back)).toBe(hashDelta(delta));
      }),
      { numRuns: 200 },
    );
  });

  it('is canonical: the order tensors are given in does not change the bytes', () => {
    const reversed = { tensors: [...sample.tensors].reverse() };
    expect(hashDelta(reversed)).toBe(hashDelta(sample));
  });

  it('rejects every truncation and any trailing byte', () => {
    const bytes = encodeDelta(sample);
    for (let n = 0; n < bytes.length; n++) expectMalformed(bytes.subarray(0, n));
    expectMalformed(Uint8Array.from([...bytes, 0]));
  });

  it('rejects bad magic, unknown version, flags, unsorted or duplicate names, zero dims, NaN', () => {
    const bytes = encodeDelta(sample);
    const patch = (offset: number, value: number): Uint8Array => {
      const b = Uint8Array.from(bytes);
      b[offset] = value;
      return b;
    };
    expectMalformed(patch(0, 0x45));
    expectMalformed(patch(4, 3), 'DELTA_VERSION');
    expectMalformed(patch(4, 2)); // version 2 reads an encoding byte per tensor: these bytes are not one
    expectMalformed(patch(6, 1));
    // first name fc1.lora_A -> fc3.lora_A: not ascending before fc2.lora_B
    expectMalformed(patch(12 + 2 + 2, 0x33));
    const dup = patch(12 + 2 + 10 + 1 + 8 + 2 + 2, 0x31); // second name fc2.lora_B -> fc1.lora_B
    const dupName = Uint8Array.from(dup);
    dupName[12 + 2 + 10 + 1 + 8 + 2 + 9] = 0x41; // ... -> fc1.lora_A (duplicate)
    expectMalformed(dupName);
    expectMalformed(patch(12 + 2 + 10 + 1, 0)); // first dim 0
    const nan = Uint8Array.from(bytes);
    new DataView(nan.buffer).setFloat32(nan.length - 4, NaN, true);
    expectMalformed(nan);
    expect(() => makeDelta([{ name: 'x', shape: [2], values: new Float32Array(3) }])).toThrow(DmlError);
    expect(() => makeDelta([{ name: 'x', shape: [1], values: Float32Array.from([Infinity]) }])).toThrow(
      DmlError,
    );
  });

  it('rejects random garbage with a DmlError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeDelta(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(DmlError);
        }
      }),
      { numRuns: 500 },
    );
    fc.assert(oneByteCorruptionRaisesOnlyDmlError(deltaArb), { numRuns: 300 });
  });

  it('reads a delta encoding a user names, and refuses any other in one line', () => {
    expect(parseDeltaValueEncoding('f32')).toBe('f32');
    expect(parseDeltaValueEncoding('q8')).toBe('q8');
    expect(() => parseDeltaValueEncoding('fp16')).toThrow(
      new DmlError('BAD_FLAG', '--delta-encoding must be f32 or q8, not fp16'),
    );
    expect(() => parseDeltaValueEncoding('Q8', 'deltaEncoding')).toThrow(
      /^deltaEncoding must be f32 or q8, not Q8$/,
    );
  });
});
