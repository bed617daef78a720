import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Constr, Data } from 'lucid-cardano';
import { decodeRoundDatum, encodeRoundDatum, type RoundDatum } from './round-datum.js';

const hex = (bytes: number) =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));

describe('round datums (commitment and acknowledgement in the head)', () => {
  it('round-trips a commitment, metrics to the millionth', () => {
    fc.assert(
      fc.property(
        hex(28),
        fc.nat({ max: 1000 }),
        fc.nat({ max: 10_000 }),
        hex(32),
        fc.string({ minLength: 1, maxLength: 200 }),
        fc.nat(),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (party, epoch, round, deltaHash, storageKey, count, loss, accuracy) => {
          const datum: RoundDatum = {
            kind: 'commitment',
            cohortId: 'ab'.repeat(28),
            epoch,
            round,
            party,
            deltaHash,
            storageKey,
            sampleCount: count,
            bytes: count * 4,
            metrics: { loss, accuracy },
          };
          const back = decodeRoundDatum(encodeRoundDatum(datum));
          expect(back).toMatchObject({ ...datum, metrics: expect.any(Object) });
          expect(back?.kind === 'commitment' && Math.abs(back.metrics.loss - loss)).toBeLessThanOrEqual(5e-7);
        },
      ),
    );
  });

  it('round-trips an acknowledgement', () => {
    const datum: RoundDatum = {
      kind: 'acknowledgement',
      cohortId: 'cd'.repeat(28),
      epoch: 2,
      round: 7,
      party: '01'.repeat(28),
      aggregateHash: 'ef'.repeat(32),
      signature: '12'.repeat(64),
    };
    expect(decodeRoundDatum(encodeRoundDatum(datum))).toEqual(datum);
  });

  it('ignores datums that are not round datums', () => {
    expect(decodeRoundDatum(Data.to(new Constr(0, [5n])))).toBeUndefined();
    expect(decodeRoundDatum(Data.to(new Constr(2, ['ab', 1n, 1n, 'cd'])))).toBeUndefined();
    expect(decodeRoundDatum('not cbor')).toBeUndefined();
  });

  it('refuses to encode nonsense with a clear error', () => {
    expect(() =>
      encodeRoundDatum({
        kind: 'acknowledgement',
        cohortId: 'XYZ',
        epoch: 1,
        round: 1,
        party: 'ab',
        aggregateHash: 'ab',
        signature: 'ab',
      }),
    ).toThrow('cohortId must be lowercase hex');
    expect(() =>
      encodeRoundDatum({
        kind: 'commitment',
        cohortId: 'ab',
        epoch: -1,
        round: 1,
        party: 'ab',
        deltaHash: 'ab',
        storageKey: 'k',
        sampleCount: 1,
        bytes: 1,
        metrics: { loss: 1, accuracy: 1 },
      }),
    ).toThrow('epoch must be a natural number');
  });
});
