import { describe, expect, it } from '@jest/globals';
import type { CohortTransition } from '../chain/index.js';
import { DEFAULT_TERMS } from '../chain/index.js';
import { type EventStore, SqliteEventStore, cohortStream } from '../events/index.js';
import { syncCohortLog } from './sync-cohort-log.js';
import { l1EventId } from './transition-events.js';

const cohortId = 'c0'.repeat(28);
const tx = (n: number) => n.toString(16).padStart(64, '0');
const [a, b] = ['aa'.repeat(28), 'bb'.repeat(28)];
const state = {
  cohortId,
  membershipPolicy: 'dd'.repeat(28),
  terms: { ...DEFAULT_TERMS, finalRound: 4n, epochRounds: 2n },
  epoch: 0n,
  parties: [],
  members: [],
  phase: { kind: 'Open' as const, round: 0n, aggregateHash: '00'.repeat(32) },
};
/** A cohort's chain, as the follower would have read it. */
const transitions: CohortTransition[] = [
  {
    txId: tx(1),
    slot: 20,
    kind: 'created',
    state,
    creator: a,
    params: { model: 'mnist', aggregation: 'ffa-lora', loraRank: 8 },
  },
  { txId: tx(2), slot: 40, kind: 'joined', party: a, hydraKey: '11'.repeat(32), deposit: 10_000_000n },
  { txId: tx(3), slot: 60, kind: 'joined', party: b, hydraKey: '22'.repeat(32), deposit: 12_000_000n },
  { txId: tx(4), slot: 80, kind: 'epochStarted', epoch: 1, parties: [a, b] },
  {
    txId: tx(5),
    slot: 100,
    kind: 'closed',
    epoch: 1,
    round: 2,
    aggregateHash: 'ab'.repeat(32),
    by: [a],
    deadline: 1_800_000_000_000,
    signatures: ['01'.repeat(64), '02'.repeat(64)],
    scheduled: true,
  },
  {
    txId: tx(6),
    slot: 200,
    kind: 'finalized',
    epoch: 1,
    outcome: 'NextEpoch',
    next: { epoch: 2, parties: [a, b] },
  },
  { txId: tx(7), slot: 220, kind: 'unexplained', reason: 'a deposit reached escrow without a join' },
];
const TYPES = [
  'l1.CohortCreated',
  'l1.PartyJoined',
  'l1.PartyJoined',
  'l1.EpochStarted',
  'l1.HeadClosed',
  'l1.HeadFinalized',
  'l1.EpochStarted',
];

const l1Of = async (log: EventStore) =>
  (await log.readStream(cohortStream(cohortId))).filter((e) => e.type.startsWith('l1.'));

describe('syncCohortLog: the l1 events of a cohort, from its followed chain, appended once', () => {
  it('appends what is missing in chain order with block times, and nothing on a second sync', async () => {
    const log = new SqliteEventStore(':memory:');
    const zeroTime = Date.parse('2026-01-01T00:00:00Z');
    const first = await syncCohortLog({ log, cohortId, transitions, facts: { zeroTime } });
    expect(first.appended.map((e) => e.type)).toEqual(TYPES);
    expect(first.skipped).toEqual([{ txId: tx(7), reason: 'a deposit reached escrow without a join' }]);
    const events = await l1Of(log);
    expect(events.map((e) => e.type)).toEqual(TYPES);
    expect(events[0]).toMatchObject({
      occurredAt: '2026-01-01T00:00:20.000Z',
      eventId: l1EventId(cohortId, 'l1.CohortCreated', tx(1)),
      data: {
        creator: a,
        params: { model: 'mnist', rounds: 4, minDeposit: '10000000', contestationPeriodMs: 60_000 },
      },
    });
    expect(events[4]!.data).toMatchObject({
      closedBy: a,
      scheduled: true,
      deadline: '2027-01-15T08:00:00.000Z',
    });
    // the next epoch starts in the finalize's transaction; no head id is on chain
    expect(events[6]!.data).toEqual({ cohortId, txId: tx(6), slot: 200, epoch: 2, parties: [a, b] });
    const again = await syncCohortLog({ log, cohortId, transitions, facts: { zeroTime } });
    expect(again).toMatchObject({ appended: [], present: TYPES.length, attempts: 1 });
    expect(await l1Of(log)).toHaveLength(TYPES.length);
    log.close();
  });

  it('adds only what another writer did not record, and takes the head id from the facts', async () => {
    const log = new SqliteEventStore(':memory:');
    await syncCohortLog({ log, cohortId, transitions: transitions.slice(0, 3) });
    const later = await syncCohortLog({
      log,
      cohortId,
      transitions,
      facts: { headIdOf: (epoch) => (epoch === 1 ? 'e1'.repeat(28) : undefined) },
    });
    expect(later.appended.map((e) => e.type)).toEqual(TYPES.slice(3));
    expect((await l1Of(log))[3]!.data).toMatchObject({ epoch: 1, headId: 'e1'.repeat(28) });
    log.close();
  });

  it('two syncs at once: one appends, the other re-reads and finds nothing to add', async () => {
    const store = new SqliteEventStore(':memory:');
    // both read the stream before either appends
    let reads = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((resolve) => (release = resolve));
    const racing: EventStore = Object.assign(Object.create(store) as EventStore, {
      streamVersion: async (stream: string) => {
        const v = await store.streamVersion(stream);
        if (++reads === 2) release();
        if (reads <= 2) await bothRead;
        return v;
      },
    });
    const [x, y] = await Promise.all([
      syncCohortLog({ log: racing, cohortId, transitions }),
      syncCohortLog({ log: racing, cohortId, transitions }),
    ]);
    const winners = [x, y].filter((r) => r.appended.length > 0);
    expect(winners).toHaveLength(1);
    const loser = x === winners[0] ? y : x;
    expect(loser).toMatchObject({ appended: [], attempts: 2, present: TYPES.length });
    expect((await l1Of(store)).map((e) => e.type)).toEqual(TYPES);
    store.close();
  });

  it('leaves out a creation whose training parameters are nowhere, and says why', async () => {
    const log = new SqliteEventStore(':memory:');
    const created = { ...transitions[0]!, params: undefined } as CohortTransition;
    const result = await syncCohortLog({ log, cohortId, transitions: [created] });
    expect(result.appended).toEqual([]);
    expect(result.skipped[0]!.reason).toMatch(/no training parameters/);
    const given = await syncCohortLog({
      log,
      cohortId,
      transitions: [created],
      facts: { params: { model: 'lm', aggregation: 'median', loraRank: 4 } },
    });
    expect(given.appended).toHaveLength(1);
    expect((await l1Of(log))[0]!.data).toMatchObject({
      params: { model: 'lm', aggregation: 'median', loraRank: 4 },
    });
    expect((await l1Of(log))[0]!.data).not.toHaveProperty('params.deltaEncoding');
    log.close();
  });

  it("records a q8 cohort's delta encoding in l1.CohortCreated", async () => {
    const log = new SqliteEventStore(':memory:');
    const created = {
      ...transitions[0]!,
      params: { model: 'lm', aggregation: 'ffa-lora', loraRank: 16, deltaEncoding: 'q8' },
    } as CohortTransition;
    const result = await syncCohortLog({ log, cohortId, transitions: [created] });
    expect(result.appended).toHaveLength(1);
    expect((await l1Of(log))[0]!.data).toMatchObject({ params: { loraRank: 16, deltaEncoding: 'q8' } });
    log.close();
  });
});
