import { describe, expect, it } from '@jest/globals';
import { addHeadRounds, emptyHeadRounds } from './party-round-decider.js';
import type { RoundAcknowledgementDatum } from './round-datum.js';
import { latestSignedSnapshot } from './signed-snapshot.js';

const ack = (party: string, round: number, hash = `${round}${round}`): RoundAcknowledgementDatum => ({
  kind: 'acknowledgement',
  cohortId: 'c0',
  epoch: 1,
  round,
  party,
  aggregateHash: hash,
  signature: `${party}${round}`,
});
const head = (acks: RoundAcknowledgementDatum[]) =>
  addHeadRounds(emptyHeadRounds(), acks, { cohortId: 'c0', epoch: 1 });

describe('latestSignedSnapshot', () => {
  it('takes the latest round every party acknowledged with one hash, signatures in party order', () => {
    const h = head([ack('b', 1), ack('a', 1), ack('a', 2), ack('b', 2, 'ff'), ack('a', 3)]);
    expect(latestSignedSnapshot(h, ['a', 'b'], 1, 3)).toEqual({
      round: 1,
      aggregateHash: '11',
      signatures: ['a1', 'b1'],
    });
    expect(latestSignedSnapshot(h, ['b', 'a'], 1, 3)?.signatures).toEqual(['b1', 'a1']);
    expect(latestSignedSnapshot(h, ['a', 'b'], 2, 3)).toBeUndefined();
    expect(latestSignedSnapshot(head([ack('a', 2), ack('b', 2)]), ['a', 'b'], 2, 2)?.round).toBe(2);
  });
});
