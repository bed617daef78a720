import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CohortChain,
  DEFAULT_TERMS,
  SqliteEventStore,
  type CohortKit,
  type CohortTransition,
  type StoredDmlEvent,
  cohortKit,
  followCohort,
  readAllFrom,
  signTrainingSnapshot,
  syncCohortLog,
} from '../../offchain/index.js';
import { checkLogAgainstChain } from './verify-chain.js';

/**
 * A cohort driven through its contracts on the validating emulator, each transaction recorded by
 * `CohortChain` as its `l1.*` event; the follower reads the emulator's own history. Premature
 * close at round 1 of 4, then a kill vote of 2 against 1.
 */
describe('the log against the chain (followCohort + checkLogAgainstChain)', () => {
  let dir: string;
  let kit: CohortKit;
  let chain: CohortChain;
  let log: StoredDmlEvent[];
  let transitions: CohortTransition[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dml-chain-audit-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    kit = await cohortKit(3);
    chain = await CohortChain.create({
      lucid: kit.lucid,
      emulator: kit.emulator,
      blueprint: kit.blueprint,
      creator: kit.creator,
      terms: { ...DEFAULT_TERMS, finalRound: 4n, epochRounds: 4n },
      params: { model: 'mnist', aggregation: 'ffa-lora', loraRank: 4 },
      log: store,
    });
    for (const p of kit.parties) await chain.join(p, p.hydraVk, DEFAULT_TERMS.minDeposit);
    const { state, tx } = await chain.startEpoch(kit.parties[0]!);
    const ids = state.parties.map((p) => p.pkh);
    await chain.epochStarted(1, 'ee'.repeat(28), ids, tx);
    const aggregateHash = 'ab'.repeat(32);
    const signatures = state.parties.map((sp) =>
      signTrainingSnapshot(kit.parties.find((p) => p.pkh === sp.pkh)!.hydraSk, {
        cohortId: chain.cohortId,
        epoch: 1n,
        round: 1n,
        aggregateHash,
      }),
    );
    await chain.close(kit.parties[0]!, { round: 1n, aggregateHash, signatures });
    await chain.finalize(kit.parties[1]!);
    await chain.slash(kit.parties[2]!.pkh, [kit.parties[0]!, kit.parties[1]!]);
    log = [];
    for await (const e of readAllFrom(store)) log.push(e);
    store.close();
    transitions = followCohort(kit.emulator.history, chain.scripts);
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('derives every transition from the chain alone, in order', () => {
    expect(transitions.map((t) => t.kind)).toEqual([
      'created',
      'joined',
      'joined',
      'joined',
      'epochStarted',
      'closed',
      'finalized',
      'slashed',
    ]);
    const slashed = transitions.at(-1)!;
    expect(slashed).toMatchObject({
      kind: 'slashed',
      accused: kit.parties[2]!.pkh,
      amount: DEFAULT_TERMS.minDeposit,
    });
    expect(transitions.find((t) => t.kind === 'finalized')).toMatchObject({ outcome: 'Premature', epoch: 1 });
  });

  it('finds the log and the chain in agreement', () => {
    expect(checkLogAgainstChain(log, chain.cohortId, transitions)).toEqual([]);
  });

  it('a log synced from the chain alone agrees with it, and holds what the recording party wrote', async () => {
    const fresh = new SqliteEventStore(':memory:');
    const synced = await syncCohortLog({
      log: fresh,
      cohortId: chain.cohortId,
      transitions,
      facts: { params: { model: 'mnist', aggregation: 'ffa-lora', loraRank: 4 } },
    });
    expect(synced.skipped).toEqual([]);
    const events: StoredDmlEvent[] = [];
    for await (const e of readAllFrom(fresh)) events.push(e);
    fresh.close();
    expect(checkLogAgainstChain(events, chain.cohortId, transitions)).toEqual([]);
    // the same facts; a slash's voters in the chain's input order rather than the caller's
    const l1 = (es: readonly StoredDmlEvent[]) =>
      es
        .filter((e) => e.type.startsWith('l1.'))
        .map((e) => {
          const d = { ...e.data, headId: undefined } as Record<string, unknown>;
          if (e.type === 'l1.PartySlashed') {
            d['voters'] = [...(d['voters'] as string[])].sort();
            d['returned'] = [...(d['returned'] as Array<{ party: string }>)].sort((x, y) =>
              x.party < y.party ? -1 : 1,
            );
          }
          return `${e.type} ${JSON.stringify(d)}`;
        });
    expect(l1(events)).toEqual(l1(log));
  });

  it('names a transition the log left out', () => {
    const withoutSlash = log.filter((e) => e.type !== 'l1.PartySlashed');
    const findings = checkLogAgainstChain(withoutSlash, chain.cohortId, transitions);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ kind: 'chain-unlogged', key: transitions.at(-1)!.txId });
    expect(findings[0]!.message).toContain('slashed');
  });

  it('names a fact the log states falsely (an amount, the accused, a round)', () => {
    const forged = log.map((e) =>
      e.type === 'l1.PartySlashed'
        ? { ...e, data: { ...e.data, amount: '1', accused: kit.parties[1]!.pkh } }
        : e.type === 'l1.HeadClosed'
          ? { ...e, data: { ...e.data, round: 4 } }
          : e,
    ) as StoredDmlEvent[];
    const findings = checkLogAgainstChain(forged, chain.cohortId, transitions);
    expect(findings.map((f) => f.kind)).toEqual(['chain-mismatch', 'chain-mismatch', 'chain-mismatch']);
    expect(findings.map((f) => f.message).join('\n')).toMatch(/round[\s\S]*accused[\s\S]*amount/);
    expect(findings.find((f) => f.message.includes('amount'))).toMatchObject({
      expected: String(DEFAULT_TERMS.minDeposit),
      found: '1',
    });
  });

  it('names an event whose transaction the chain does not hold, or holds as another transition', () => {
    const claim = log.find((e) => e.type === 'l1.PartyJoined')!;
    const invented = {
      ...claim,
      position: 999,
      type: 'l1.DepositClaimed',
      data: {
        cohortId: chain.cohortId,
        txId: 'cd'.repeat(32),
        slot: 1,
        party: kit.parties[0]!.pkh,
        amount: '1',
      },
    } as unknown as StoredDmlEvent;
    const relabelled = { ...claim, type: 'l1.DepositRefunded' } as unknown as StoredDmlEvent;
    const findings = checkLogAgainstChain(
      [...log.filter((e) => e !== claim), relabelled, invented],
      chain.cohortId,
      transitions,
    );
    expect(findings.map((f) => f.kind).sort()).toEqual(['chain-mismatch', 'chain-missing']);
    expect(findings.find((f) => f.kind === 'chain-mismatch')).toMatchObject({
      expected: 'joined',
      found: 'refunded',
    });
  });
});
