import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  cohortRounds,
  median,
  phasesByRound,
  roundPhases,
  type PartyTimeline,
  type Span,
  unionLength,
} from './round-timeline.js';

describe('a party round split into phases', () => {
  it('charges a step the time outside the port calls made inside it', () => {
    const spans: Span[] = (
      [
        { kind: 'step:train-and-commit', start: 10, end: 100 },
        { kind: 'train', start: 12, end: 60, cpu: 40 },
        { kind: 'put', start: 60, end: 65 },
        { kind: 'share', start: 65, end: 66 },
        { kind: 'append', start: 95, end: 99 },
        // waiting for the peers' commitments: 100-150
        { kind: 'step:aggregate', start: 150, end: 200 },
        { kind: 'get', start: 150, end: 160 },
        // two peers read concurrently: 151-170 counts once
        { kind: 'getShared', start: 151, end: 170 },
        { kind: 'getShared', start: 152, end: 165 },
        { kind: 'score', start: 175, end: 190, cpu: 11 },
        { kind: 'append', start: 190, end: 192 },
        { kind: 'step:acknowledge', start: 220, end: 250 },
        { kind: 'append', start: 248, end: 250 },
      ] as const
    ).map((s) => ({ ...s, round: 1 }));
    expect(roundPhases(spans, 260)).toEqual({
      training: 48,
      storage: 6 + 20,
      head: 90 - 48 - 6 - 4 + (30 - 2),
      aggregation: 50 - 20 - 15 - 2,
      scoring: 15,
      log: 8,
      other: 260 - 48 - 26 - 60 - 13 - 15 - 8,
      total: 260,
      trainingCpu: 40,
      scoringCpu: 11,
    });
  });

  it("splits a party's rounds at the start of the next one", () => {
    const spans: Span[] = [
      { kind: 'train', round: 1, start: 5, end: 10 },
      { kind: 'step:train-and-commit', round: 1, start: 4, end: 12 },
      { kind: 'train', round: 2, start: 31, end: 38 },
      { kind: 'step:train-and-commit', round: 2, start: 30, end: 40 },
    ];
    const byRound = phasesByRound(spans, { 1: 2, 2: 25 }, 50);
    expect([...byRound.keys()]).toEqual([1, 2]);
    expect(byRound.get(1)).toMatchObject({ start: 0, end: 25, total: 25, training: 5, head: 3, other: 17 });
    expect(byRound.get(2)).toMatchObject({ start: 25, end: 50, total: 25, training: 7, head: 3, other: 15 });
  });

  it('measures a union of intervals once however they overlap', () => {
    expect(unionLength([])).toBe(0);
    expect(
      unionLength([
        { start: 0, end: 10 },
        { start: 5, end: 7 },
        { start: 20, end: 30 },
        { start: 25, end: 40 },
      ]),
    ).toBe(30);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 20 })), {
          maxLength: 12,
        }),
        (pairs) => {
          const spans = pairs.map(([start, length]) => ({ start, end: start + length }));
          // against counting covered unit cells
          const cells = new Set<number>();
          for (const s of spans) for (let t = s.start; t < s.end; t++) cells.add(t);
          expect(unionLength(spans)).toBe(cells.size);
        },
      ),
    );
  });

  it('takes the median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/no values/);
  });

  it("measures a cohort's round from the first party's start of it to the last party's end", () => {
    const parties: PartyTimeline[] = [
      { startedAt: 1000, spans: [], starts: { 1: 5, 2: 40 }, end: 90 },
      { startedAt: 1010, spans: [], starts: { 1: 1, 2: 35 }, end: 70 },
    ];
    const [first, second] = cohortRounds(parties, 2);
    // round 1: from the first party's start (1000) to the second's round 2 (1045); round 2 to 1090
    expect(first!.wall).toBe(45);
    expect(second!.wall).toBe(1090 - 1040);
    expect(first!.phases.map((p) => p.total)).toEqual([40, 35]);
    expect(() => cohortRounds(parties, 3)).toThrow('party 1 has no step in round 3');
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            startedAt: fc.integer({ min: 0, max: 1000 }),
            gaps: fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 4, maxLength: 4 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        (raw) => {
          const timelines: PartyTimeline[] = raw.map(({ startedAt, gaps: [a, b, c, d] }) => ({
            startedAt,
            spans: [],
            starts: { 1: a!, 2: a! + b!, 3: a! + b! + c! },
            end: a! + b! + c! + d!,
          }));
          const rounds = cohortRounds(timelines, 3);
          const first = Math.min(...timelines.map((t) => t.startedAt));
          const last = Math.max(...timelines.map((t) => t.startedAt + t.end));
          for (const round of rounds) {
            // never shorter than any party's own round, never longer than the whole run
            for (const p of round.phases) expect(round.wall).toBeGreaterThanOrEqual(p.total);
            expect(round.wall).toBeLessThanOrEqual(last - first);
          }
          // one party: its rounds tile its run
          if (timelines.length === 1)
            expect(rounds.reduce((sum, r) => sum + r.wall, 0)).toBe(timelines[0]!.end);
        },
      ),
    );
  });
});
