import { C } from 'lucid-cardano';
import type { HeadTx } from './head-ledger.js';
import { txInToCore } from './tx-in.js';

/**
 * Building layer-2 transactions directly with CML: zero fee, explicit inputs and outputs,
 * vkey witnesses over the body hash. Used by parties to move their outputs inside the head
 * (and by the tests and benchmarks); lucid can build them too (set fees to zero).
 */
export interface HeadKey {
  readonly privateKey: C.PrivateKey;
  readonly keyHash: string;
  /** Enterprise testnet address of the key. */
  readonly address: string;
}

export const headKeyFromSeed = (seed: Uint8Array): HeadKey => {
  const privateKey = C.PrivateKey.from_normal_bytes(seed);
  const hash = privateKey.to_public().hash();
  const address = C.EnterpriseAddress.new(0, C.StakeCredential.from_keyhash(hash))
    .to_address()
    .to_bech32(undefined);
  return { privateKey, keyHash: hash.to_hex(), address };
};

export const scriptAddress = (scriptHash: string): string =>
  C.EnterpriseAddress.new(0, C.StakeCredential.from_scripthash(C.ScriptHash.from_hex(scriptHash)))
    .to_address()
    .to_bech32(undefined);

/** The hash of a Plutus V2 script given in lucid's (double CBOR) form. */
export const plutusV2ScriptHash = (scriptHex: string): string =>
  C.PlutusScript.from_bytes(Buffer.from(scriptHex, 'hex')).hash(C.ScriptHashNamespace.PlutusV2).to_hex();

export interface HeadOutputSpec {
  readonly address: string;
  readonly lovelace: bigint;
  /** unit (policy id + asset name, hex) to quantity */
  readonly assets?: Readonly<Record<string, bigint>>;
  readonly inlineDatumHex?: string;
}

const toValue = (lovelace: bigint, assets: Readonly<Record<string, bigint>> = {}): C.Value => {
  const value = C.Value.new(C.BigNum.from_str(lovelace.toString()));
  const entries = Object.entries(assets);
  if (entries.length > 0) {
    const multiasset = C.MultiAsset.new();
    for (const [unit, quantity] of entries) {
      multiasset.set_asset(
        C.ScriptHash.from_hex(unit.slice(0, 56)),
        C.AssetName.new(Buffer.from(unit.slice(56), 'hex')),
        C.BigNum.from_str(quantity.toString()),
      );
    }
    value.set_multiasset(multiasset);
  }
  return value;
};

export const headOutput = (spec: HeadOutputSpec): C.TransactionOutput => {
  const output = C.TransactionOutput.new(
    C.Address.from_bech32(spec.address),
    toValue(spec.lovelace, spec.assets),
  );
  if (spec.inlineDatumHex) {
    output.set_datum(
      C.Datum.new_data(C.Data.new(C.PlutusData.from_bytes(Buffer.from(spec.inlineDatumHex, 'hex')))),
    );
  }
  return output;
};

export const headOutputHex = (spec: HeadOutputSpec): string =>
  Buffer.from(headOutput(spec).to_bytes()).toString('hex');

export interface HeadTxSpec {
  readonly inputs: readonly string[];
  readonly outputs: readonly HeadOutputSpec[];
  readonly signers: readonly HeadKey[];
  readonly fee?: bigint;
  readonly mint?: Readonly<Record<string, bigint>>;
  readonly requiredSigners?: readonly string[];
  readonly plutusV2Scripts?: readonly string[];
  /** Spend redeemers: for the input `txIn`, data `dataHex`, declared budget. */
  readonly spendRedeemers?: ReadonlyArray<{ txIn: string; dataHex: string; mem: bigint; steps: bigint }>;
  /** Sign a different body than the one sent (to test witness checking). */
  readonly signOtherBody?: boolean;
  /** Validity interval, in slots: from `validFrom` (inclusive) to `invalidHereafter` (exclusive). */
  readonly validFrom?: number;
  readonly invalidHereafter?: number;
}

const sortTxIns = (txIns: readonly string[]): string[] =>
  [...txIns].sort((a, b) => {
    const [idA, ixA] = a.split('#') as [string, string];
    const [idB, ixB] = b.split('#') as [string, string];
    return idA < idB ? -1 : idA > idB ? 1 : Number(ixA) - Number(ixB);
  });

export const buildHeadTx = (spec: HeadTxSpec): HeadTx => {
  const inputs = C.TransactionInputs.new();
  const sorted = sortTxIns(spec.inputs);
  for (const txIn of sorted) inputs.add(txInToCore(txIn));
  const outputs = C.TransactionOutputs.new();
  for (const output of spec.outputs) outputs.add(headOutput(output));
  const body = C.TransactionBody.new(
    inputs,
    outputs,
    C.BigNum.from_str((spec.fee ?? 0n).toString()),
    spec.invalidHereafter === undefined ? undefined : C.BigNum.from_str(String(spec.invalidHereafter)),
  );
  if (spec.validFrom !== undefined)
    body.set_validity_start_interval(C.BigNum.from_str(String(spec.validFrom)));
  if (spec.requiredSigners?.length) {
    const signers = C.Ed25519KeyHashes.new();
    for (const key of spec.requiredSigners) signers.add(C.Ed25519KeyHash.from_hex(key));
    body.set_required_signers(signers);
  }
  if (spec.mint) {
    const mint = C.Mint.new();
    for (const [unit, quantity] of Object.entries(spec.mint)) {
      const policy = C.ScriptHash.from_hex(unit.slice(0, 56));
      const assets = mint.get(policy) ?? C.MintAssets.new();
      assets.insert(C.AssetName.new(Buffer.from(unit.slice(56), 'hex')), C.Int.from_str(quantity.toString()));
      mint.insert(policy, assets);
    }
    body.set_mint(mint);
  }
  const witnesses = C.TransactionWitnessSet.new();
  if (spec.plutusV2Scripts?.length) {
    const scripts = C.PlutusScripts.new();
    for (const script of spec.plutusV2Scripts)
      scripts.add(C.PlutusScript.from_bytes(Buffer.from(script, 'hex')));
    witnesses.set_plutus_v2_scripts(scripts);
  }
  if (spec.spendRedeemers?.length) {
    const redeemers = C.Redeemers.new();
    for (const r of spec.spendRedeemers) {
      redeemers.add(
        C.Redeemer.new(
          C.RedeemerTag.new_spend(),
          C.BigNum.from_str(String(sorted.indexOf(r.txIn))),
          C.PlutusData.from_bytes(Buffer.from(r.dataHex, 'hex')),
          C.ExUnits.new(C.BigNum.from_str(r.mem.toString()), C.BigNum.from_str(r.steps.toString())),
        ),
      );
    }
    witnesses.set_redeemers(redeemers);
  }
  let hash = C.hash_transaction(body);
  if (spec.signOtherBody) {
    const other = C.TransactionBody.new(
      inputs,
      C.TransactionOutputs.new(),
      C.BigNum.from_str('0'),
      undefined,
    );
    hash = C.hash_transaction(other);
  }
  if (spec.signers.length > 0) {
    const vkeys = C.Vkeywitnesses.new();
    for (const signer of spec.signers) vkeys.add(C.make_vkey_witness(hash, signer.privateKey));
    witnesses.set_vkeys(vkeys);
  }
  const tx = C.Transaction.new(body, witnesses, undefined);
  return { cborHex: Buffer.from(tx.to_bytes()).toString('hex'), txId: C.hash_transaction(body).to_hex() };
};
