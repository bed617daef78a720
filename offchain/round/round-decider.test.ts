import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { ed25519PublicKeyOfSeed, ed25519Sign } from '../ed25519.js';
import { DmlError } from '../errors.js';
import {
  type RoundCommand,
  type RoundEvent,
  type RoundState,
  decideRound,
  evolveRound,
  initialRoundState,
  replayRound,
} from './round-decider.js';
import { trainingSnapshotMessage } from './training-snapshot.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const seedOf = (name: string) => createHash('sha256').update(`seed ${name}`).digest();
const party = (name: string) => ({
  id: sha(`party ${name}`).slice(0, 56),
  hydraKey: Buffer.from(ed25519PublicKeyOfSeed(seedOf(name))).toString('hex'),
});
const NAMES = ['alice', 'bob', 'carol'];
const PARTIES = NAMES.map(party);
const KEY = { cohortId: sha('cohort').slice(0, 56), epoch: 0, round: 1 };
const nameOf = (id: string) => NAMES[PARTIES.findIndex((p) => p.id === id)]!;

const commit = (partyId: string, delta = `delta of ${partyId}`): RoundCommand => ({
  type: 'CommitDelta',
  commitment: {
    party: partyId,
    deltaHash: sha(delta),
    storageKey: `dml/${sha(delta)}`,
    sampleCount: 100,
    bytes: 4096,
    metrics: { loss: 0.5, accuracy: 0.9 },
  },
});
const signBy = (partyId: string, aggregateHash: string, key = KEY): RoundCommand => ({
  type: 'SignSnapshot',
  party: partyId,
  signature: Buffer.from(
    ed25519Sign(seedOf(nameOf(partyId)), trainingSnapshotMessage({ ...key, aggregateHash })),
  ).toString('hex'),
});

/** Runs commands through decide + evolve; refused commands are skipped (they must not change anything). */
const run = (commands: readonly RoundCommand[], from: RoundState = initialRoundState) => {
  let state = from;
  const events: RoundEvent[] = [];
  const refused: string[] = [];
  for (const command of commands) {
    try {
      const produced = decideRound(command, state);
      events.push(...produced);
      state = produced.reduce(evolveRound, state);
    } catch (error) {
      if (!(error instanceof DmlError)) throw error;
      refused.push(error.message);
    }
  }
  return { state, events, refused };
};

const start: RoundCommand = {
  type: 'StartRound',
  key: KEY,
  parties: PARTIES,
  globalAdapterHash: sha('global 0'),
};
const AGG = sha('aggregate 1');

describe('training snapshot message', () => {
  it('is the Plutus Data Constr 0 [cohortId, epoch, round, aggregateHash] as the ledger serialises it', async () => {
    const { Data, Constr } = await import('lucid-cardano');
    const snapshot = { cohortId: KEY.cohortId, epoch: 3, round: 300, aggregateHash: AGG };
    const expected = Data.to(new Constr(0, [snapshot.cohortId, 3n, 300n, snapshot.aggregateHash]));
    expect(Buffer.from(trainingSnapshotMessage(snapshot)).toString('hex')).toBe(expected);
  });

  it('refuses a malformed aggregate hash', () => {
    expect(() => trainingSnapshotMessage({ ...KEY, aggregateHash: 'xyz' })).toThrow(DmlError);
  });
});

describe('round decider', () => {
  it('completes a round when every party has committed and signed the aggregate', () => {
    const { state, events, refused } = run([
      start,
      ...PARTIES.map((p) => commit(p.id)),
      { type: 'RecordAggregate', aggregateHash: AGG, rule: 'ffa-lora', computedBy: PARTIES[0]!.id },
      ...PARTIES.map((p) => signBy(p.id, AGG)),
    ]);
    expect(refused).toEqual([]);
    expect(state.status).toBe('Completed');
    const completed = events.at(-1);
    expect(completed?.type).toBe('RoundCompleted');
    const sortedIds = PARTIES.map((p) => p.id).sort();
    expect(state.parties.map((p) => p.id)).toEqual(sortedIds);
    expect(completed?.type === 'RoundCompleted' && completed.signatures).toEqual(
      sortedIds.map((id) => state.signatures[id]),
    );
    expect(replayRound(events)).toEqual(state);
  });

  it('refuses the aggregate before every delta is in, naming who is missing', () => {
    const { refused, state } = run([
      start,
      commit(PARTIES[0]!.id),
      { type: 'RecordAggregate', aggregateHash: AGG, rule: 'fedavg', computedBy: PARTIES[0]!.id },
    ]);
    expect(state.status).toBe('Collecting');
    expect(refused[0]).toContain('still waits for the deltas of');
    expect(refused[0]).toContain(PARTIES[1]!.id);
  });

  it('refuses a commitment by a non-party, a forged signature and a signature for another round', () => {
    const stranger = party('mallory');
    const collected = run([
      start,
      ...PARTIES.map((p) => commit(p.id)),
      { type: 'RecordAggregate', aggregateHash: AGG, rule: 'fedavg', computedBy: PARTIES[1]!.id },
    ]);
    const attacks = run(
      [
        commit(stranger.id),
        { type: 'SignSnapshot', party: PARTIES[0]!.id, signature: 'ab'.repeat(64) },
        signBy(PARTIES[0]!.id, AGG, { ...KEY, round: 2 }),
        signBy(PARTIES[0]!.id, sha('another aggregate')),
      ],
      collected.state,
    );
    expect(attacks.events).toEqual([]);
    expect(attacks.refused).toHaveLength(4);
    expect(attacks.refused[0]).toContain('is not a party');
    expect(attacks.refused.slice(1).every((m) => m.includes('does not verify'))).toBe(true);
  });

  it('refuses a different aggregate from a party that computed other bytes', () => {
    const { refused } = run([
      start,
      ...PARTIES.map((p) => commit(p.id)),
      { type: 'RecordAggregate', aggregateHash: AGG, rule: 'fedavg', computedBy: PARTIES[0]!.id },
      { type: 'RecordAggregate', aggregateHash: sha('other'), rule: 'fedavg', computedBy: PARTIES[1]!.id },
    ]);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain('computed aggregate');
  });

  it('keeps the first commitment and records a second, different one as equivocation', () => {
    const alice = PARTIES[0]!.id;
    const { state, events } = run([
      start,
      commit(alice, 'honest'),
      commit(alice, 'other'),
      commit(alice, 'other'),
    ]);
    expect(state.commitments[alice]?.deltaHash).toBe(sha('honest'));
    expect(state.equivocations).toEqual([{ party: alice, first: sha('honest'), second: sha('other') }]);
    expect(events.filter((e) => e.type === 'EquivocationDetected')).toHaveLength(1);
  });

  it('starts only the next round of the same cohort after a completed one', () => {
    const done = run([
      start,
      ...PARTIES.map((p) => commit(p.id)),
      { type: 'RecordAggregate', aggregateHash: AGG, rule: 'fedavg', computedBy: PARTIES[0]!.id },
      ...PARTIES.map((p) => signBy(p.id, AGG)),
    ]).state;
    const skip = run([{ ...start, key: { ...KEY, round: 3 } } as RoundCommand], done);
    expect(skip.refused[0]).toContain('the next round is 2');
    const next = run([{ ...start, key: { ...KEY, round: 2 }, globalAdapterHash: AGG } as RoundCommand], done);
    expect(next.state).toMatchObject({
      status: 'Collecting',
      key: { round: 2 },
      commitments: {},
      signatures: {},
    });
  });
});

describe('round decider properties', () => {
  const ids = PARTIES.map((p) => p.id);
  const hashes = ['a', 'b', 'c'].map((x) => sha(x));
  const command = fc.oneof(
    fc
      .record({ p: fc.constantFrom(...ids, sha('stranger').slice(0, 56)), d: fc.constantFrom('1', '2') })
      .map(({ p, d }) => commit(p, d)),
    fc
      .record({ h: fc.constantFrom(...hashes), p: fc.constantFrom(...ids) })
      .map(({ h, p }): RoundCommand => ({
        type: 'RecordAggregate',
        aggregateHash: h,
        rule: 'fedavg',
        computedBy: p,
      })),
    fc
      .record({ h: fc.constantFrom(...hashes), p: fc.constantFrom(...ids), forged: fc.boolean() })
      .map(({ h, p, forged }) =>
        forged
          ? ({ type: 'SignSnapshot', party: p, signature: 'cd'.repeat(64) } as RoundCommand)
          : signBy(p, h),
      ),
  );
  const rank = { Idle: 0, Collecting: 1, Aggregated: 2, Completed: 3 } as const;

  it('replaying the events gives the state; status only moves forward; first commitments stand', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
        let state = run([start]).state;
        const events: RoundEvent[] = [];
        const firstCommit: Record<string, string> = {};
        for (const c of commands) {
          const before = state;
          const result = run([c], state);
          // a refused command changes nothing; an accepted one is idempotent
          if (result.refused.length > 0) expect(result.state).toEqual(before);
          else expect(run([c], result.state).events).toEqual([]);
          expect(rank[result.state.status]).toBeGreaterThanOrEqual(rank[before.status]);
          state = result.state;
          events.push(...result.events);
          for (const [p, cm] of Object.entries(state.commitments)) {
            firstCommit[p] ??= cm.deltaHash;
            expect(cm.deltaHash).toBe(firstCommit[p]);
          }
        }
        const history = [...run([start]).events, ...events];
        expect(replayRound(history)).toEqual(state);
        if (state.status === 'Completed') {
          expect(Object.keys(state.signatures).sort()).toEqual([...ids].sort());
          expect(Object.keys(state.commitments).sort()).toEqual([...ids].sort());
        }
      }),
      { numRuns: 200 },
    );
  });
});
