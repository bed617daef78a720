import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DmlError } from '../errors.js';
import {
  type CohortCommand,
  type CohortEvent,
  type CohortDeciderState,
  decideCohort,
  escrowHeld,
  evolveCohort,
  initialCohortState,
  replayCohort,
  slashShares,
} from './cohort-decider.js';

const TERMS = {
  minDeposit: 10_000_000n,
  finalRound: 6,
  epochRounds: 3,
  contestationPeriodMs: 60_000,
  votingWindowMs: 120_000,
};
const P = ['a1', 'b2', 'c3', 'd4', 'e5'];

const run = (commands: readonly CohortCommand[], from: CohortDeciderState = initialCohortState) => {
  let state = from;
  const events: CohortEvent[] = [];
  const refused: string[] = [];
  for (const command of commands) {
    try {
      const produced = decideCohort(command, state);
      events.push(...produced);
      state = produced.reduce(evolveCohort, state);
    } catch (error) {
      if (!(error instanceof DmlError)) throw error;
      refused.push(error.message);
    }
  }
  return { state, events, refused };
};

const formed = (n: number) =>
  run([
    { type: 'Create', cohortId: 'c0', terms: TERMS, creator: P[0]! },
    ...P.slice(0, n).map((party, i): CohortCommand => ({
      type: 'Join',
      party,
      hydraKey: `k${i}`,
      deposit: TERMS.minDeposit + BigInt(i),
    })),
    { type: 'StartEpoch', signer: P[0]! },
  ]).state;

const premature = (n: number) =>
  run(
    [
      { type: 'Close', round: 1, aggregateHash: 'ab'.repeat(32), closedBy: P[0]!, validToMs: 1_000 },
      { type: 'Finalize', validFromMs: 100_000 },
    ],
    formed(n),
  ).state;

describe('cohort decider', () => {
  it('runs the whole honest story: join, epochs, scheduled close, completion, claims', () => {
    const open = formed(3);
    expect(open).toMatchObject({ phase: 'Open', epoch: 1, parties: ['a1', 'b2', 'c3'] });
    const late = run([{ type: 'Join', party: 'd4', hydraKey: 'k3', deposit: TERMS.minDeposit }], open).state;
    expect(late.members.d4?.fromEpoch).toBe(2);
    const epoch2 = run(
      [
        { type: 'Close', round: 3, aggregateHash: 'aa'.repeat(32), closedBy: 'a1', validToMs: 10_000 },
        { type: 'Finalize', validFromMs: 70_001 },
      ],
      late,
    ).state;
    expect(epoch2).toMatchObject({ phase: 'Open', epoch: 2, parties: ['a1', 'b2', 'c3', 'd4'] });
    const done = run(
      [
        { type: 'Close', round: 5, aggregateHash: 'bb'.repeat(32), closedBy: 'b2', validToMs: 100_000 },
        { type: 'Contest', round: 6, aggregateHash: 'cc'.repeat(32), by: 'c3', validToMs: 150_000 },
        { type: 'Finalize', validFromMs: 160_001 },
        ...['a1', 'b2', 'c3', 'd4'].map((party): CohortCommand => ({ type: 'Claim', party })),
      ],
      epoch2,
    );
    expect(done.refused).toEqual([]);
    expect(done.state.phase).toBe('Completed');
    expect(escrowHeld(done.state)).toBe(0n);
  });

  it('refuses the attacks the contracts refuse', () => {
    const open = formed(3);
    const closed = run(
      [{ type: 'Close', round: 2, aggregateHash: 'aa'.repeat(32), closedBy: 'a1', validToMs: 0 }],
      open,
    ).state;
    const cases: [CohortCommand, CohortDeciderState, RegExp][] = [
      [
        { type: 'Join', party: 'x', hydraKey: 'k', deposit: TERMS.minDeposit - 1n },
        open,
        /below the minimum/,
      ],
      [{ type: 'Join', party: 'a1', hydraKey: 'k', deposit: TERMS.minDeposit }, open, /member already/],
      [{ type: 'Claim', party: 'a1' }, open, /cannot claim/],
      [
        { type: 'Close', round: 1, aggregateHash: 'aa'.repeat(32), closedBy: 'zz', validToMs: 0 },
        open,
        /not a party/,
      ],
      [
        { type: 'Close', round: 3, aggregateHash: 'aa'.repeat(32), closedBy: 'a1', validToMs: 0 },
        closed,
        /cannot close/,
      ],
      [
        { type: 'Contest', round: 2, aggregateHash: 'bb'.repeat(32), by: 'b2', validToMs: 1 },
        closed,
        /newer round/,
      ],
      [
        { type: 'Contest', round: 3, aggregateHash: 'bb'.repeat(32), by: 'b2', validToMs: 60_001 },
        closed,
        /deadline has passed/,
      ],
      [{ type: 'Finalize', validFromMs: 60_000 }, closed, /not passed yet/],
      [
        { type: 'Slash', accused: 'c3', voters: ['a1'], validToMs: 100_001 },
        premature(3),
        /not a strict majority/,
      ],
      [
        { type: 'Slash', accused: 'c3', voters: ['a1', 'a1'], validToMs: 100_001 },
        premature(3),
        /votes twice/,
      ],
      [
        { type: 'Slash', accused: 'c3', voters: ['a1', 'c3'], validToMs: 100_001 },
        premature(3),
        /accused cannot vote/,
      ],
      [
        { type: 'Slash', accused: 'c3', voters: ['a1', 'b2'], validToMs: 500_000 },
        premature(3),
        /voting window has closed/,
      ],
      [{ type: 'Refund', party: 'a1', validFromMs: 150_000 }, premature(3), /not passed yet/],
    ];
    for (const [command, state, message] of cases) {
      expect(() => decideCohort(command, state)).toThrow(message);
    }
  });

  it('shares the accused deposit among the voters and returns their own deposits', () => {
    const slashed = run(
      [{ type: 'Slash', accused: 'c3', voters: ['b2', 'a1'], validToMs: 100_001 }],
      premature(3),
    );
    const event = slashed.events[0];
    expect(event).toMatchObject({
      type: 'PartySlashed',
      accused: 'c3',
      amount: TERMS.minDeposit + 2n,
      shares: [
        { party: 'a1', amount: TERMS.minDeposit / 2n + 1n },
        { party: 'b2', amount: TERMS.minDeposit / 2n + 1n },
      ],
      returned: [
        { party: 'a1', amount: TERMS.minDeposit },
        { party: 'b2', amount: TERMS.minDeposit + 1n },
      ],
    });
    expect(slashShares(10n, ['z', 'y', 'x'])).toEqual([
      { party: 'x', amount: 4n },
      { party: 'y', amount: 3n },
      { party: 'z', amount: 3n },
    ]);
  });
});

describe('cohort decider properties', () => {
  const party = fc.constantFrom(...P, 'zz');
  const time = fc.integer({ min: 0, max: 400_000 });
  const command: fc.Arbitrary<CohortCommand> = fc.oneof(
    fc
      .record({ party, d: fc.bigInt({ min: 1n, max: 30_000_000n }) })
      .map(({ party: p, d }) => ({ type: 'Join' as const, party: p, hydraKey: `k-${p}`, deposit: d })),
    party.map((signer) => ({ type: 'StartEpoch' as const, signer })),
    fc.record({ round: fc.integer({ min: 0, max: 7 }), by: party, t: time }).map(({ round, by, t }) => ({
      type: 'Close' as const,
      round,
      aggregateHash: round.toString(16).padStart(64, '0'),
      closedBy: by,
      validToMs: t,
    })),
    fc.record({ round: fc.integer({ min: 0, max: 7 }), by: party, t: time }).map(({ round, by, t }) => ({
      type: 'Contest' as const,
      round,
      aggregateHash: round.toString(16).padStart(64, '0'),
      by,
      validToMs: t,
    })),
    time.map((t) => ({ type: 'Finalize' as const, validFromMs: t })),
    fc
      .record({ accused: party, voters: fc.subarray([...P, 'zz']), t: time })
      .map(({ accused, voters, t }) => ({ type: 'Slash' as const, accused, voters, validToMs: t })),
    party.map((p) => ({ type: 'Claim' as const, party: p })),
    fc
      .record({ p: party, t: time })
      .map(({ p, t }) => ({ type: 'Refund' as const, party: p, validFromMs: t })),
  );

  it('the escrow ledger always balances, no transition leaves a final phase, replay equals the live fold', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 60 }), (commands) => {
        let state = run([{ type: 'Create', cohortId: 'c0', terms: TERMS, creator: 'a1' }]).state;
        const history: CohortEvent[] = run([
          { type: 'Create', cohortId: 'c0', terms: TERMS, creator: 'a1' },
        ]).events;
        for (const c of commands) {
          const before = state;
          const result = run([c], state);
          state = result.state;
          history.push(...result.events);
          if (before.phase === 'Completed' || before.phase === 'Premature')
            expect(state.phase).toBe(before.phase);
          if (result.refused.length) expect(state).toEqual(before);
        }
        let paidIn = 0n;
        let paidOut = 0n;
        for (const e of history) {
          if (e.type === 'PartyJoined') paidIn += e.deposit;
          if (e.type === 'DepositClaimed' || e.type === 'DepositRefunded') paidOut += e.amount;
          if (e.type === 'PartySlashed') {
            expect(e.shares.reduce((s, x) => s + x.amount, 0n)).toBe(e.amount);
            expect(e.shares.length * 2).toBeGreaterThan(state.parties.length - 1);
            paidOut += e.amount + e.returned.reduce((s, x) => s + x.amount, 0n);
          }
        }
        expect(escrowHeld(state) + paidOut).toBe(paidIn);
        expect(replayCohort(history)).toEqual(state);
      }),
      { numRuns: 300 },
    );
  });
});
