import { createHash } from 'node:crypto';
import { C, PROTOCOL_PARAMETERS_DEFAULT, createCostModels, type ProtocolParameters } from 'lucid-cardano';
import type { ApplyTxResult, HeadLedger, HeadTx, HeadUTxO } from './head-ledger.js';
import type { HydraTxOut, HydraUTxO } from './messages.js';
import { minLovelaceOfOutput } from './min-ada.js';
import { evaluatePlutusScripts, type SlotConfig } from './plutus-evaluation.js';
import { txInOf } from './tx-in.js';

/**
 * The head's ledger: the Cardano ledger rules that layer 1 applies to a transaction, on the
 * head's UTxO, with zero fees as in Hydra. The UTxO maps `<txId>#<index>` to the CBOR (hex) of
 * the output. A transaction is applied when:
 * - it decodes as a Cardano transaction and is not marked invalid;
 * - its inputs (and reference inputs) exist, with no duplicate inputs;
 * - its vkey witnesses are valid Ed25519 signatures of the body hash, and cover the payment
 *   key of every spent key-locked input and every required signer;
 * - native scripts locking spent inputs are present and satisfied by the witnesses;
 * - Plutus scripts succeed (aiken's evaluator through `eval_phase_two_raw`) within the ex-units
 *   their redeemers declare;
 * - value is preserved: inputs + minted = outputs + burnt, and the fee is zero;
 * - every output holds the minimum ADA of the Babbage rule ((160 + its size) × coinsPerUTxOByte);
 * - the head's time (when given) is inside the validity interval: from `validity_start`
 *   (inclusive) to the `ttl` slot (exclusive), slots per the ledger's slot configuration.
 * Not checked (documented in design_docs/hydra.md): certificates and withdrawals (rejected if
 * present), the script integrity hash, collateral, transaction size.
 */
export interface CardanoLedgerOptions {
  readonly protocolParameters?: ProtocolParameters;
  readonly slotConfig?: SlotConfig;
}

const SCRIPT_KIND_NATIVE = 0;
const REDEEMER_TAG_SPEND = 0;
const REDEEMER_TAG_MINT = 1;

/** Inputs in ledger order: by transaction id, then index. */
const compareTxIn = (a: string, b: string): number => {
  const [idA, ixA] = a.split('#') as [string, string];
  const [idB, ixB] = b.split('#') as [string, string];
  return idA < idB ? -1 : idA > idB ? 1 : Number(ixA) - Number(ixB);
};

type ValueMap = Map<string, bigint>;

const addValue = (into: ValueMap, value: C.Value, sign: 1n | -1n = 1n): void => {
  into.set('lovelace', (into.get('lovelace') ?? 0n) + sign * BigInt(value.coin().to_str()));
  const multiasset = value.multiasset();
  if (multiasset) addMultiAsset(into, multiasset, sign);
};

const addMultiAsset = (into: ValueMap, multiasset: C.MultiAsset, sign: 1n | -1n): void => {
  const policies = multiasset.keys();
  for (let i = 0; i < policies.len(); i++) {
    const policy = policies.get(i);
    const assets = multiasset.get(policy)!;
    const names = assets.keys();
    for (let j = 0; j < names.len(); j++) {
      const name = names.get(j);
      const unit = policy.to_hex() + Buffer.from(name.name()).toString('hex');
      into.set(unit, (into.get(unit) ?? 0n) + sign * BigInt(assets.get(name)!.to_str()));
    }
  }
};

const sameValue = (a: ValueMap, b: ValueMap): boolean => {
  const units = new Set([...a.keys(), ...b.keys()]);
  for (const unit of units) if ((a.get(unit) ?? 0n) !== (b.get(unit) ?? 0n)) return false;
  return true;
};

const describeValue = (value: ValueMap): string =>
  [...value.entries()]
    .filter(([, q]) => q !== 0n)
    .map(([unit, q]) => `${q} ${unit}`)
    .join(' + ') || '0';

/** The payment credential of an address: a key hash, a script hash, or none (Byron). */
const paymentCredential = (address: C.Address): { key?: string; script?: string } => {
  const credential =
    address.as_base()?.payment_cred() ??
    address.as_enterprise()?.payment_cred() ??
    address.as_pointer()?.payment_cred();
  if (!credential) return {};
  const key = credential.to_keyhash();
  if (key) return { key: key.to_hex() };
  return { script: credential.to_scripthash()!.to_hex() };
};

const scriptTypeName = (script: C.Script): { language: string; type: string; cborHex: string } => {
  const native = script.as_native();
  if (native)
    return {
      language: 'SimpleScriptLanguage',
      type: 'SimpleScript',
      cborHex: Buffer.from(native.to_bytes()).toString('hex'),
    };
  for (const [version, plutus] of [
    ['V1', script.as_plutus_v1()],
    ['V2', script.as_plutus_v2()],
    ['V3', script.as_plutus_v3()],
  ] as const) {
    if (plutus) {
      return {
        language: `PlutusScriptLanguage PlutusScript${version}`,
        type: `PlutusScript${version}`,
        cborHex: Buffer.from(plutus.to_bytes()).toString('hex'),
      };
    }
  }
  return {
    language: 'Unknown',
    type: 'SimpleScript',
    cborHex: Buffer.from(script.to_bytes()).toString('hex'),
  };
};

/** The output in hydra-node's JSON (TxOut of api.yaml). */
export const txOutToApi = (outputHex: string): HydraTxOut => {
  const output = C.TransactionOutput.from_bytes(Buffer.from(outputHex, 'hex'));
  const value: Record<string, number | Record<string, number>> = {
    lovelace: Number(output.amount().coin().to_str()),
  };
  const assets: ValueMap = new Map();
  const multiasset = output.amount().multiasset();
  if (multiasset) {
    addMultiAsset(assets, multiasset, 1n);
    for (const [unit, quantity] of assets) {
      const policy = unit.slice(0, 56);
      const bucket = (value[policy] ??= {}) as Record<string, number>;
      bucket[unit.slice(56)] = Number(quantity);
    }
  }
  const datum = output.datum();
  const hash = datum?.as_data_hash();
  const inline = datum?.as_data()?.get();
  const scriptRef = output.script_ref();
  const script = scriptRef ? scriptTypeName(scriptRef.get()) : undefined;
  let inlineJson: unknown = null;
  if (inline) {
    try {
      inlineJson = JSON.parse(C.decode_plutus_datum_to_json_str(inline, C.PlutusDatumSchema.DetailedSchema));
    } catch {
      inlineJson = null;
    }
  }
  return {
    address: output.address().to_bech32(undefined),
    value,
    datum: null,
    datumhash: hash ? hash.to_hex() : null,
    inlineDatum: inlineJson,
    inlineDatumRaw: inline ? Buffer.from(inline.to_bytes()).toString('hex') : null,
    inlineDatumhash: inline ? C.hash_plutus_data(inline).to_hex() : null,
    referenceScript: script
      ? {
          scriptLanguage: script.language,
          script: { cborHex: script.cborHex, description: '', type: script.type },
        }
      : null,
  };
};

interface TxShape {
  readonly inputs: readonly string[];
  readonly referenceInputs: readonly string[];
  readonly created: Readonly<Record<string, string>>;
  /** Validity interval in slots: valid from `validFrom` (inclusive) until `invalidHereafter` (exclusive). */
  readonly validFrom?: number;
  readonly invalidHereafter?: number;
}

const OK = '';
const CACHE_LIMIT = 50_000;
const remember = <V>(cache: Map<string, V>, key: string, value: V): void => {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
};

/** The inputs and outputs of a transaction, or why it does not decode. */
const txShape = (headTx: HeadTx): TxShape | string => {
  let tx: C.Transaction;
  try {
    tx = C.Transaction.from_bytes(Buffer.from(headTx.cborHex, 'hex'));
  } catch (error) {
    return `not a Cardano transaction: ${String(error)}`;
  }
  try {
    const body = tx.body();
    const inputs: string[] = [];
    const coreInputs = body.inputs();
    for (let i = 0; i < coreInputs.len(); i++) inputs.push(txInOf(coreInputs.get(i)));
    const referenceInputs: string[] = [];
    const coreReferences = body.reference_inputs();
    for (let i = 0; i < (coreReferences?.len() ?? 0); i++)
      referenceInputs.push(txInOf(coreReferences!.get(i)));
    const created: Record<string, string> = {};
    const outputs = body.outputs();
    for (let i = 0; i < outputs.len(); i++)
      created[`${headTx.txId}#${i}`] = Buffer.from(outputs.get(i).to_bytes()).toString('hex');
    const start = body.validity_start_interval();
    const ttl = body.ttl();
    return {
      inputs,
      referenceInputs,
      created,
      ...(start ? { validFrom: Number(start.to_str()) } : {}),
      ...(ttl ? { invalidHereafter: Number(ttl.to_str()) } : {}),
    };
  } finally {
    tx.free();
  }
};

export class CardanoHeadLedger implements HeadLedger {
  private readonly protocolParameters: ProtocolParameters;
  private readonly slotConfig: SlotConfig;
  private readonly costModels: Uint8Array;

  constructor(options: CardanoLedgerOptions = {}) {
    this.protocolParameters = options.protocolParameters ?? PROTOCOL_PARAMETERS_DEFAULT;
    this.slotConfig = options.slotConfig ?? { zeroTime: 0, zeroSlot: 0, slotLength: 1000 };
    this.costModels = createCostModels(this.protocolParameters.costModels).to_bytes();
  }

  decodeTransaction(cborHex: string): { ok: true; tx: HeadTx } | { ok: false; reason: string } {
    try {
      const tx = C.Transaction.from_bytes(Buffer.from(cborHex, 'hex'));
      return { ok: true, tx: { cborHex, txId: C.hash_transaction(tx.body()).to_hex() } };
    } catch (error) {
      return { ok: false, reason: `not a Cardano transaction: ${String(error)}` };
    }
  }

  /**
   * Validation is memoised: an output reference always names the same output, so the verdict on
   * a transaction depends only on its bytes and the outputs it resolves. Keyed by a hash of both,
   * it is computed once and shared by every node using this ledger (and by ReqTx and ReqSn).
   */
  private readonly shapes = new Map<string, TxShape | string>();
  private readonly verdicts = new Map<string, string>();

  /** The slot that contains `time` (POSIX ms) under this ledger's slot configuration. */
  slotAt(time: number): number {
    const { zeroTime, zeroSlot, slotLength } = this.slotConfig;
    return zeroSlot + Math.floor((time - zeroTime) / slotLength);
  }

  applyTransaction(utxo: HeadUTxO, headTx: HeadTx, now?: number): ApplyTxResult {
    const digest = createHash('sha256').update(headTx.cborHex).update(headTx.txId).digest('hex');
    let shape = this.shapes.get(digest);
    if (shape === undefined) {
      shape = txShape(headTx);
      remember(this.shapes, digest, shape);
    }
    if (typeof shape === 'string') return { ok: false, reason: shape };
    if (now !== undefined) {
      const slot = this.slotAt(now);
      if (
        (shape.validFrom !== undefined && slot < shape.validFrom) ||
        (shape.invalidHereafter !== undefined && slot >= shape.invalidHereafter)
      ) {
        return {
          ok: false,
          reason: `OutsideValidityIntervalUTxO: slot ${slot} is outside [${shape.validFrom ?? '-inf'}, ${shape.invalidHereafter ?? '+inf'})`,
        };
      }
    }
    const missing = shape.inputs.filter((txIn) => utxo[txIn] === undefined);
    if (missing.length > 0)
      return { ok: false, reason: `BadInputsUTxO: missing inputs ${missing.join(', ')}` };
    const key = createHash('sha256').update(digest);
    for (const txIn of [...shape.inputs, ...shape.referenceInputs])
      key.update(txIn).update(utxo[txIn] ?? '-');
    const verdictKey = key.digest('hex');
    let verdict = this.verdicts.get(verdictKey);
    if (verdict === undefined) {
      const tx = C.Transaction.from_bytes(Buffer.from(headTx.cborHex, 'hex'));
      try {
        const result = this.apply(utxo, tx, headTx);
        verdict = result.ok ? OK : result.reason;
      } finally {
        tx.free();
      }
      remember(this.verdicts, verdictKey, verdict);
    }
    if (verdict !== OK) return { ok: false, reason: verdict };
    const next: Record<string, string> = { ...utxo };
    for (const txIn of shape.inputs) delete next[txIn];
    Object.assign(next, shape.created);
    return { ok: true, utxo: next };
  }

  private apply(utxo: HeadUTxO, tx: C.Transaction, headTx: HeadTx): ApplyTxResult {
    const body = tx.body();
    const bodyHash = C.hash_transaction(body);
    const txId = bodyHash.to_hex();
    if (txId !== headTx.txId)
      return { ok: false, reason: `transaction id ${headTx.txId} does not match its body ${txId}` };
    if (!tx.is_valid()) return { ok: false, reason: 'transaction is marked invalid (phase-2 failure)' };
    if (body.certs() || body.withdrawals())
      return { ok: false, reason: 'certificates and withdrawals are not supported in the head' };

    // Inputs exist, once each.
    const inputs: string[] = [];
    const coreInputs = body.inputs();
    for (let i = 0; i < coreInputs.len(); i++) inputs.push(txInOf(coreInputs.get(i)));
    if (inputs.length === 0) return { ok: false, reason: 'no inputs' };
    if (new Set(inputs).size !== inputs.length) return { ok: false, reason: 'duplicate inputs' };
    const missing = inputs.filter((txIn) => utxo[txIn] === undefined);
    if (missing.length > 0)
      return { ok: false, reason: `BadInputsUTxO: missing inputs ${missing.join(', ')}` };
    const referenceInputs: string[] = [];
    const coreReferences = body.reference_inputs();
    for (let i = 0; i < (coreReferences?.len() ?? 0); i++)
      referenceInputs.push(txInOf(coreReferences!.get(i)));
    const missingReferences = referenceInputs.filter((txIn) => utxo[txIn] === undefined);
    if (missingReferences.length > 0)
      return { ok: false, reason: `missing reference inputs ${missingReferences.join(', ')}` };

    // Fee and value.
    if (body.fee().to_str() !== '0')
      return { ok: false, reason: `fee must be zero in the head, got ${body.fee().to_str()}` };
    const consumed: ValueMap = new Map();
    const produced: ValueMap = new Map();
    const spentOutputs = inputs.map((txIn) =>
      C.TransactionOutput.from_bytes(Buffer.from(utxo[txIn]!, 'hex')),
    );
    for (const output of spentOutputs) addValue(consumed, output.amount());
    const mint = body.mint();
    if (mint) {
      addMultiAsset(consumed, mint.as_positive_multiasset(), 1n);
      addMultiAsset(produced, mint.as_negative_multiasset(), 1n);
    }
    const outputs = body.outputs();
    const created: Record<string, string> = {};
    for (let i = 0; i < outputs.len(); i++) {
      const output = outputs.get(i);
      addValue(produced, output.amount());
      created[`${txId}#${i}`] = Buffer.from(output.to_bytes()).toString('hex');
    }
    if (!sameValue(consumed, produced)) {
      return {
        ok: false,
        reason: `ValueNotConservedUTxO: consumed ${describeValue(consumed)}, produced ${describeValue(produced)}`,
      };
    }

    const coinsPerUtxoByte = BigInt(this.protocolParameters.coinsPerUtxoByte);
    for (let i = 0; i < outputs.len(); i++) {
      const bytes = Buffer.from(created[`${txId}#${i}`]!, 'hex');
      const needed = minLovelaceOfOutput(bytes, coinsPerUtxoByte);
      const held = BigInt(outputs.get(i).amount().coin().to_str());
      if (held < needed)
        return {
          ok: false,
          reason: `BabbageOutputTooSmallUTxO: output ${i} holds ${held} lovelace, needs at least ${needed}`,
        };
    }

    // Key witnesses.
    const witnesses = tx.witness_set();
    const signers = new Set<string>();
    const vkeys = witnesses.vkeys();
    for (let i = 0; i < (vkeys?.len() ?? 0); i++) {
      const witness = vkeys!.get(i);
      const publicKey = witness.vkey().public_key();
      if (!publicKey.verify(bodyHash.to_bytes(), witness.signature())) {
        return { ok: false, reason: `InvalidWitnessesUTXOW: bad signature by ${publicKey.hash().to_hex()}` };
      }
      signers.add(publicKey.hash().to_hex());
    }
    const requiredKeys = new Set<string>();
    const scriptInputs: string[] = [];
    spentOutputs.forEach((output, i) => {
      const credential = paymentCredential(output.address());
      if (credential.key) requiredKeys.add(credential.key);
      if (credential.script) scriptInputs.push(`${inputs[i]}:${credential.script}`);
    });
    const requiredSigners = body.required_signers();
    for (let i = 0; i < (requiredSigners?.len() ?? 0); i++)
      requiredKeys.add(requiredSigners!.get(i).to_hex());
    const unsigned = [...requiredKeys].filter((key) => !signers.has(key));
    if (unsigned.length > 0)
      return { ok: false, reason: `MissingVKeyWitnessesUTXOW: ${unsigned.join(', ')}` };

    // Scripts: native scripts checked here, Plutus scripts by the evaluator.
    const nativeScripts = new Map<string, C.NativeScript>();
    const witnessNative = witnesses.native_scripts();
    for (let i = 0; i < (witnessNative?.len() ?? 0); i++) {
      const script = witnessNative!.get(i);
      nativeScripts.set(script.hash(SCRIPT_KIND_NATIVE).to_hex(), script);
    }
    for (const txIn of [...inputs, ...referenceInputs]) {
      const ref = C.TransactionOutput.from_bytes(Buffer.from(utxo[txIn]!, 'hex'))
        .script_ref()
        ?.get()
        .as_native();
      if (ref) nativeScripts.set(ref.hash(SCRIPT_KIND_NATIVE).to_hex(), ref);
    }
    const signerHashes = C.Ed25519KeyHashes.new();
    for (const key of signers) signerHashes.add(C.Ed25519KeyHash.from_hex(key));
    let plutusNeeded = (witnesses.redeemers()?.len() ?? 0) > 0;
    for (const entry of scriptInputs) {
      const [txIn, scriptHash] = entry.split(':') as [string, string];
      const native = nativeScripts.get(scriptHash);
      if (native) {
        if (!native.verify(body.validity_start_interval(), body.ttl(), signerHashes)) {
          return {
            ok: false,
            reason: `ScriptWitnessNotValidatingUTXOW: native script ${scriptHash} fails for ${txIn}`,
          };
        }
      } else plutusNeeded = true;
    }
    const mintPolicies: string[] = [];
    const mintKeys = mint?.keys();
    for (let i = 0; i < (mintKeys?.len() ?? 0); i++) mintPolicies.push(mintKeys!.get(i).to_hex());
    mintPolicies.sort();
    for (const policy of mintPolicies) {
      const native = nativeScripts.get(policy);
      if (native) {
        if (!native.verify(body.validity_start_interval(), body.ttl(), signerHashes)) {
          return { ok: false, reason: `ScriptWitnessNotValidatingUTXOW: minting policy ${policy} fails` };
        }
      } else plutusNeeded = true;
    }
    if (plutusNeeded) {
      const evaluation = evaluatePlutusScripts({
        txBytes: tx.to_bytes(),
        resolved: [...inputs, ...referenceInputs].map((txIn) => ({ txIn, outputHex: utxo[txIn]! })),
        costModels: this.costModels,
        maxTxExMem: BigInt(this.protocolParameters.maxTxExMem),
        maxTxExSteps: BigInt(this.protocolParameters.maxTxExSteps),
        slotConfig: this.slotConfig,
      });
      if (!evaluation.ok) return { ok: false, reason: evaluation.reason };
      const sorted = [...inputs].sort(compareTxIn);
      for (const entry of scriptInputs) {
        const [txIn, scriptHash] = entry.split(':') as [string, string];
        if (nativeScripts.has(scriptHash)) continue;
        const index = String(sorted.indexOf(txIn));
        if (!evaluation.redeemers.some((r) => r.tag === REDEEMER_TAG_SPEND && r.index === index)) {
          return {
            ok: false,
            reason: `MissingRedeemers: no script ran for ${txIn} (locked by ${scriptHash})`,
          };
        }
      }
      for (const [index, policy] of mintPolicies.entries()) {
        if (nativeScripts.has(policy)) continue;
        if (!evaluation.redeemers.some((r) => r.tag === REDEEMER_TAG_MINT && r.index === String(index))) {
          return { ok: false, reason: `MissingRedeemers: no minting policy ran for ${policy}` };
        }
      }
    }

    const next: Record<string, string> = { ...utxo };
    for (const txIn of inputs) delete next[txIn];
    Object.assign(next, created);
    return { ok: true, utxo: next };
  }

  utxoToApi(utxo: HeadUTxO): HydraUTxO {
    return Object.fromEntries(
      Object.keys(utxo)
        .sort()
        .map((txIn) => [txIn, txOutToApi(utxo[txIn]!)]),
    );
  }
}
