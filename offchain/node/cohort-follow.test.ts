import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  type FollowHead,
  type FollowLayer1,
  type FollowObservation,
  decideFollowStep,
} from './cohort-follow-decider.js';
import { type CohortFollowPorts, followCohortEpochs } from './cohort-follow.js';
import type { PartyRoundLoopResult } from './party-round-loop.js';

const [A, B, C] = ['aa', 'bb', 'cc'].map((x) => x.repeat(28)) as [string, string, string];
const vk = (pkh: string) => `vk-${pkh.slice(0, 2)}`;
const party = (pkh: string) => ({ pkh, hydraVk: vk(pkh) });

/** The cohort on layer 1: final round 2, epochs of one round. */
const cohort = (over: Partial<Extract<FollowLayer1, { kind: 'cohort' }>> = {}): FollowLayer1 => ({
  kind: 'cohort',
  phase: 'Open',
  epoch: 1,
  round: 0,
  aggregateHash: '',
  parties: [party(A), party(B)],
  members: [C, B, A],
  finalRound: 2,
  epochRounds: 1,
  ...over,
});
const openHead = (...pkhs: string[]): FollowHead => ({ kind: 'node', status: 'Open', parties: pkhs.map(vk) });

const decide = (me: string, layer1: FollowLayer1, head?: FollowHead, done: [number, number][] = []) =>
  decideFollowStep({ me, layer1, done: new Map(done), ...(head ? { head } : {}) });

describe('decideFollowStep', () => {
  it('trains the epoch layer 1 names once its head is open with its parties', () => {
    expect(decide(A, cohort(), openHead(A, B))).toEqual({
      kind: 'train-epoch',
      epoch: 1,
      firstRound: 1,
      lastRound: 1,
      parties: [A, B],
    });
    // an epoch after the first carries layer 1's aggregate of the previous round
    const epoch2 = cohort({
      epoch: 2,
      round: 1,
      aggregateHash: 'ab'.repeat(32),
      parties: [A, B, C].map(party),
    });
    expect(decide(C, epoch2, openHead(A, B, C))).toEqual({
      kind: 'train-epoch',
      epoch: 2,
      firstRound: 2,
      lastRound: 2,
      parties: [A, B, C],
      previousAggregateHash: 'ab'.repeat(32),
    });
  });

  it('waits between epochs, each wait naming what it waits for', () => {
    const waitFor = (step: ReturnType<typeof decide>) => (step.kind === 'wait' ? step.for : step.kind);
    expect(waitFor(decide(A, { kind: 'unreachable', message: 'connection refused' }))).toBe('layer-1');
    expect(waitFor(decide(A, cohort({ epoch: 0 })))).toBe('first-epoch');
    // a member who joined during epoch 1 enters at the next one
    const c = decide(C, cohort());
    expect(c).toMatchObject({ kind: 'wait', for: 'next-epoch' });
    expect(c.kind === 'wait' && c.detail).toMatch(/not a party of epoch 1 .* enters at the next one/);
    // the epoch done: the scheduled close
    expect(waitFor(decide(A, cohort(), openHead(A, B), [[1, 1]]))).toBe('scheduled-close');
    expect(
      waitFor(decide(A, cohort({ phase: 'Closed', round: 1, deadline: Date.parse('2026-01-01T00:00:00Z') }))),
    ).toBe('finalize');
    // the epoch's head: not answering, of other parties (the previous head), not open yet
    const epoch2 = cohort({ epoch: 2, round: 1, parties: [A, B, C].map(party) });
    expect(waitFor(decide(A, epoch2))).toBe('head');
    expect(waitFor(decide(A, epoch2, { kind: 'unreachable', message: 'ECONNREFUSED' }))).toBe('head');
    expect(decide(A, epoch2, openHead(A, B))).toMatchObject({
      kind: 'wait',
      for: 'head',
      detail: expect.stringMatching(/runs a head of 2 other parties/),
    });
    expect(
      decide(A, epoch2, { kind: 'node', status: 'Initializing', parties: [A, B, C].map(vk) }),
    ).toMatchObject({
      kind: 'wait',
      for: 'head',
      detail: expect.stringMatching(/to open \(it is Initializing/),
    });
  });

  it('ends: the final round acknowledged by all, the cohort ended, not a member', () => {
    expect(
      decide(A, cohort({ epoch: 2, round: 1, parties: [A, B, C].map(party) }), undefined, [[2, 2]]),
    ).toEqual({
      kind: 'training-over',
      epoch: 2,
      round: 2,
    });
    expect(decide(A, cohort({ phase: 'Completed', round: 2 }))).toEqual({
      kind: 'ended',
      outcome: 'Completed',
      round: 2,
    });
    expect(decide(A, cohort({ phase: 'Premature', round: 0 }))).toMatchObject({ outcome: 'Premature' });
    expect(decide('dd'.repeat(28), cohort())).toEqual({ kind: 'not-a-member' });
  });

  it('property: trains only an epoch of which it is a party, not done, in an open head of exactly its parties', () => {
    const all = [A, B, C];
    const arbLayer1: fc.Arbitrary<FollowLayer1> = fc.oneof(
      fc.constant<FollowLayer1>({ kind: 'unreachable', message: 'down' }),
      fc
        .record({
          phase: fc.constantFrom('Open', 'Closed', 'Completed', 'Premature') as fc.Arbitrary<
            'Open' | 'Closed' | 'Completed' | 'Premature'
          >,
          epoch: fc.integer({ min: 0, max: 3 }),
          round: fc.integer({ min: 0, max: 4 }),
          parties: fc.subarray(all, { minLength: 1 }),
          members: fc.subarray(all),
          finalRound: fc.integer({ min: 1, max: 5 }),
          epochRounds: fc.integer({ min: 1, max: 3 }),
        })
        .map((r) => cohort({ ...r, parties: r.parties.map(party) })),
    );
    const arbHead: fc.Arbitrary<FollowHead | undefined> = fc.option(
      fc.oneof(
        fc.constant<FollowHead>({ kind: 'unreachable', message: 'down' }),
        fc
          .record({
            status: fc.constantFrom('Idle', 'Initializing', 'Open', 'Closed', 'Final'),
            parties: fc.subarray(all.map(vk)),
          })
          .map((h): FollowHead => ({ kind: 'node', ...h })),
      ),
      { nil: undefined },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...all),
        arbLayer1,
        arbHead,
        fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 })), { maxLength: 3 }),
        (me, layer1, head, done) => {
          const observation: FollowObservation = {
            me,
            layer1,
            done: new Map(done),
            ...(head ? { head } : {}),
          };
          const step = decideFollowStep(observation);
          expect(decideFollowStep(observation)).toEqual(step); // deterministic
          if (step.kind !== 'train-epoch') return;
          if (layer1.kind !== 'cohort' || head?.kind !== 'node') throw new Error('trained without observing');
          expect(layer1.phase).toBe('Open');
          expect(step.parties).toContain(me);
          expect(layer1.members).toContain(me);
          expect(new Map(done).has(step.epoch)).toBe(false);
          expect(head.status).toBe('Open');
          expect([...head.parties].sort()).toEqual(layer1.parties.map((p) => p.hydraVk).sort());
          expect(step.lastRound).toBeLessThanOrEqual(layer1.finalRound);
          expect([...new Map(done).values()].every((r) => r < layer1.finalRound)).toBe(true);
        },
      ),
    );
  });
});

/** A scripted world for the driver: layer 1 moves on one read at a time, time moves by the sleeps. */
const world = (
  layer1s: FollowLayer1[],
  options: {
    head?: FollowHead;
    epochResult?: (epoch: number) => PartyRoundLoopResult;
    patienceMs?: number;
  } = {},
) => {
  let t = 0;
  let reads = 0;
  const lines: string[] = [];
  const epochs: number[] = [];
  const controller = new AbortController();
  const ports: CohortFollowPorts = {
    me: A,
    readLayer1: async () => layer1s[Math.min(reads++, layer1s.length - 1)]!,
    readHead: async () => options.head ?? openHead(A, B),
    runEpoch: async (step) => {
      epochs.push(step.epoch);
      return (
        options.epochResult?.(step.epoch) ?? {
          kind: 'epoch-done',
          round: step.lastRound,
          aggregateHash: `agg${step.epoch}`,
        }
      );
    },
    signal: controller.signal,
    pollMs: 1_000,
    clock: () => t,
    sleep: async (ms) => {
      t += ms;
    },
    onLine: (line) => lines.push(line),
    ...(options.patienceMs !== undefined ? { patienceMs: options.patienceMs } : {}),
  };
  return { ports, lines, epochs, controller, reads: () => reads };
};

describe('followCohortEpochs', () => {
  it('trains epoch 1, waits for the scheduled close and the finalize, trains epoch 2, and ends at the final round', async () => {
    const epoch1 = cohort();
    const closed = cohort({ phase: 'Closed', round: 1, aggregateHash: 'agg1', deadline: 0 });
    const epoch2 = cohort({ epoch: 2, round: 1, aggregateHash: 'agg1' });
    const w = world([epoch1, epoch1, epoch1, closed, closed, epoch2]);
    const result = await followCohortEpochs(w.ports);
    expect(result).toEqual({ kind: 'training-over', epoch: 2, round: 2, aggregateHash: 'agg2', parties: 2 });
    expect(w.epochs).toEqual([1, 2]);
    // one line per change of what it waits for, not one per poll
    expect(w.lines.filter((l) => l.startsWith('waiting for'))).toEqual([
      expect.stringMatching(/^waiting for the scheduled close of epoch 1, done at round 1/),
      expect.stringMatching(/^waiting for the finalize of epoch 1, closed at round 1/),
    ]);
  });

  it('a wait that does not move for longer than the patience ends as waited-out; any change resets it', async () => {
    const epoch1 = cohort();
    const closed = cohort({ phase: 'Closed', round: 1, aggregateHash: 'agg1', deadline: 0 });
    const w = world([epoch1, epoch1, epoch1, epoch1, closed], { patienceMs: 2_500 });
    const result = await followCohortEpochs(w.ports);
    expect(result).toMatchObject({ kind: 'waited-out', step: { for: 'finalize' } });
    expect(result.kind === 'waited-out' && result.waitedMs).toBeGreaterThan(2_500);
    // the scheduled close was waited for 2 s (under the patience), then the finalize from zero: 3 s
    expect(result.kind === 'waited-out' && result.waitedMs).toBe(3_000);
    expect(w.reads()).toBe(8);
  });

  it('stops between steps when aborted, and passes a refused or stopped epoch on', async () => {
    const w = world([cohort()]);
    w.controller.abort();
    expect(await followCohortEpochs(w.ports)).toEqual({ kind: 'stopped', between: true });
    const stopped = world([cohort()], {
      epochResult: () => ({ kind: 'stopped', at: { kind: 'aggregate', round: 1 } }),
    });
    expect(await followCohortEpochs(stopped.ports)).toEqual({
      kind: 'stopped',
      epoch: 1,
      round: 1,
      between: false,
    });
    const refused = world([cohort()], {
      epochResult: () => ({ kind: 'refused', round: 1, flagged: [B], reason: 'scores' }),
    });
    expect(await followCohortEpochs(refused.ports)).toMatchObject({
      kind: 'epoch-failed',
      epoch: 1,
      result: { kind: 'refused', flagged: [B] },
    });
  });
});
