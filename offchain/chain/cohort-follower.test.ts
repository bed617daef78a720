import { beforeAll, describe, expect, it } from '@jest/globals';
import { C, Constr, Data, fromHex, toHex } from 'lucid-cardano';
import { SqliteEventStore } from '../events/index.js';
import { CohortChain } from '../node/index.js';
import type { ChainTx } from './chain-tx.js';
import { readChainTx } from './chain-tx.js';
import { cohortDatum, parseCohortDatum, signTrainingSnapshot } from './cohort-data.js';
import { followCohort, stateRedeemerOf } from './cohort-follower.js';
import { cohortKit, DEFAULT_TERMS, type CohortKit } from './cohort-kit.js';
import { finalizedState } from './cohort-tx.js';
import { tamperTx } from './tamper.js';

/** Adds a spend redeemer (first in the list) at `index`, leaving the body (and so the tx id) alone. */
const withExtraSpendRedeemer = (cbor: string, index: number, data: string): string => {
  const tx = C.Transaction.from_bytes(fromHex(cbor));
  const witnesses = tx.witness_set();
  const old = witnesses.redeemers()!;
  const redeemers = C.Redeemers.new();
  redeemers.add(
    C.Redeemer.new(
      C.RedeemerTag.new_spend(),
      C.BigNum.from_str(String(index)),
      C.PlutusData.from_bytes(fromHex(data)),
      old.get(0).ex_units(),
    ),
  );
  for (let i = 0; i < old.len(); i++) redeemers.add(old.get(i));
  witnesses.set_redeemers(redeemers);
  return toHex(C.Transaction.new(tx.body(), witnesses, tx.auxiliary_data()).to_bytes());
};

/**
 * A cohort of two on the validating emulator: created, joined, epoch 1 started, closed at round 2
 * (an epoch boundary of a 4-round cohort), finalized into epoch 2. The follower reads the
 * emulator's history; the odd transactions below are edited copies fed to the pure fold only.
 */
describe('followCohort: the cohort transitions a chain shows', () => {
  let kit: CohortKit;
  let chain: CohortChain;
  let history: ChainTx[];
  const hash = 'ab'.repeat(32);

  beforeAll(async () => {
    kit = await cohortKit(2);
    const store = new SqliteEventStore(':memory:');
    chain = await CohortChain.create({
      lucid: kit.lucid,
      emulator: kit.emulator,
      blueprint: kit.blueprint,
      creator: kit.creator,
      terms: { ...DEFAULT_TERMS, finalRound: 4n, epochRounds: 2n },
      params: { model: 'mnist', aggregation: 'ffa-lora', loraRank: 4 },
      log: store,
    });
    for (const p of kit.parties) await chain.join(p, p.hydraVk, DEFAULT_TERMS.minDeposit);
    const { state } = await chain.startEpoch(kit.parties[0]!);
    const signatures = state.parties.map((sp) =>
      signTrainingSnapshot(kit.parties.find((p) => p.pkh === sp.pkh)!.hydraSk, {
        cohortId: chain.cohortId,
        epoch: 1n,
        round: 2n,
        aggregateHash: hash,
      }),
    );
    await chain.close(kit.parties[0]!, { round: 2n, aggregateHash: hash, signatures });
    await chain.finalize(kit.parties[1]!);
    history = [...kit.emulator.history];
    store.close();
  }, 120_000);

  const txOf = (kind: string) => {
    const ts = followCohort(history, chain.scripts);
    const t = ts.find((x) => x.kind === kind)!;
    return history.find((h) => h.txId === t.txId)!;
  };

  it('names each transaction by the state redeemer: created, joined x2, epoch 1, a scheduled close, NextEpoch', () => {
    const ts = followCohort(history, chain.scripts);
    expect(ts.map((t) => t.kind)).toEqual([
      'created',
      'joined',
      'joined',
      'epochStarted',
      'closed',
      'finalized',
    ]);
    expect(ts[0]).toMatchObject({ kind: 'created', creator: kit.creator.pkh });
    expect(ts[4]).toMatchObject({ kind: 'closed', round: 2, scheduled: true, by: [kit.parties[0]!.pkh] });
    expect(ts[5]).toMatchObject({ kind: 'finalized', outcome: 'NextEpoch', next: { epoch: 2 } });
    // the next epoch's parties in the chain's order (the members' list), compared as a set
    const next = ts[5]!.kind === 'finalized' ? ts[5]!.next : undefined;
    expect([...(next?.parties ?? [])].sort()).toEqual(kit.parties.map((p) => p.pkh).sort());
  });

  it("reads the Close signatures from the state input's redeemer, not from another spend redeemer", () => {
    const close = txOf('closed');
    const read = readChainTx(close);
    const stateRef = read.inputs.find((ref) => {
      const r = stateRedeemerOf(read, ref);
      return r?.index === 2;
    })!;
    const real = stateRedeemerOf(read, stateRef)!.signatures!;
    expect(real).toHaveLength(2);
    // a decoy: a Close-shaped redeemer with other signatures at another input's index, listed first
    const other = read.inputs.findIndex((ref) => ref !== stateRef);
    expect(other).toBeGreaterThanOrEqual(0);
    const decoy = Data.to(new Constr(2, [2n, hash, ['cd'.repeat(64), 'ef'.repeat(64)], kit.parties[0]!.pkh]));
    const edited = { ...close, cbor: withExtraSpendRedeemer(close.cbor, other, decoy) };
    expect(readChainTx(edited).redeemers[0]!.data).toBe(decoy);
    const ts = followCohort(
      history.map((h) => (h.txId === close.txId ? edited : h)),
      chain.scripts,
    );
    expect(ts.find((t) => t.kind === 'closed')).toMatchObject({ signatures: real });
  });

  it('a Finalize into the next epoch that also adds a member is not read as a join', () => {
    const finalize = txOf('finalized');
    const read = readChainTx(finalize);
    const stateOut = read.outputs.findIndex((o) => o.address === chain.scripts.stateAddress);
    const after = parseCohortDatum(read.outputs[stateOut]!.datum!);
    const widened = {
      ...after,
      members: [...after.members, { pkh: 'aa'.repeat(28), hydraVk: 'bb'.repeat(32) }],
    };
    const cbor = tamperTx(finalize.cbor, {
      outputs: (outputs) =>
        outputs.map((o, i) => {
          if (i !== stateOut) return o;
          const copy = C.TransactionOutput.new(o.address(), o.amount());
          copy.set_datum(
            C.Datum.new_data(C.Data.new(C.PlutusData.from_bytes(fromHex(cohortDatum(widened))))),
          );
          return copy;
        }),
    });
    const edited: ChainTx = {
      txId: C.hash_transaction(C.Transaction.from_bytes(fromHex(cbor)).body()).to_hex(),
      cbor,
      slot: finalize.slot,
    };
    const ts = followCohort(
      history.map((h) => (h.txId === finalize.txId ? edited : h)),
      chain.scripts,
    );
    const last = ts.at(-1)!;
    expect(last.kind).toBe('unexplained');
    expect(last).toMatchObject({ reason: expect.stringMatching(/Finalize .*members/) });
    // the honest finalize is exactly what finalizedState says
    expect(
      finalizedState(
        parseCohortDatum(
          readChainTx(txOf('closed')).outputs.find((o) => o.address === chain.scripts.stateAddress)!.datum!,
        ),
      ),
    ).toEqual(after);
  });

  it('a Join that also changes the phase is not read as a join only', () => {
    const join = txOf('joined');
    const read = readChainTx(join);
    const stateOut = read.outputs.findIndex((o) => o.address === chain.scripts.stateAddress);
    const after = parseCohortDatum(read.outputs[stateOut]!.datum!);
    const closedToo = {
      ...after,
      phase: {
        kind: 'Closed' as const,
        round: 0n,
        aggregateHash: hash,
        deadline: 1n,
        closer: kit.parties[0]!.pkh,
      },
    };
    const cbor = tamperTx(join.cbor, {
      outputs: (outputs) =>
        outputs.map((o, i) => {
          if (i !== stateOut) return o;
          const copy = C.TransactionOutput.new(o.address(), o.amount());
          copy.set_datum(
            C.Datum.new_data(C.Data.new(C.PlutusData.from_bytes(fromHex(cohortDatum(closedToo))))),
          );
          return copy;
        }),
    });
    const txId = C.hash_transaction(C.Transaction.from_bytes(fromHex(cbor)).body()).to_hex();
    const ts = followCohort(
      history
        .filter((h) => history.indexOf(h) <= history.indexOf(join))
        .map((h) => (h === join ? { txId, cbor, slot: h.slot } : h)),
      chain.scripts,
    );
    expect(ts.at(-1)).toMatchObject({ kind: 'unexplained', reason: expect.stringMatching(/Join .*phase/) });
  });
});
