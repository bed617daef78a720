import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { StoredDmlEvent } from '../events/index.js';
import {
  type HeadRounds,
  type OwnAggregate,
  type PartyAction,
  type PartyObservation,
  type PartyRoundsOwn,
  type EpochCarryOver,
  actionProgress,
  addHeadRounds,
  decidePartyAction,
  emptyHeadRounds,
  emptyPartyRounds,
  foldPartyRounds,
} from './party-round-decider.js';
import type {
  CarryOverDatum,
  DeltaCommitmentDatum,
  RoundAcknowledgementDatum,
  RoundDatum,
} from './round-datum.js';

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

// ---- epochs after the first: the carry-over ---------------------------------------------------

const PREVIOUS_AGGREGATE = hex('agg-previous');
const carryOverOf = (
  party: string,
  round: number,
  globalAdapterHash: string,
  previous = PREVIOUS_AGGREGATE,
) =>
  ({
    kind: 'carry-over',
    cohortId: COHORT,
    epoch: EPOCH,
    round,
    party,
    globalAdapterHash,
    previousAggregateHash: previous,
    storageKey: `k/${party}/start`,
    bytes: 100,
    readGrant: { url: `file:///${party}`, expiresAt: '2030-01-01T00:00:00.000Z' },
  }) satisfies CarryOverDatum;

/** The invariants of an epoch's start, on top of checkInvariants. */
const checkCarryOverInvariants = (o: PartyObservation, action: PartyAction) => {
  checkInvariants(o, action);
  const carry = o.carryOver!;
  const first = o.firstRound;
  if (action.kind === 'start-round' && action.round === first) {
    if (action.adopt) {
      // only a peer's carry-over, and only one naming the aggregate layer 1 holds
      expect(action.adopt.party).not.toBe(o.me);
      expect(action.adopt.previousAggregateHash).toBe(carry.aggregateHash);
      expect(o.head.carryOvers.get(action.adopt.party)).toEqual(action.adopt);
    } else {
      // from its own history: only when it holds the previous round and its aggregate is layer 1's
      expect(carry.own).toEqual({ aggregateHash: carry.aggregateHash, available: true });
    }
  }
  if (action.kind === 'publish-carry-over') {
    // once, and the adapter it started from
    expect(o.head.carryOvers.has(o.me)).toBe(false);
    expect(action.globalAdapterHash).toBe(o.own.started.get(first));
    expect(action.previousAggregateHash).toBe(carry.aggregateHash);
  }
  if (action.kind === 'train-and-commit' && action.round === first)
    // never trains the epoch's first round before its carry-over is in the head
    expect(o.head.carryOvers.get(o.me)?.globalAdapterHash).toBe(o.own.started.get(first));
  if (
    (action.kind === 'aggregate' || action.kind === 'acknowledge') &&
    action.round === first &&
    !o.head.acknowledgements.get(first)?.has(o.me)
  )
    // nobody aggregates or signs before every party is seen to start from the same adapter
    for (const p of o.parties)
      expect(o.head.carryOvers.get(p)?.globalAdapterHash).toBe(o.own.started.get(first));
};

describe('decidePartyAction, an epoch after the first', () => {
  it('continuing parties and newcomers start from one adapter, each carry-over once, whatever the crashes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 0, max: 2 }),
        fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { maxLength: 150 }),
        (continuing, newcomers, firstRound, extra, filesKept, schedule) => {
          const n = continuing + newcomers;
          const lastRound = firstRound + extra;
          const w = newWorld(n, lastRound);
          // the parties who were in the previous epoch know its last round; the others are new
          const carryOf = (i: number): EpochCarryOver => ({
            aggregateHash: PREVIOUS_AGGREGATE,
            // (at least one of them kept its adapter files: else no one can start the epoch)
            ...(i < continuing
              ? { own: { aggregateHash: PREVIOUS_AGGREGATE, available: i === 0 || filesKept[i]! } }
              : {}),
          });
          const trueStart = hex(`global-${firstRound}`);
          const observeAt = (me: string): PartyObservation => ({
            ...observe(w, me),
            firstRound,
            carryOver: carryOf(w.parties.indexOf(me)),
          });
          const progress = new Map(w.parties.map((p) => [p, -1]));
          const step = (me: string, crash: boolean) => {
            const o = observeAt(me);
            const action = decidePartyAction(o);
            checkCarryOverInvariants(o, action);
            const at = actionProgress(action);
            expect(at).toBeGreaterThanOrEqual(progress.get(me)!);
            progress.set(me, at);
            if (action.kind === 'start-round' && action.round === firstRound)
              // from its own history (the true one) or the adopted carry-over's adapter
              w.own.get(me)!.started.set(firstRound, action.adopt?.globalAdapterHash ?? trueStart);
            else if (action.kind === 'publish-carry-over')
              post(w, carryOverOf(me, firstRound, action.globalAdapterHash));
            else act(w, me, action, crash);
            return action;
          };
          for (const [i, crash] of schedule) step(w.parties[i % n]!, crash);
          for (let turn = 0; turn < n * (extra + 1) * 12 + 12; turn++) {
            const actions = w.parties.map((p) => step(p, false));
            if (actions.every((a) => a.kind === 'epoch-done')) break;
          }
          for (const p of w.parties) {
            expect(decidePartyAction(observeAt(p)).kind).toBe('epoch-done');
            // every party, newcomer or not, started the epoch from the same adapter
            expect(w.own.get(p)!.started.get(firstRound)).toBe(trueStart);
          }
          const keys = w.posted.map((d) => `${d.kind}/${d.party}/${d.round}`);
          expect(new Set(keys).size).toBe(keys.length);
          expect(keys.length).toBe(2 * n * (extra + 1) + n);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('keeps its invariants on arbitrary observations of an epoch start', () => {
    const parties = ['p0', 'p1', 'p2'];
    const hashes = fc.constantFrom(hex('g-true'), hex('g-other'));
    fc.assert(
      fc.property(
        fc.constantFrom(...parties),
        fc.option(
          fc.record({
            aggregateHash: fc.constantFrom(PREVIOUS_AGGREGATE, hex('agg-x')),
            available: fc.boolean(),
          }),
          {
            nil: undefined,
          },
        ),
        fc.option(hashes, { nil: undefined }),
        fc.array(
          fc.tuple(fc.constantFrom(...parties), hashes, fc.constantFrom(PREVIOUS_AGGREGATE, hex('agg-x'))),
          {
            maxLength: 4,
          },
        ),
        fc.array(fc.tuple(fc.constantFrom(...parties), fc.boolean()), { maxLength: 6 }),
        fc.uniqueArray(fc.constantFrom('committed', 'aggregated', 'signed'), { maxLength: 3 }),
        (me, own, started, carries, posts, steps) => {
          const round = 3;
          const ownRounds: PartyRoundsOwn = {
            started: started ? new Map([[round, started]]) : new Map(),
            committed: steps.includes('committed')
              ? new Map([[round, commitment(me, round).deltaHash]])
              : new Map(),
            aggregated: steps.includes('aggregated')
              ? new Map([[round, { aggregateHash: hex(`agg-${round}`), contributors: parties, losses: [] }]])
              : new Map(),
            signed: steps.includes('signed') ? new Map([[round, hex(`agg-${round}`)]]) : new Map(),
          };
          const head = addHeadRounds(
            emptyHeadRounds(),
            [
              ...carries.map(([p, g, prev]) => carryOverOf(p, round, g, prev)),
              ...posts.map(([p, isCommit]) => (isCommit ? commitment(p, round) : acknowledgement(p, round))),
            ],
            { cohortId: COHORT, epoch: EPOCH },
          );
          const o: PartyObservation = {
            me,
            parties,
            firstRound: round,
            lastRound: round,
            headOpen: true,
            own: ownRounds,
            head,
            carryOver: { aggregateHash: PREVIOUS_AGGREGATE, ...(own ? { own } : {}) },
          };
          checkCarryOverInvariants(o, decidePartyAction(o));
        },
      ),
    );
  });

  describe('the cases', () => {
    const parties = ['a', 'b', 'c'];
    const at = (
      me: string,
      carry: EpochCarryOver,
      own: PartyRoundsOwn,
      datums: RoundDatum[],
    ): PartyObservation => ({
      me,
      parties,
      firstRound: 2,
      lastRound: 2,
      headOpen: true,
      own,
      head: addHeadRounds(emptyHeadRounds(), datums, { cohortId: COHORT, epoch: EPOCH }),
      carryOver: carry,
    });
    const kept = { aggregateHash: PREVIOUS_AGGREGATE, available: true };

    it('a continuing party starts from its own history, then publishes its carry-over, then trains', () => {
      const none = emptyPartyRounds();
      expect(decidePartyAction(at('a', { aggregateHash: PREVIOUS_AGGREGATE, own: kept }, none, []))).toEqual({
        kind: 'start-round',
        round: 2,
      });
      const started: PartyRoundsOwn = { ...none, started: new Map([[2, 'g2']]) };
      expect(
        decidePartyAction(at('a', { aggregateHash: PREVIOUS_AGGREGATE, own: kept }, started, [])),
      ).toEqual({
        kind: 'publish-carry-over',
        round: 2,
        globalAdapterHash: 'g2',
        previousAggregateHash: PREVIOUS_AGGREGATE,
      });
      expect(
        decidePartyAction(
          at('a', { aggregateHash: PREVIOUS_AGGREGATE, own: kept }, started, [carryOverOf('a', 2, 'g2')]),
        ),
      ).toEqual({ kind: 'train-and-commit', round: 2 });
    });

    it("a newcomer waits for a carry-over, adopts one naming layer 1's aggregate, never one that does not", () => {
      const carry = { aggregateHash: PREVIOUS_AGGREGATE };
      expect(decidePartyAction(at('c', carry, emptyPartyRounds(), []))).toEqual({
        kind: 'wait',
        round: 2,
        for: 'starting-adapter',
        missing: ['a', 'b'],
      });
      const wrong = carryOverOf('a', 2, 'gx', hex('agg-x'));
      const right = carryOverOf('b', 2, 'g2');
      expect(decidePartyAction(at('c', carry, emptyPartyRounds(), [wrong]))).toMatchObject({
        kind: 'wait',
        missing: ['b'],
      });
      expect(decidePartyAction(at('c', carry, emptyPartyRounds(), [wrong, right]))).toEqual({
        kind: 'start-round',
        round: 2,
        adopt: right,
      });
      // every peer posted and none names layer 1's aggregate: refused, naming them
      expect(
        decidePartyAction(
          at('c', carry, emptyPartyRounds(), [wrong, carryOverOf('b', 2, 'gy', hex('agg-y'))]),
        ),
      ).toMatchObject({ kind: 'refuse', flagged: ['a', 'b'] });
    });

    it('a party whose files are gone adopts like a newcomer; one whose aggregate differs from layer 1 stops', () => {
      const lost = { aggregateHash: PREVIOUS_AGGREGATE, own: { ...kept, available: false } };
      expect(decidePartyAction(at('a', lost, emptyPartyRounds(), [carryOverOf('b', 2, 'g2')]))).toMatchObject(
        {
          kind: 'start-round',
          adopt: { party: 'b' },
        },
      );
      const forked = { aggregateHash: PREVIOUS_AGGREGATE, own: { ...kept, aggregateHash: hex('agg-x') } };
      expect(decidePartyAction(at('a', forked, emptyPartyRounds(), [])).kind).toBe('inconsistent');
    });

    it('refuses to aggregate when a peer starts the epoch from another adapter, naming it', () => {
      const own: PartyRoundsOwn = {
        ...emptyPartyRounds(),
        started: new Map([[2, 'g2']]),
        committed: new Map([[2, commitment('a', 2).deltaHash]]),
      };
      const all = parties.map((p) => commitment(p, 2));
      const carries = [carryOverOf('a', 2, 'g2'), carryOverOf('b', 2, 'g2')];
      expect(
        decidePartyAction(
          at('a', { aggregateHash: PREVIOUS_AGGREGATE, own: kept }, own, [...carries, ...all]),
        ),
      ).toEqual({ kind: 'wait', round: 2, for: 'carry-overs', missing: ['c'] });
      expect(
        decidePartyAction(
          at('a', { aggregateHash: PREVIOUS_AGGREGATE, own: kept }, own, [
            ...carries,
            carryOverOf('c', 2, 'g-other'),
            ...all,
          ]),
        ),
      ).toMatchObject({ kind: 'refuse', round: 2, flagged: ['c'] });
      expect(
        decidePartyAction(
          at('a', { aggregateHash: PREVIOUS_AGGREGATE, own: kept }, own, [
            ...carries,
            carryOverOf('c', 2, 'g2'),
            ...all,
          ]),
        ),
      ).toEqual({ kind: 'aggregate', round: 2 });
    });
  });
});
