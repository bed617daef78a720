import { C, fromHex, toHex } from 'lucid-cardano';

/**
 * Tamper with a built transaction, for attack tests: lucid's builder runs the scripts in
 * `complete()` and refuses to build a transaction a script rejects, so an attack is built as the
 * honest transaction and then edited (outputs, signers, mint, redeemers) before it is signed and
 * submitted to the validating emulator. The body is rebuilt field by field (CML keeps the original
 * bytes of a parsed body, so editing it in place would not change its serialisation). Execution
 * units and fee stay as built: the emulator does not check balance or fee, only witnesses and scripts.
 */
export interface TxEdit {
  /** Replace the outputs (CML outputs, in order). */
  outputs?: (
    outputs: InstanceType<typeof C.TransactionOutput>[],
  ) => InstanceType<typeof C.TransactionOutput>[];
  /** Replace the required signers (key hashes). */
  requiredSigners?: (signers: string[]) => string[];
  /** Replace the mint field. */
  mint?: (mint: InstanceType<typeof C.Mint> | undefined) => InstanceType<typeof C.Mint> | undefined;
  /** Replace every redeemer's data (CBOR hex) by this one, keeping tags, indices and units. */
  redeemer?: (tag: number, index: number, data: string) => string;
  /** Drop the withdrawals and their (reward) redeemers. */
  dropWithdrawals?: boolean;
}

const REWARD_TAG = 3;

export const tamperTx = (txHex: string, edit: TxEdit): string => {
  const tx = C.Transaction.from_bytes(fromHex(txHex));
  const body = tx.body();
  const outputs: InstanceType<typeof C.TransactionOutput>[] = [];
  for (let i = 0; i < body.outputs().len(); i++) outputs.push(body.outputs().get(i));
  const newOutputs = C.TransactionOutputs.new();
  for (const o of edit.outputs ? edit.outputs(outputs) : outputs) newOutputs.add(o);
  const rebuilt = C.TransactionBody.new(body.inputs(), newOutputs, body.fee(), body.ttl());
  const start = body.validity_start_interval();
  if (start) rebuilt.set_validity_start_interval(start);
  const mint = edit.mint ? edit.mint(body.mint()) : body.mint();
  if (mint) rebuilt.set_mint(mint);
  const sdh = body.script_data_hash();
  if (sdh) rebuilt.set_script_data_hash(sdh);
  const collateral = body.collateral();
  if (collateral) rebuilt.set_collateral(collateral);
  const signers: string[] = [];
  const rs = body.required_signers();
  for (let i = 0; i < (rs?.len() ?? 0); i++) signers.push(rs!.get(i).to_hex());
  const newSigners = edit.requiredSigners ? edit.requiredSigners(signers) : signers;
  if (newSigners.length > 0) {
    const keys = C.Ed25519KeyHashes.new();
    for (const k of newSigners) keys.add(C.Ed25519KeyHash.from_hex(k));
    rebuilt.set_required_signers(keys);
  }
  const network = body.network_id();
  if (network) rebuilt.set_network_id(network);
  const cr = body.collateral_return();
  if (cr) rebuilt.set_collateral_return(cr);
  const tc = body.total_collateral();
  if (tc) rebuilt.set_total_collateral(tc);
  const refs = body.reference_inputs();
  if (refs) rebuilt.set_reference_inputs(refs);
  const withdrawals = body.withdrawals();
  if (withdrawals && !edit.dropWithdrawals) rebuilt.set_withdrawals(withdrawals);
  const certs = body.certs();
  if (certs) rebuilt.set_certs(certs);
  const witnesses = tx.witness_set();
  if (edit.redeemer || edit.dropWithdrawals) {
    const old = witnesses.redeemers();
    const swapped = C.Redeemers.new();
    for (let i = 0; i < (old?.len() ?? 0); i++) {
      const r = old!.get(i);
      if (edit.dropWithdrawals && r.tag().kind() === REWARD_TAG) continue;
      const original = toHex(r.data().to_bytes());
      const data = edit.redeemer
        ? edit.redeemer(r.tag().kind(), Number(r.index().to_str()), original)
        : original;
      swapped.add(C.Redeemer.new(r.tag(), r.index(), C.PlutusData.from_bytes(fromHex(data)), r.ex_units()));
    }
    witnesses.set_redeemers(swapped);
  }
  return toHex(C.Transaction.new(rebuilt, witnesses, tx.auxiliary_data()).to_bytes());
};

/** Lovelace of a CML output. */
export const outputLovelace = (o: InstanceType<typeof C.TransactionOutput>): bigint =>
  BigInt(o.amount().coin().to_str());

/** A copy of an output with another lovelace amount (same address, tokens and datum). */
export const withLovelace = (
  o: InstanceType<typeof C.TransactionOutput>,
  lovelace: bigint,
): InstanceType<typeof C.TransactionOutput> => {
  const value = C.Value.from_bytes(o.amount().to_bytes());
  value.set_coin(C.BigNum.from_str(lovelace.toString()));
  const copy = C.TransactionOutput.new(o.address(), value);
  const datum = o.datum();
  if (datum) copy.set_datum(datum);
  return copy;
};

/** A copy of an output sent to another address. */
export const withAddress = (
  o: InstanceType<typeof C.TransactionOutput>,
  bech32: string,
): InstanceType<typeof C.TransactionOutput> => {
  const copy = C.TransactionOutput.new(C.Address.from_bech32(bech32), o.amount());
  const datum = o.datum();
  if (datum) copy.set_datum(datum);
  return copy;
};

export const outputAddress = (o: InstanceType<typeof C.TransactionOutput>): string =>
  o.address().to_bech32(undefined);
