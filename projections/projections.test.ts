import { describe, expect, it } from '@jest/globals';
import { SqliteCheckpointStore, SqliteEventStore, simulateCohortHistory } from '../offchain/index.js';
import { ledgerBalances, ledgerTotals } from './escrow-ledger.js';
import { reputationScore } from './reputation.js';
import { replayProjections, startLiveProjections } from './replay.js';

const appendHistory = async (store: SqliteEventStore, batches: ReturnType<typeof simulateCohortHistory>) => {
  for (const b of batches) await store.append(b.stream, b.events, { expectedVersion: 'any' });
};

describe('projections of a whole cohort', () => {
  it('follow an honest cohort from creation to claims', async () => {
    const store = new SqliteEventStore(':memory:');
    await appendHistory(store, simulateCohortHistory({ cohortId: 'honest', parties: 3, rounds: 4 }));
    const { states, folded } = await replayProjections(store, { cohortId: 'honest' });
    expect(folded).toBe(await store.headPosition());

    const heads = Object.values(states.headLifecycle.state.heads);
    expect(heads).toHaveLength(1);
    expect(heads[0]).toMatchObject({
      status: 'Final',
      aborted: false,
      validTxs: 12,
      lastSnapshot: 4,
      closedSnapshot: 4,
    });
    expect(heads[0]!.committed).toHaveLength(3);
    expect(states.headLifecycle.state.anomalies).toEqual([]);

    const ledger = states.escrowLedger.state.cohorts.honest!;
    expect(ledger.outcome).toBe('Completed');
    expect(ledger.anomalies).toEqual([]);
    expect(ledgerTotals(ledger)).toEqual({ deposited: 30_000_000n, inEscrow: 0n, paidOut: 30_000_000n });
    expect(Object.values(ledger.accounts).map((a) => a.claimed)).toEqual([
      '10000000',
      '10000000',
      '10000000',
    ]);

    const rounds = states.trainingHistory.state.cohorts.honest!.rounds;
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3, 4]);
    for (const r of rounds) {
      expect(r.aggregateHash).toMatch(/^[0-9a-f]{64}$/);
      for (const p of Object.values(r.parties)) {
        expect(p).toMatchObject({
          deltaHash: expect.stringMatching(/^[0-9a-f]{64}$/),
          bytes: expect.any(Number),
        });
        expect(Object.keys(p.scores)).toHaveLength(3);
      }
    }
    const reps = Object.values(states.reputation.state.cohorts.honest!);
    expect(reps.map((r) => r.contributions)).toEqual([4, 4, 4]);
    for (const r of reps) expect(reputationScore(r)).toBeGreaterThan(0);
    await store.close();
  });

  it('record a slash: the saboteur loses its deposit to the voters, the ledger still balances', async () => {
    const store = new SqliteEventStore(':memory:');
    await appendHistory(
      store,
      simulateCohortHistory({ cohortId: 'sab', parties: 4, rounds: 6, saboteur: 3, sabotageRound: 3 }),
    );
    await appendHistory(store, simulateCohortHistory({ cohortId: 'other', parties: 2, rounds: 1 }));
    const { states } = await replayProjections(store, { cohortId: 'sab' });
    expect(Object.keys(states.escrowLedger.state.cohorts)).toEqual(['sab']);
    const ledger = states.escrowLedger.state.cohorts.sab!;
    expect(ledger.outcome).toBe('Premature');
    expect(ledger.anomalies).toEqual([]);
    expect(ledgerBalances(ledger)).toBe(true);
    const accounts = Object.values(ledger.accounts);
    expect(accounts.map((a) => a.slashedAway)).toEqual(['0', '0', '0', '10000000']);
    expect(accounts.slice(0, 3).reduce((s, a) => s + BigInt(a.slashShares), 0n)).toBe(10_000_000n);
    expect(states.trainingHistory.state.cohorts.sab!.rounds).toHaveLength(3);
    const reps = states.reputation.state.cohorts.sab!;
    const saboteur = accounts[3]!.party;
    expect(reps[saboteur]).toMatchObject({ slashed: true });
    expect(reputationScore(reps[saboteur]!)).toBe(0);
    expect(reps[accounts[0]!.party]!.votesCast).toBe(1);
    await store.close();
  });

  it('live projections with checkpoints and restarts equal a rebuild from zero', async () => {
    const store = new SqliteEventStore(':memory:');
    const checkpoints = new SqliteCheckpointStore(store.db);
    const batches = [
      ...simulateCohortHistory({ cohortId: 'a', parties: 3, rounds: 3 }),
      ...simulateCohortHistory({ cohortId: 'b', parties: 3, rounds: 4, saboteur: 0, sabotageRound: 2 }),
    ];
    let live = await startLiveProjections(store, checkpoints, { saveEvery: 7 });
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!;
      const r = await store.append(b.stream, b.events, { expectedVersion: 'any' });
      if (i % 17 === 16) {
        // a restart: stop (checkpoint saved), then resume from the checkpoint
        await live.subscription.reached(r.lastPosition);
        await live.stop();
        live = await startLiveProjections(store, checkpoints, { saveEvery: 7 });
      }
    }
    await live.subscription.reached(await store.headPosition());
    const liveStates = live.current();
    await live.stop();
    const rebuilt = await replayProjections(store);
    expect(liveStates).toEqual(rebuilt.states);
    const restored = (await checkpoints.load('projections'))!;
    expect(restored.position).toBe(await store.headPosition());
    expect(restored.state).toEqual(JSON.parse(JSON.stringify(rebuilt.table)));
    await store.close();
  });

  it('replay refuses a log with an unreadable event (naming it) and returns nothing half-folded', async () => {
    const store = new SqliteEventStore(':memory:');
    await appendHistory(store, simulateCohortHistory({ cohortId: 'torn', parties: 3, rounds: 2 }));
    const good = await replayProjections(store, { pageSize: 4 });
    const [joined] = await store.readAll({ after: 2, limit: 1 });
    store.db.prepare('UPDATE events SET data = ? WHERE position = 3').run('{"cohortId":"torn",');
    await expect(replayProjections(store, { pageSize: 4 })).rejects.toMatchObject({
      code: 'EVENT_UNREADABLE',
      position: 3,
    });
    // envelope checks pass for data that breaks its schema; validate: 'full' refuses it
    store.db
      .prepare('UPDATE events SET data = ? WHERE position = 3')
      .run(JSON.stringify({ ...joined!.data, deposit: 'ten' }));
    await expect(replayProjections(store, { validate: 'full' })).rejects.toThrow(
      'event #3 (l1.PartyJoined) in the log cannot be read: deposit: an amount of lovelace',
    );
    store.db.prepare('UPDATE events SET data = ? WHERE position = 3').run(JSON.stringify(joined!.data));
    expect((await replayProjections(store, { validate: 'full' })).states).toEqual(good.states);
    await store.close();
  });
});
