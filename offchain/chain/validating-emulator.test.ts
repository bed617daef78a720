import { describe, expect, it } from '@jest/globals';
import { C, Data, Lucid, fromHex, generatePrivateKey, toHex, type Script } from 'lucid-cardano';
import { pfn, data, unit, pif, peqData, pmakeUnit, ptraceError } from '@harmoniclabs/plu-ts';
import { loadCompiler } from '../../contracts/index.js';
import { ValidatingEmulator } from './validating-emulator.js';
import { ScriptFailure } from './script-failure.js';

const compileV2 = await loadCompiler();

/** A spending validator that accepts only a redeemer equal to the datum. */
const datumEqualsRedeemer = (): Script => {
  const term = pfn(
    [data, data, data],
    unit,
  )((datum, redeemer, _ctx) =>
    pif(unit)
      .$(peqData.$(datum).$(redeemer))
      .then(pmakeUnit())
      .else(ptraceError(unit).$('datum != redeemer')),
  );
  return { type: 'PlutusV2', script: compileV2(term).compiledCode };
};

const setup = async () => {
  const key = generatePrivateKey();
  const probe = await Lucid.new(undefined, 'Custom');
  const address = await probe.selectWalletFromPrivateKey(key).wallet.address();
  const emulator = new ValidatingEmulator([{ address, assets: { lovelace: 100_000_000n } }]);
  const lucid = await Lucid.new(emulator);
  lucid.selectWalletFromPrivateKey(key);
  const validator = datumEqualsRedeemer();
  const scriptAddress = lucid.utils.validatorToAddress(validator);
  emulator.nameScripts({ [lucid.utils.validatorToScriptHash(validator)]: 'datum-equals-redeemer' });
  const lock = await lucid
    .newTx()
    .payToContract(scriptAddress, { inline: Data.to(42n) }, { lovelace: 10_000_000n })
    .complete();
  await emulator.submitTx((await lock.sign().complete()).toString());
  emulator.awaitBlock(1);
  const [locked] = await lucid.utxosAt(scriptAddress);
  return { emulator, lucid, validator, locked: locked! };
};

/** Replace the data of every redeemer in a signed or unsigned transaction, keeping its units. */
const swapRedeemers = (txHex: string, redeemer: string): string => {
  const tx = C.Transaction.from_bytes(fromHex(txHex));
  const witnesses = tx.witness_set();
  const old = witnesses.redeemers()!;
  const swapped = C.Redeemers.new();
  for (let i = 0; i < old.len(); i++) {
    const r = old.get(i);
    swapped.add(C.Redeemer.new(r.tag(), r.index(), C.PlutusData.from_bytes(fromHex(redeemer)), r.ex_units()));
  }
  witnesses.set_redeemers(swapped);
  return toHex(C.Transaction.new(tx.body(), witnesses, tx.auxiliary_data()).to_bytes());
};

describe('ValidatingEmulator', () => {
  it('accepts a transaction whose scripts pass', async () => {
    const { emulator, lucid, validator, locked } = await setup();
    const tx = await lucid
      .newTx()
      .collectFrom([locked], Data.to(42n))
      .attachSpendingValidator(validator)
      .complete();
    const hash = await (await tx.sign().complete()).submit();
    emulator.awaitBlock(1);
    expect(hash).toHaveLength(64);
    expect(await lucid.utxosAt(lucid.utils.validatorToAddress(validator))).toHaveLength(0);
  });

  it('rejects at submit a transaction whose redeemer was swapped after balancing', async () => {
    const { emulator, lucid, validator, locked } = await setup();
    const tx = await lucid
      .newTx()
      .collectFrom([locked], Data.to(42n))
      .attachSpendingValidator(validator)
      .complete();
    const tampered = swapRedeemers(tx.toString(), Data.to(43n));
    const signed = await lucid.fromTx(tampered).sign().complete();
    // lucid's own Emulator would accept this transaction: it runs no script at submit.
    const failure = await signed.submit().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ScriptFailure);
    const f = failure as ScriptFailure;
    expect(f.scriptName).toBe('datum-equals-redeemer');
    expect(f.traces).toContain('datum != redeemer');
    expect(f.redeemer).toBe(Data.to(43n));
    emulator.awaitBlock(1);
    expect(await lucid.utxosAt(lucid.utils.validatorToAddress(validator))).toHaveLength(1);
  });

  it('rejects a transaction that declares fewer units than its script needs', async () => {
    const { lucid, validator, locked } = await setup();
    const tx = await lucid
      .newTx()
      .collectFrom([locked], Data.to(42n))
      .attachSpendingValidator(validator)
      .complete();
    const cbor = C.Transaction.from_bytes(fromHex(tx.toString()));
    const witnesses = cbor.witness_set();
    const old = witnesses.redeemers()!.get(0);
    const cut = C.Redeemers.new();
    cut.add(
      C.Redeemer.new(
        old.tag(),
        old.index(),
        old.data(),
        C.ExUnits.new(C.BigNum.from_str('1'), C.BigNum.from_str('1')),
      ),
    );
    witnesses.set_redeemers(cut);
    const short = toHex(C.Transaction.new(cbor.body(), witnesses, cbor.auxiliary_data()).to_bytes());
    const signed = await lucid.fromTx(short).sign().complete();
    await expect(signed.submit()).rejects.toThrow(/needs/);
  });
});
