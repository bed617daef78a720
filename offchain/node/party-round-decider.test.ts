import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { StoredDmlEvent } from '../events/index.js';
import {
  type HeadRounds,
  type OwnAggregate,
  type PartyAction,
  type PartyObservation,
  type PartyRoundsOwn,
  actionProgress,
  addHeadRounds,
  decidePartyAction,
  emptyHeadRounds,
  emptyPartyRounds,
  foldPartyRounds,
} from './party-round-decider.js';
import type { DeltaCommitmentDatum, RoundAcknowledgementDatum, RoundDatum } from './round-datum.js';

const COHORT = 'c0';
const EPOCH = 1;
const hex = (s: string) => Buffer.from(s).toString('hex');

const commitment = (party: string, round: number, tag = ''): DeltaCommitmentDatum => ({
  kind: 'commitment',
  cohortId: COHORT,
  epoch: EPOCH,
  round,
  party,
  deltaHash: hex(`delta-${party}-${round}${tag}`),
  storageKey: `k/${party}/${round}${tag}`,
  sampleCount: 10,
  bytes: 100,
  metrics: { loss: 1, accuracy: 0.5 },
});
const acknowledgement = (party: string, round: number): RoundAcknowledgementDatum => ({
  kind: 'acknowledgement',
  cohortId: COHORT,
  epoch: EPOCH,
  round,
  party,
  aggregateHash: hex(`agg-${round}`),
  signature: hex(`sig-${party}-${round}`),
});

/** A mutable world: the head's confirmed datums (in order) and each party's own stream, folded. */
interface World {
  readonly parties: string[];
  readonly lastRound: number;
  head: HeadRounds;
  readonly posted: RoundDatum[];
  readonly own: Map<
    string,
    {
      started: Map<number, string>;
      committed: Map<number, string>;
      aggregated: Map<number, OwnAggregate>;
      signed: Map<number, string>;
    }
  >;
}

const newWorld = (n: number, lastRound: number): World => {
  const parties = Array.from({ length: n }, (_, i) => `p${i}`);
  return {
    parties,
    lastRound,
    head: emptyHeadRounds(),
    posted: [],
    own: new Map(
      parties.map((p) => [
        p,
        { started: new Map(), committed: new Map(), aggregated: new Map(), signed: new Map() },
      ]),
    ),
  };
};

const observe = (w: World, me: string): PartyObservation => ({
  me,
  parties: w.parties,
  firstRound: 1,
  lastRound: w.lastRound,
  headOpen: true,
  own: w.own.get(me)!,
  head: w.head,
});

const post = (w: World, d: RoundDatum) => {
  w.posted.push(d);
  w.head = addHeadRounds(w.head, [d], { cohortId: COHORT, epoch: EPOCH });
};

/**
 * Carries out an action as the loop would; `crash` kills the party after its head post and before
 * the event append (the worst window), so that only the head knows.
 */
const act = (w: World, me: string, action: PartyAction, crash: boolean): void => {
  const own = w.own.get(me)!;
  switch (action.kind) {
    case 'start-round':
      own.started.set(action.round, hex(`global-${action.round}`));
      return;
    case 'train-and-commit': {
      const c = commitment(me, action.round);
      post(w, c);
      if (!crash) own.committed.set(action.round, c.deltaHash);
      return;
    }
    case 'record-commitment':
      own.committed.set(action.round, action.commitment.deltaHash);
      return;
    case 'aggregate':
      own.aggregated.set(action.round, {
        aggregateHash: hex(`agg-${action.round}`),
        contributors: [...w.parties],
        losses: w.parties.map((partyId) => ({ partyId, loss: 1 })),
      });
      return;
    case 'acknowledge':
      post(w, acknowledgement(me, action.round));
      if (!crash) own.signed.set(action.round, action.aggregateHash);
      return;
    case 'record-acknowledgement':
      own.signed.set(action.round, action.acknowledgement.aggregateHash);
      return;
    default:
      return;
  }
};

/** The invariants every decision must keep, whatever the observation. */
const checkInvariants = (o: PartyObservation, action: PartyAction) => {
  if (action.kind === 'train-and-commit')
    // never a second commitment for a round the head already holds one of this party for
    expect(o.head.commitments.get(action.round)?.has(o.me) ?? false).toBe(false);
  if (action.kind === 'acknowledge') {
    // never acknowledge before every commitment of the round is confirmed
    for (const p of o.parties) expect(o.head.commitments.get(action.round)?.has(p)).toBe(true);
    expect(o.head.acknowledgements.get(action.round)?.has(o.me) ?? false).toBe(false);
  }
  if (action.kind === 'start-round' && action.round > o.firstRound)
    for (const p of o.parties) expect(o.head.acknowledgements.get(action.round - 1)?.has(p)).toBe(true);
  // deciding twice on the same observation gives the same action
  expect(decidePartyAction(o)).toEqual(action);
};

describe('decidePartyAction, in a world of parties with crashes', () => {
  it('keeps its invariants, moves only forward, finishes the epoch and posts each datum exactly once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { maxLength: 120 }),
        (n, lastRound, schedule) => {
          const w = newWorld(n, lastRound);
          const progress = new Map(w.parties.map((p) => [p, -1]));
          const step = (me: string, crash: boolean) => {
            const o = observe(w, me);
            const action = decidePartyAction(o);
            checkInvariants(o, action);
            const at = actionProgress(action);
            expect(at).toBeGreaterThanOrEqual(progress.get(me)!);
            progress.set(me, at);
            act(w, me, action, crash);
            return action;
          };
          for (const [i, crash] of schedule) step(w.parties[i % n]!, crash);
          // then everyone runs without crashes until the epoch is done
          for (let turn = 0; turn < n * lastRound * 10 + 10; turn++) {
            const actions = w.parties.map((p) => step(p, false));
            if (actions.every((a) => a.kind === 'epoch-done')) break;
          }
          for (const p of w.parties) expect(decidePartyAction(observe(w, p)).kind).toBe('epoch-done');
          const keys = w.posted.map((d) => `${d.kind}/${d.party}/${d.round}`);
          expect(new Set(keys).size).toBe(keys.length);
          expect(keys.length).toBe(2 * n * lastRound);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('keeps its invariants on arbitrary observations', () => {
    const parties = ['p0', 'p1', 'p2'];
    const roundSet = fc.uniqueArray(fc.integer({ min: 1, max: 3 }), { maxLength: 3 });
    const partyRounds = fc.record({
      started: roundSet,
      committed: roundSet,
      aggregated: roundSet,
      signed: roundSet,
    });
    const posts = fc.array(
      fc.tuple(fc.constantFrom(...parties), fc.integer({ min: 1, max: 3 }), fc.boolean()),
      {
        maxLength: 18,
      },
    );
    fc.assert(
      fc.property(fc.constantFrom(...parties), partyRounds, posts, (me, rounds, datums) => {
        const own: PartyRoundsOwn = {
          started: new Map(rounds.started.map((r) => [r, hex(`g${r}`)])),
          committed: new Map(rounds.committed.map((r) => [r, commitment(me, r).deltaHash])),
          aggregated: new Map(
            rounds.aggregated.map((r) => [
              r,
              { aggregateHash: hex(`agg-${r}`), contributors: parties, losses: [] },
            ]),
          ),
          signed: new Map(rounds.signed.map((r) => [r, hex(`agg-${r}`)])),
        };
        const head = addHeadRounds(
          emptyHeadRounds(),
          datums.map(([p, r, isCommit]) => (isCommit ? commitment(p, r) : acknowledgement(p, r))),
          { cohortId: COHORT, epoch: EPOCH },
        );
        const o: PartyObservation = { me, parties, firstRound: 1, lastRound: 3, headOpen: true, own, head };
        checkInvariants(o, decidePartyAction(o));
      }),
    );
  });
});

describe('decidePartyAction, the resume cases', () => {
  const parties = ['a', 'b', 'c'];
  const base = (own: PartyRoundsOwn, datums: RoundDatum[]): PartyObservation => ({
    me: 'a',
    parties,
    firstRound: 1,
    lastRound: 2,
    headOpen: true,
    own,
    head: addHeadRounds(emptyHeadRounds(), datums, { cohortId: COHORT, epoch: EPOCH }),
  });
  const started = (): PartyRoundsOwn => ({ ...emptyPartyRounds(), started: new Map([[1, 'g1']]) });

  it('killed while training (nothing in the head): trains again', () => {
    expect(decidePartyAction(base(started(), [commitment('b', 1)]))).toEqual({
      kind: 'train-and-commit',
      round: 1,
    });
  });

  it('killed after the head post, before the event: records the head commitment, never posts another', () => {
    const mine = commitment('a', 1);
    expect(decidePartyAction(base(started(), [mine]))).toEqual({
      kind: 'record-commitment',
      round: 1,
      commitment: mine,
    });
  });

  it('a later, different commitment of the same party does not replace the first (equivocation)', () => {
    const first = commitment('a', 1);
    const head = addHeadRounds(emptyHeadRounds(), [first, commitment('a', 1, 'x')], {
      cohortId: COHORT,
      epoch: EPOCH,
    });
    expect(head.commitments.get(1)!.get('a')).toEqual(first);
  });

  it('killed between aggregate and acknowledgement: acknowledges once; after the post, records it', () => {
    const own: PartyRoundsOwn = {
      ...started(),
      committed: new Map([[1, commitment('a', 1).deltaHash]]),
      aggregated: new Map([[1, { aggregateHash: hex('agg-1'), contributors: parties, losses: [] }]]),
    };
    const all = parties.map((p) => commitment(p, 1));
    expect(decidePartyAction(base(own, all))).toEqual({
      kind: 'acknowledge',
      round: 1,
      aggregateHash: hex('agg-1'),
    });
    const ack = acknowledgement('a', 1);
    expect(decidePartyAction(base(own, [...all, ack]))).toEqual({
      kind: 'record-acknowledgement',
      round: 1,
      acknowledgement: ack,
    });
  });

  it('waits for peers, refuses a flagged aggregate, and says when the log and the head disagree', () => {
    const own: PartyRoundsOwn = { ...started(), committed: new Map([[1, commitment('a', 1).deltaHash]]) };
    expect(decidePartyAction(base(own, [commitment('a', 1)]))).toEqual({
      kind: 'wait',
      round: 1,
      for: 'commitments',
      missing: ['b', 'c'],
    });
    expect(decidePartyAction(base(own, [])).kind).toBe('inconsistent');
    const flagged: PartyRoundsOwn = {
      ...own,
      aggregated: new Map([[1, { aggregateHash: hex('agg-1'), contributors: ['a', 'b'], losses: [] }]]),
    };
    expect(
      decidePartyAction(
        base(
          flagged,
          parties.map((p) => commitment(p, 1)),
        ),
      ),
    ).toEqual({
      kind: 'refuse',
      round: 1,
      flagged: ['c'],
    });
  });
});

describe('foldPartyRounds', () => {
  it('reads the steps of its own cohort, epoch and party only', () => {
    let position = 0;
    const ev = (type: string, data: Record<string, unknown>) =>
      ({ type, data, position: ++position }) as unknown as StoredDmlEvent;
    const key = { cohortId: COHORT, epoch: EPOCH, round: 1 };
    const own = foldPartyRounds(
      [
        ev('training.RoundStarted', { ...key, globalAdapterHash: 'g1' }),
        ev('training.RoundStarted', { ...key, epoch: 2, round: 2, globalAdapterHash: 'gx' }),
        ev('training.DeltaCommitted', { ...key, party: 'a', deltaHash: 'd1' }),
        ev('training.DeltaCommitted', { ...key, party: 'b', deltaHash: 'd2' }),
        ev('training.AggregateComputed', {
          ...key,
          aggregateHash: 'h',
          contributors: ['a'],
          computedBy: 'a',
        }),
        ev('training.ContributionScored', { ...key, scorer: 'a', party: 'a', score: -0.5 }),
        ev('training.SnapshotSigned', { ...key, party: 'a', aggregateHash: 'h' }),
      ],
      { cohortId: COHORT, epoch: EPOCH, me: 'a' },
    );
    expect([...own.started]).toEqual([[1, 'g1']]);
    expect([...own.committed]).toEqual([[1, 'd1']]);
    expect(own.aggregated.get(1)).toEqual({
      aggregateHash: 'h',
      contributors: ['a'],
      losses: [{ partyId: 'a', loss: 0.5 }],
    });
    expect([...own.signed]).toEqual([[1, 'h']]);
  });
});
