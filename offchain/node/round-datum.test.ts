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

  it('carries the read grant (a presigned URL, whole seconds) and still reads a datum without one', () => {
    fc.assert(
      fc.property(
        fc.webUrl({ withQueryParameters: true }),
        fc.integer({ min: 0, max: 4_000_000_000 }),
        (url, expires) => {
          const readGrant = { url, expiresAt: new Date(expires * 1000).toISOString() };
          const datum: RoundDatum = {
            kind: 'commitment',
            cohortId: 'ab'.repeat(28),
            epoch: 1,
            round: 2,
            party: 'cd'.repeat(28),
            deltaHash: 'ef'.repeat(32),
            storageKey: `deltas/${'ef'.repeat(32)}`,
            sampleCount: 10,
            bytes: 4000,
            metrics: { loss: 0.5, accuracy: 0.75 },
            readGrant,
          };
          const back = decodeRoundDatum(encodeRoundDatum(datum));
          expect(back).toEqual(datum);
          const { readGrant: _, ...without } = datum;
          expect(decodeRoundDatum(encodeRoundDatum(without))).toEqual(without);
        },
      ),
      { numRuns: 40 },
    );
    // A real presigned S3 GET is well under the 16 KB a layer-2 transaction may carry.
    const presigned =
      'https://gateway.storjshare.io/party-bucket/dml/' +
      'ab'.repeat(32) +
      '?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD&X-Amz-Credential=' +
      'jw2ylm3bzmsu5pgfvu6ps7rzbxqa%2F20261126%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261126T110000Z' +
      '&X-Amz-Expires=3600&X-Amz-Signature=' +
      'cd'.repeat(32) +
      '&X-Amz-SignedHeaders=host&x-id=GetObject';
    const cbor = encodeRoundDatum({
      kind: 'commitment',
      cohortId: 'ab'.repeat(28),
      epoch: 1,
      round: 2,
      party: 'cd'.repeat(28),
      deltaHash: 'ab'.repeat(32),
      storageKey: `dml/${'ab'.repeat(32)}`,
      sampleCount: 10,
      bytes: 4000,
      metrics: { loss: 0.5, accuracy: 0.75 },
      readGrant: { url: presigned, expiresAt: '2026-11-26T12:00:00.000Z' },
    });
    expect(cbor.length / 2).toBeLessThan(1024);
  });

  it('rejects a commitment whose grant expiry is not a date', () => {
    expect(() =>
      encodeRoundDatum({
        kind: 'commitment',
        cohortId: 'ab'.repeat(28),
        epoch: 1,
        round: 2,
        party: 'cd'.repeat(28),
        deltaHash: 'ef'.repeat(32),
        storageKey: 'k',
        sampleCount: 1,
        bytes: 1,
        metrics: { loss: 0, accuracy: 0 },
        readGrant: { url: 'file:///x', expiresAt: 'soon' },
      }),
    ).toThrow('not a date');
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

  it('round-trips a carry-over, its read grant to the second', () => {
    const datum: RoundDatum = {
      kind: 'carry-over',
      cohortId: 'cd'.repeat(28),
      epoch: 2,
      round: 3,
      party: '01'.repeat(28),
      globalAdapterHash: 'ab'.repeat(32),
      previousAggregateHash: 'ef'.repeat(32),
      storageKey: 'deltas/p/abc',
      bytes: 1234,
      readGrant: { url: 'file:///store/objects/abc?sig=1', expiresAt: '2026-11-26T15:00:00.000Z' },
    };
    expect(decodeRoundDatum(encodeRoundDatum(datum))).toEqual(datum);
    // a carry-over with a field missing is not ours
    expect(decodeRoundDatum(Data.to(new Constr(2, ['ab', 1n, 1n, 'cd', 'ab', 'ef', '00', 1n, '00'])))).toBe(
      undefined,
    );
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
