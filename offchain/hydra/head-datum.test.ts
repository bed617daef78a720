import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Constr, Data } from 'lucid-cardano';
import { decodeHeadCustodyDatum, encodeHeadCustodyDatum, type HeadCustodyDatum } from './head-datum.js';

const hex = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b).toString('hex'));
const time = fc.integer({ min: 0, max: 2 ** 47 });
const common = {
  headId: hex(28, 28),
  parties: fc.array(hex(32, 32), { maxLength: 5 }),
  contestationPeriodMs: fc.integer({ min: 1, max: 10 ** 9 }),
};
const txIn = fc.tuple(hex(32, 32), fc.integer({ min: 0, max: 1000 })).map(([h, i]) => `${h}#${i}`);

const datum: fc.Arbitrary<HeadCustodyDatum> = fc.oneof(
  fc.record({ ...common, state: fc.constant('Initial' as const), seed: hex(36, 36) }),
  fc.record({ ...common, state: fc.constant('Open' as const), utxoHash: hex(32, 32) }),
  fc.record({
    ...common,
    state: fc.constant('Closed' as const),
    snapshotNumber: fc.nat(),
    utxoHash: hex(32, 32),
    contestationDeadline: time,
    contesters: fc.array(hex(32, 32), { maxLength: 5 }),
  }),
  fc.record({
    state: fc.constant('Commit' as const),
    headId: hex(28, 28),
    party: hex(32, 32),
    // Output CBOR longer than 64 bytes is chunked by the encoder; decoding joins it.
    committed: fc.dictionary(txIn, hex(1, 300), { maxKeys: 4 }),
  }),
);

describe('custody datums', () => {
  it('decode what they encode (every state, long byte strings included)', () => {
    fc.assert(
      fc.property(datum, (d) => {
        expect(decodeHeadCustodyDatum(encodeHeadCustodyDatum(d))).toEqual(d);
      }),
      { numRuns: 300 },
    );
  });

  it('read anything else as undefined, never throwing', () => {
    expect(decodeHeadCustodyDatum('zz')).toBeUndefined();
    expect(decodeHeadCustodyDatum(Data.to(42n))).toBeUndefined();
    expect(decodeHeadCustodyDatum(Data.to(new Constr(7, ['ab'])))).toBeUndefined();
    expect(decodeHeadCustodyDatum(Data.to(new Constr(1, ['ab', ['cd'], 5n])))).toBeUndefined();
    expect(
      decodeHeadCustodyDatum(Data.to(new Constr(3, ['ab', 'cd', [new Constr(0, ['ef'])]]))),
    ).toBeUndefined();
    fc.assert(
      fc.property(hex(0, 80), (bytes) => {
        expect(() => decodeHeadCustodyDatum(bytes)).not.toThrow();
      }),
    );
  });
});
