import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { PROTOCOL_PARAMETERS_DEFAULT } from 'lucid-cardano';
import { applyTransactions } from './head-ledger.js';
import { CardanoHeadLedger } from './cardano-ledger.js';
import {
  buildHeadTx,
  headKeyFromSeed,
  headOutputHex,
  plutusV2ScriptHash,
  scriptAddress,
} from './cardano-head-tx.js';
import { minLovelaceFor } from './min-ada.js';
import { HeadSimulation } from './testing/head-simulation.js';

const ledger = new CardanoHeadLedger();
const alice = headKeyFromSeed(randomBytes(32));
const bob = headKeyFromSeed(randomBytes(32));
const genesis = (i: number) => `${'11'.repeat(32)}#${i}`;
const POLICY = 'ab'.repeat(28);
const utxo = {
  [genesis(0)]: headOutputHex({ address: alice.address, lovelace: 10_000_000n }),
  [genesis(1)]: headOutputHex({
    address: bob.address,
    lovelace: 5_000_000n,
    assets: { [POLICY + '01']: 3n },
  }),
};
const ALWAYS_SUCCEEDS = '49480100002221200101';
const ALWAYS_FAILS = '4746010000222601';
const UNIT_DATA = 'd87980';

describe('the head ledger (Cardano rules, zero fees)', () => {
  it('applies a signed transfer that preserves value, and its outputs become spendable', () => {
    const tx = buildHeadTx({
      inputs: [genesis(0)],
      outputs: [
        { address: bob.address, lovelace: 4_000_000n },
        { address: alice.address, lovelace: 6_000_000n },
      ],
      signers: [alice],
    });
    const result = ledger.applyTransaction(utxo, tx);
    if (!result.ok) throw new Error(result.reason);
    expect(Object.keys(result.utxo).sort()).toEqual([genesis(1), `${tx.txId}#0`, `${tx.txId}#1`].sort());
    const api = ledger.utxoToApi(result.utxo);
    expect(api[`${tx.txId}#0`]).toMatchObject({ address: bob.address, value: { lovelace: 4_000_000 } });
    expect(api[genesis(1)]!.value).toEqual({ lovelace: 5_000_000, [POLICY]: { '01': 3 } });
    const next = buildHeadTx({
      inputs: [`${tx.txId}#0`],
      outputs: [{ address: alice.address, lovelace: 4_000_000n }],
      signers: [bob],
    });
    expect(ledger.applyTransaction(result.utxo, next).ok).toBe(true);
  });

  it('judges the same transaction again when the outputs it spends differ (memoised per resolved inputs)', () => {
    const tx = buildHeadTx({
      inputs: [genesis(0)],
      outputs: [{ address: bob.address, lovelace: 10_000_000n }],
      signers: [alice],
    });
    expect(ledger.applyTransaction(utxo, tx).ok).toBe(true);
    const ownedByBob = { [genesis(0)]: headOutputHex({ address: bob.address, lovelace: 10_000_000n }) };
    expect(ledger.applyTransaction(ownedByBob, tx)).toEqual({
      ok: false,
      reason: expect.stringMatching(/MissingVKeyWitnesses/),
    });
    expect(ledger.applyTransaction(utxo, tx).ok).toBe(true);
  });

  it('rejects a transaction spending a missing input', () => {
    const tx = buildHeadTx({
      inputs: [genesis(7)],
      outputs: [{ address: bob.address, lovelace: 1n }],
      signers: [alice],
    });
    expect(ledger.applyTransaction(utxo, tx)).toEqual({
      ok: false,
      reason: expect.stringMatching(/BadInputsUTxO.*#7/),
    });
  });

  it('rejects a transaction signed by the wrong key, and a signature over another body', () => {
    const wrongKey = buildHeadTx({
      inputs: [genesis(0)],
      outputs: [{ address: bob.address, lovelace: 10_000_000n }],
      signers: [bob],
    });
    expect(ledger.applyTransaction(utxo, wrongKey)).toEqual({
      ok: false,
      reason: expect.stringMatching(/MissingVKeyWitnesses/),
    });
    const otherBody = buildHeadTx({
      inputs: [genesis(0)],
      outputs: [{ address: bob.address, lovelace: 10_000_000n }],
      signers: [alice],
      signOtherBody: true,
    });
    expect(ledger.applyTransaction(utxo, otherBody)).toEqual({
      ok: false,
      reason: expect.stringMatching(/InvalidWitnesses/),
    });
    const unsigned = buildHeadTx({
      inputs: [genesis(0)],
      outputs: [{ address: bob.address, lovelace: 10_000_000n }],
      signers: [],
    });
    expect(ledger.applyTransaction(utxo, unsigned).ok).toBe(false);
    const requiredSigner = buildHeadTx({
      inputs: [genesis(0)],
      outputs: [{ address: bob.address, lovelace: 10_000_000n }],
      signers: [alice],
      requiredSigners: [bob.keyHash],
    });
    expect(ledger.applyTransaction(utxo, requiredSigner)).toEqual({
      ok: false,
      reason: expect.stringContaining(bob.keyHash),
    });
  });

  it('rejects value not preserved (ADA or tokens), a non-zero fee, and an unbacked mint', () => {
    const more = buildHeadTx({
      inputs: [genesis(0)],
      outputs: [{ address: bob.address, lovelace: 10_000_001n }],
      signers: [alice],
    });
    expect(ledger.applyTransaction(utxo, more)).toEqual({
      ok: false,
      reason: expect.stringMatching(/ValueNotConserved/),
    });
    const lostToken = buildHeadTx({
      inputs: [genesis(1)],
      outputs: [{ address: bob.address, lovelace: 5_000_000n }],
      signers: [bob],
    });
    expect(ledger.applyTransaction(utxo, lostToken)).toEqual({
      ok: false,
      reason: expect.stringMatching(/ValueNotConserved/),
    });
    const fee = buildHeadTx({
      inputs: [genesis(0)],
      outputs: [{ address: bob.address, lovelace: 9_000_000n }],
      signers: [alice],
      fee: 1_000_000n,
    });
    expect(ledger.applyTransaction(utxo, fee)).toEqual({
      ok: false,
      reason: expect.stringMatching(/fee must be zero/),
    });
    const mint = buildHeadTx({
      inputs: [genesis(0)],
      outputs: [{ address: alice.address, lovelace: 10_000_000n, assets: { [POLICY + '02']: 1n } }],
      signers: [alice],
      mint: { [POLICY + '02']: 1n },
    });
    // Value balances with the mint, but no script of that policy is present to allow it.
    expect(ledger.applyTransaction(utxo, mint).ok).toBe(false);
  });

  it('rejects a double spend across two parties\u2019 transactions in one snapshot', () => {
    const toBob = buildHeadTx({
      inputs: [genesis(0)],
      outputs: [{ address: bob.address, lovelace: 10_000_000n }],
      signers: [alice],
    });
    const toAlice = buildHeadTx({
      inputs: [genesis(0)],
      outputs: [{ address: alice.address, lovelace: 10_000_000n }],
      signers: [alice],
    });
    expect(applyTransactions(ledger, utxo, [toBob, toAlice])).toMatchObject({
      ok: false,
      tx: { txId: toAlice.txId },
    });

    // Through the head: the two are submitted to two different parties' nodes.
    const sim = new HeadSimulation(ledger, 2);
    sim.send(0, { tag: 'ClientInput', input: { tag: 'Init' } });
    sim.run();
    sim.commit(0, { [genesis(0)]: utxo[genesis(0)]! });
    sim.commit(1, { [genesis(1)]: utxo[genesis(1)]! });
    sim.run();
    const newTx = (cborHex: string) => ({
      tag: 'NewTx' as const,
      transaction: { type: 'Tx ConwayEra', description: '', cborHex },
    });
    sim.send(0, { tag: 'ClientInput', input: newTx(toBob.cborHex) });
    sim.send(1, { tag: 'ClientInput', input: newTx(toAlice.cborHex) });
    sim.run();
    for (const node of sim.nodes) {
      const outputs = node.effects.flatMap((e) => (e.tag === 'ClientEffect' ? [e.output] : []));
      expect(
        outputs.filter((o) => o.tag === 'TxValid').map((o) => (o.tag === 'TxValid' ? o.transactionId : '')),
      ).toEqual([toBob.txId]);
      const invalid = outputs.filter((o) => o.tag === 'TxInvalid');
      expect(invalid).toHaveLength(1);
      expect(JSON.stringify(invalid[0])).toMatch(/BadInputsUTxO/);
      const confirmed = node.changes.filter((c) => c.tag === 'SnapshotConfirmed');
      expect(
        confirmed.flatMap((c) =>
          c.tag === 'SnapshotConfirmed' ? c.snapshot.confirmed.map((t) => t.txId) : [],
        ),
      ).toEqual([toBob.txId]);
    }
  });

  describe('Plutus scripts', () => {
    const lockedAt = (script: string) => ({
      [genesis(5)]: headOutputHex({
        address: scriptAddress(plutusV2ScriptHash(script)),
        lovelace: 2_000_000n,
        inlineDatumHex: UNIT_DATA,
      }),
      ...utxo,
    });
    const spend = (script: string, mem = 1_000_000n, steps = 1_000_000_000n) =>
      buildHeadTx({
        inputs: [genesis(5)],
        outputs: [{ address: bob.address, lovelace: 2_000_000n }],
        signers: [bob],
        plutusV2Scripts: [script],
        spendRedeemers: [{ txIn: genesis(5), dataHex: UNIT_DATA, mem, steps }],
      });

    it('evaluates a succeeding script', () => {
      const result = ledger.applyTransaction(lockedAt(ALWAYS_SUCCEEDS), spend(ALWAYS_SUCCEEDS));
      if (!result.ok) throw new Error(result.reason);
    });

    it('rejects a failing script, a budget too small, and a script input without redeemer', () => {
      expect(ledger.applyTransaction(lockedAt(ALWAYS_FAILS), spend(ALWAYS_FAILS))).toEqual({
        ok: false,
        reason: expect.stringMatching(/ScriptFailure/),
      });
      expect(ledger.applyTransaction(lockedAt(ALWAYS_SUCCEEDS), spend(ALWAYS_SUCCEEDS, 10n, 10n))).toEqual({
        ok: false,
        reason: expect.stringMatching(/ScriptFailure|ex-units/),
      });
      const noRedeemer = buildHeadTx({
        inputs: [genesis(5)],
        outputs: [{ address: bob.address, lovelace: 2_000_000n }],
        signers: [bob],
        plutusV2Scripts: [ALWAYS_SUCCEEDS],
      });
      expect(ledger.applyTransaction(lockedAt(ALWAYS_SUCCEEDS), noRedeemer).ok).toBe(false);
    });
  });

  describe('validity interval against the head time, and minimum ADA', () => {
    const slotConfig = { zeroTime: 1_000_000, zeroSlot: 0, slotLength: 1000 };
    const timed = new CardanoHeadLedger({ slotConfig });
    const at = (slot: number) => slotConfig.zeroTime + slot * 1000 + 999;
    const bounded = buildHeadTx({
      inputs: [genesis(0)],
      outputs: [{ address: bob.address, lovelace: 10_000_000n }],
      signers: [alice],
      validFrom: 10,
      invalidHereafter: 20,
    });

    it('applies a transaction only from its lower bound (inclusive) to its upper bound (exclusive)', () => {
      const outside = { ok: false, reason: expect.stringMatching(/^OutsideValidityIntervalUTxO: slot 9 /) };
      expect(timed.applyTransaction(utxo, bounded, at(9))).toEqual(outside);
      expect(timed.applyTransaction(utxo, bounded, at(10)).ok).toBe(true);
      expect(timed.applyTransaction(utxo, bounded, at(19)).ok).toBe(true);
      expect(timed.applyTransaction(utxo, bounded, at(20))).toEqual({
        ok: false,
        reason: expect.stringMatching(/^OutsideValidityIntervalUTxO: slot 20 is outside \[10, 20\)/),
      });
      // Without the head's time (no tick seen yet) the interval is not checked.
      expect(timed.applyTransaction(utxo, bounded).ok).toBe(true);
      // A snapshot applies its transactions at the same time.
      expect(applyTransactions(timed, utxo, [bounded], at(25))).toMatchObject({ ok: false, tx: bounded });
    });

    it('rejects an output below the Babbage minimum ADA, accepts one at it (datums count)', () => {
      const datum = 'd8799f' + '5840' + 'ab'.repeat(64) + 'ff';
      const output = (lovelace: bigint) => ({ address: bob.address, lovelace, inlineDatumHex: datum });
      const min = minLovelaceFor(
        (l) => Buffer.from(headOutputHex(output(l)), 'hex'),
        BigInt(PROTOCOL_PARAMETERS_DEFAULT.coinsPerUtxoByte),
      );
      expect(min).toBeGreaterThan(1_000_000n);
      const split = (small: bigint) =>
        buildHeadTx({
          inputs: [genesis(0)],
          outputs: [output(small), { address: alice.address, lovelace: 10_000_000n - small }],
          signers: [alice],
        });
      expect(ledger.applyTransaction(utxo, split(min - 1n))).toEqual({
        ok: false,
        reason: `BabbageOutputTooSmallUTxO: output 0 holds ${min - 1n} lovelace, needs at least ${min}`,
      });
      expect(ledger.applyTransaction(utxo, split(min)).ok).toBe(true);
      expect(ledger.applyTransaction(utxo, split(0n)).ok).toBe(false);
    });
  });
});
