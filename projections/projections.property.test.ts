import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { type NewDmlEvent, type StoredDmlEvent, createEvent, hydraOutputEvent } from '../offchain/index.js';
import { escrowLedgerProjection, ledgerBalances } from './escrow-ledger.js';
import { headLifecycleProjection } from './head-lifecycle.js';
import { recordedDirections, reputationProjection } from './reputation.js';
import { type Projection, foldEvents } from './projection.js';
import {
  ALL_PROJECTIONS,
  CohortProjections,
  applyRunToAll,
  applyToAll,
  initialProjectionStates,
} from './replay.js';

// Small domains so that generated histories collide: the same parties, heads, rounds and amounts.
const COHORTS = ['c1', 'c2'];
const PARTIES = ['a1', 'b2', 'c3', 'd4'];
const HEADS = ['0a', '0b'];
const hash = fc.constantFrom(...['11', '22', '33'].map((h) => h.repeat(32)));
const party = fc.constantFrom(...PARTIES);
const cohort = fc.constantFrom(...COHORTS);
const amount = fc.constantFrom('0', '1', '5', '10', '100');
const l1 = { txId: '77'.repeat(32), slot: 1 };

const hydraArb: fc.Arbitrary<NewDmlEvent> = fc
  .record({
    cohortId: cohort,
    headId: fc.constantFrom(...HEADS),
    tag: fc.constantFrom(
      'HeadIsInitializing',
      'Committed',
      'HeadIsOpen',
      'HeadIsAborted',
      'TxValid',
      'TxInvalid',
      'SnapshotConfirmed',
      'HeadIsClosed',
      'HeadIsContested',
      'ReadyToFanout',
      'HeadIsFinalized',
      'PeerConnected',
    ),
    n: fc.nat(5),
    vkey: fc.constantFrom('aa', 'bb', 'cc'),
  })
  .map(({ cohortId, headId, tag, n, vkey }) =>
    hydraOutputEvent(cohortId, {
      tag,
      headId,
      parties: [{ vkey: 'aa' }, { vkey: 'bb' }],
      party: { vkey },
      utxo: {},
      transactionId: 'ee',
      transaction: { txId: 'ee' },
      validationError: { reason: 'bad' },
      snapshot: { number: n, confirmed: [] },
      signatures: { multiSignature: [] },
      snapshotNumber: n,
      contestationDeadline: '2026-01-01T00:00:00Z',
      peer: 'p',
    }),
  );

const l1Arb: fc.Arbitrary<NewDmlEvent> = fc.oneof(
  fc.record({ cohortId: cohort, minDeposit: amount }).map(({ cohortId, minDeposit }) =>
    createEvent('l1.CohortCreated', {
      cohortId,
      ...l1,
      creator: 'a1',
      params: {
        model: 'm',
        rounds: 3,
        minDeposit,
        contestationPeriodMs: 1000,
        aggregation: 'mean',
        loraRank: 4,
      },
    }),
  ),
  fc
    .record({ cohortId: cohort, party, deposit: amount })
    .map((d) => createEvent('l1.PartyJoined', { ...d, ...l1, hydraKey: 'ab' })),
  fc
    .record({
      cohortId: cohort,
      outcome: fc.constantFrom('Completed', 'NextEpoch', 'Premature') as fc.Arbitrary<'Completed'>,
    })
    .map((d) => createEvent('l1.HeadFinalized', { ...d, ...l1, epoch: 0 })),
  fc
    .record({ cohortId: cohort, party, amount })
    .map((d) => createEvent('l1.DepositClaimed', { ...d, ...l1 })),
  fc
    .record({ cohortId: cohort, party, amount })
    .map((d) => createEvent('l1.DepositRefunded', { ...d, ...l1 })),
  fc
    .record({
      cohortId: cohort,
      accused: party,
      voters: fc.uniqueArray(party, { minLength: 1, maxLength: 4 }),
      amount,
      shareAmounts: fc.array(amount, { minLength: 1, maxLength: 3 }),
      returnedAmounts: fc.array(amount, { maxLength: 4 }),
    })
    .map(({ cohortId, accused, voters, amount: taken, shareAmounts, returnedAmounts }) =>
      createEvent('l1.PartySlashed', {
        cohortId,
        ...l1,
        accused,
        voters,
        amount: taken,
        shares: shareAmounts.map((a, i) => ({ party: voters[i % voters.length]!, amount: a })),
        returned: returnedAmounts.map((a, i) => ({ party: voters[i % voters.length]!, amount: a })),
      }),
    ),
);

const trainingArb: fc.Arbitrary<NewDmlEvent> = fc.oneof(
  fc
    .record({ cohortId: cohort, round: fc.nat(3), h: hash })
    .map(({ cohortId, round, h }) =>
      createEvent('training.RoundStarted', { cohortId, epoch: 0, round, globalAdapterHash: h }),
    ),
  fc
    .record({
      cohortId: cohort,
      round: fc.nat(3),
      party,
      h: hash,
      loss: fc.double({ min: 0, max: 3, noNaN: true }),
    })
    .map(({ cohortId, round, party: p, h, loss }) =>
      createEvent('training.DeltaCommitted', {
        cohortId,
        epoch: 0,
        round,
        party: p,
        deltaHash: h,
        storageKey: `k/${h}`,
        sampleCount: 10,
        bytes: 100,
        metrics: { loss, accuracy: 0.5 },
      }),
    ),
  fc.record({ cohortId: cohort, round: fc.nat(3), h: hash }).map(({ cohortId, round, h }) =>
    createEvent('training.AggregateComputed', {
      cohortId,
      epoch: 0,
      round,
      aggregateHash: h,
      rule: 'mean',
      contributors: PARTIES,
      computedBy: 'a1',
    }),
  ),
  fc
    .record({
      cohortId: cohort,
      round: fc.nat(3),
      scorer: party,
      party,
      score: fc.double({ min: -1, max: 1, noNaN: true }),
      // old events without the direction evidence, and new ones with it
      similarity: fc.option(fc.double({ min: -1, max: 1, noNaN: true }), { nil: undefined }),
    })
    .map(({ similarity, ...d }) =>
      createEvent('training.ContributionScored', {
        ...d,
        epoch: 0,
        ...(similarity === undefined
          ? {}
          : { metrics: { loss: 1, accuracy: 0.5, similarity, dimensions: 100 } }),
      }),
    ),
);

/** Positions 1..n, as a log would give them. */
const stored = (events: readonly NewDmlEvent[]): StoredDmlEvent[] =>
  events.map((e, i) => ({ ...e, stream: 's', streamVersion: i, position: i + 1 }) as StoredDmlEvent);

const logArb = fc.array(fc.oneof(hydraArb, l1Arb, trainingArb), { maxLength: 60 }).map(stored);
const foldAll = (events: readonly StoredDmlEvent[], from = initialProjectionStates()) =>
  events.reduce(applyToAll, from);

// Bursts of scores of one round, as a round's n x n ContributionScored events arrive
const burstArb = fc
  .record({ cohortId: cohort, round: fc.nat(3), n: fc.integer({ min: 1, max: 12 }), seed: fc.nat() })
  .map(({ cohortId, round, n, seed }) =>
    Array.from({ length: n }, (_, i) =>
      createEvent('training.ContributionScored', {
        cohortId,
        epoch: 0,
        round,
        scorer: PARTIES[(seed + i) % PARTIES.length]!,
        party: PARTIES[(seed * 7 + i * 3) % PARTIES.length]!,
        score: ((seed + i) % 13) / 7 - 0.9,
        ...(seed % 3 === 0
          ? {}
          : {
              metrics: {
                loss: 1,
                accuracy: 0.5,
                similarity: ((seed + 5 * i) % 11) / 10 - 0.5,
                dimensions: 64,
              },
            }),
      }),
    ),
  );
const mixedArb = fc
  .array(
    fc.oneof(
      hydraArb.map((e) => [e]),
      l1Arb.map((e) => [e]),
      trainingArb.map((e) => [e]),
      burstArb,
    ),
    {
      maxLength: 25,
    },
  )
  .map((chunks) => stored(chunks.flat()));

describe('projection properties', () => {
  it('replaying the log twice equals replaying it once (every projection)', () => {
    fc.assert(
      fc.property(logArb, (log) => {
        const once = foldAll(log);
        expect(foldAll(log, once)).toEqual(once);
      }),
      { numRuns: 150 },
    );
  });

  it('redelivered events (at-least-once) change nothing', () => {
    fc.assert(
      fc.property(logArb, fc.array(fc.nat(), { maxLength: 30 }), (log, picks) => {
        // after event i, redeliver some earlier event j <= i
        const withRedeliveries: StoredDmlEvent[] = [];
        log.forEach((e, i) => {
          withRedeliveries.push(e);
          if (picks[i] !== undefined) withRedeliveries.push(log[picks[i]! % (i + 1)]!);
        });
        expect(foldAll(withRedeliveries)).toEqual(foldAll(log));
      }),
      { numRuns: 150 },
    );
  });

  it('the escrow ledger balances after every event, whatever the chain follower reports', () => {
    fc.assert(
      fc.property(fc.array(l1Arb, { maxLength: 80 }).map(stored), (log) => {
        let current = { position: 0, state: escrowLedgerProjection.initial };
        for (const event of log) {
          current = foldEvents(escrowLedgerProjection, [event], current);
          for (const ledger of Object.values(current.state.cohorts)) {
            expect(ledgerBalances(ledger)).toBe(true);
            for (const a of Object.values(ledger.accounts))
              expect(BigInt(a.inEscrow)).toBeGreaterThanOrEqual(0n);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('no transition leaves Final', () => {
    fc.assert(
      fc.property(fc.array(hydraArb, { maxLength: 80 }).map(stored), (log) => {
        let current = { position: 0, state: headLifecycleProjection.initial };
        const final = new Set<string>();
        for (const event of log) {
          current = foldEvents(headLifecycleProjection, [event], current);
          for (const headId of final) expect(current.state.heads[headId]!.status).toBe('Final');
          for (const head of Object.values(current.state.heads))
            if (head.status === 'Final') final.add(head.headId);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('folds never mutate the state they are given', () => {
    fc.assert(
      fc.property(logArb, (log) => {
        let state = initialProjectionStates();
        for (const event of log) {
          const frozen = JSON.stringify(state);
          const next = applyToAll(state, event);
          expect(JSON.stringify(state)).toBe(frozen);
          state = next;
        }
      }),
      { numRuns: 50 },
    );
  });

  it('folding runs at once (replay, evolveMany) equals folding event by event, and mutates nothing', () => {
    fc.assert(
      fc.property(mixedArb, fc.array(fc.nat(80), { maxLength: 4 }), (log, cuts) => {
        const one = new CohortProjections();
        for (const event of log) one.apply(event);
        const many = new CohortProjections();
        const bounds = [0, ...[...cuts].sort((a, b) => a - b), log.length];
        for (let i = 0; i + 1 < bounds.length; i++) many.applyMany(log.slice(bounds[i], bounds[i + 1]));
        expect(many.toJSON()).toEqual(one.toJSON());
        // a run folded into states that already hold part of it, without touching them
        const half = foldAll(log.slice(0, Math.floor(log.length / 2)));
        const frozen = JSON.stringify(half);
        expect(applyRunToAll(half, log)).toEqual(foldAll(log));
        expect(JSON.stringify(half)).toBe(frozen);
      }),
      { numRuns: 150 },
    );
  });

  it('each projection folds a run (evolveMany, drafts) exactly as evolve event by event, key order included', () => {
    fc.assert(
      fc.property(mixedArb, fc.nat(60), (log, split) => {
        for (const projection of Object.values(ALL_PROJECTIONS) as Projection<unknown>[]) {
          const byEvent = log.reduce((s, e) => projection.evolve(s, e), projection.initial);
          const byRun = projection.evolveMany ? projection.evolveMany(projection.initial, log) : byEvent;
          expect(JSON.stringify(byRun)).toBe(JSON.stringify(byEvent));
          expect(byRun).toEqual(byEvent);
          // from a state built by evolve, folding the rest as one run leaves that state untouched
          const cut = split % (log.length + 1);
          const head = log.slice(0, cut).reduce((s, e) => projection.evolve(s, e), projection.initial);
          const frozen = JSON.stringify(head);
          const rest = projection.evolveMany ? projection.evolveMany(head, log.slice(cut)) : byEvent;
          expect(JSON.stringify(rest)).toBe(JSON.stringify(byEvent));
          expect(JSON.stringify(head)).toBe(frozen);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("the parties' recorded direction verdict does not depend on the order the scores arrive in", () => {
    // a cohort's rounds of n x n scores with similarities, delivered in any order
    const scoresArb = fc
      .array(
        fc.record({
          round: fc.nat(4),
          scorer: party,
          party,
          similarity: fc.double({ min: -1, max: 1, noNaN: true }),
        }),
        { maxLength: 60 },
      )
      .map((xs) =>
        // one judgement per (round, scorer, party): a repeat would replace, which is order-dependent by design
        [...new Map(xs.map((x) => [`${x.round}/${x.scorer}/${x.party}`, x])).values()].map((x) =>
          createEvent('training.ContributionScored', {
            cohortId: 'c1',
            epoch: 0,
            round: x.round,
            scorer: x.scorer,
            party: x.party,
            score: 0,
            metrics: { loss: 1, accuracy: 0.5, similarity: x.similarity, dimensions: 400 },
          }),
        ),
      );
    fc.assert(
      fc.property(scoresArb, fc.nat(), (events, seed) => {
        const shuffled = events
          .map((e, i) => ({ e, k: (i * 7919 + seed) % 1009 }))
          .sort((a, b) => a.k - b.k)
          .map((x) => x.e);
        const verdict = (log: readonly NewDmlEvent[]) => {
          const { state } = foldEvents(reputationProjection, stored(log));
          return recordedDirections(state.cohorts.c1 ?? {});
        };
        const once = verdict(events);
        expect(verdict(shuffled)).toEqual(once);
        // the verdict only counts judgements of others, and each round's median of them
        for (const p of once.parties) expect(p.rounds).toBeLessThanOrEqual(5);
      }),
      { numRuns: 150 },
    );
  });

  it('names four projections', () => {
    expect(Object.values(ALL_PROJECTIONS).map((p) => p.name)).toEqual([
      'head-lifecycle',
      'escrow-ledger',
      'training-history',
      'reputation',
    ]);
  });
});
