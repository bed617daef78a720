import { C, coreToUtxo, fromHex, toHex, type UTxO } from 'lucid-cardano';

/** One transaction as a chain follower sees it: its id, its CBOR and the slot of its block. */
export interface ChainTx {
  readonly txId: string;
  readonly cbor: string;
  readonly slot: number;
}

/** What a follower reads from a transaction (the parts the cohort's transitions show in). */
export interface ReadChainTx {
  readonly txId: string;
  readonly slot: number;
  /** Spent out-refs as `TXHASH#INDEX`, in the ledger's order (sorted), so redeemer indexes apply. */
  readonly inputs: readonly string[];
  readonly outputs: readonly UTxO[];
  /** Minted (positive) and burnt (negative) quantities by unit (policy id + asset name). */
  readonly minted: Readonly<Record<string, bigint>>;
  /** Key hashes the transaction declares as required signers. */
  readonly requiredSigners: readonly string[];
  /** Key hashes of the transaction's vkey witnesses (who signed it), in witness order. */
  readonly witnesses: readonly string[];
  /** Transaction metadata by label, as JSON (CML's no-conversion schema, as lucid's `attachMetadata` writes it); empty when there is none. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Redeemers as (tag, index, data CBOR). */
  readonly redeemers: ReadonlyArray<{
    tag: 'spend' | 'mint' | 'cert' | 'reward';
    index: number;
    data: string;
  }>;
}

const REDEEMER_TAGS = ['spend', 'mint', 'cert', 'reward'] as const;
/** CML's MetadataJsonSchema.NoConversions (the schema lucid's `attachMetadata` encodes with). */
const METADATA_NO_CONVERSIONS = 0;

const compareOutRefs = (a: string, b: string): number => {
  const [ha, ia] = a.split('#');
  const [hb, ib] = b.split('#');
  return ha === hb ? Number(ia) - Number(ib) : ha! < hb! ? -1 : 1;
};

const addMultiAsset = (
  into: Record<string, bigint>,
  assets: InstanceType<typeof C.MultiAsset> | undefined,
  sign: 1n | -1n,
) => {
  const policies = assets?.keys();
  for (let i = 0; i < (policies?.len() ?? 0); i++) {
    const policy = policies!.get(i);
    const named = assets!.get(policy)!;
    const names = named.keys();
    for (let j = 0; j < names.len(); j++) {
      const name = names.get(j);
      const unit = policy.to_hex() + toHex(name.name());
      into[unit] = (into[unit] ?? 0n) + sign * BigInt(named.get(name)!.to_str());
    }
  }
};

/** Decodes a transaction's CBOR into what a follower needs. Throws on bytes that are not a transaction. */
export const readChainTx = (tx: ChainTx): ReadChainTx => {
  const parsed = C.Transaction.from_bytes(fromHex(tx.cbor));
  const body = parsed.body();
  const inputs: string[] = [];
  for (let i = 0; i < body.inputs().len(); i++) {
    const input = body.inputs().get(i);
    inputs.push(`${input.transaction_id().to_hex()}#${input.index().to_str()}`);
  }
  inputs.sort(compareOutRefs);
  const outputs: UTxO[] = [];
  for (let i = 0; i < body.outputs().len(); i++) {
    const ref = C.TransactionInput.new(C.TransactionHash.from_hex(tx.txId), C.BigNum.from_str(String(i)));
    outputs.push(coreToUtxo(C.TransactionUnspentOutput.new(ref, body.outputs().get(i))));
  }
  const minted: Record<string, bigint> = {};
  const mint = body.mint();
  if (mint) {
    addMultiAsset(minted, mint.as_positive_multiasset(), 1n);
    addMultiAsset(minted, mint.as_negative_multiasset(), -1n);
  }
  const requiredSigners: string[] = [];
  const signers = body.required_signers();
  for (let i = 0; i < (signers?.len() ?? 0); i++) requiredSigners.push(signers!.get(i).to_hex());
  const redeemers: Array<ReadChainTx['redeemers'][number]> = [];
  const declared = parsed.witness_set().redeemers();
  for (let i = 0; i < (declared?.len() ?? 0); i++) {
    const r = declared!.get(i);
    const tag = REDEEMER_TAGS[r.tag().kind()];
    if (tag) redeemers.push({ tag, index: Number(r.index().to_str()), data: toHex(r.data().to_bytes()) });
  }
  const witnesses: string[] = [];
  const vkeys = parsed.witness_set().vkeys();
  for (let i = 0; i < (vkeys?.len() ?? 0); i++)
    witnesses.push(vkeys!.get(i).vkey().public_key().hash().to_hex());
  const metadata: Record<string, unknown> = {};
  const general = parsed.auxiliary_data()?.metadata();
  const labels = general?.keys();
  for (let i = 0; i < (labels?.len() ?? 0); i++) {
    const label = labels!.get(i);
    try {
      metadata[label.to_str()] = JSON.parse(
        C.decode_metadatum_to_json_str(general!.get(label)!, METADATA_NO_CONVERSIONS),
      );
    } catch {
      // metadata that has no JSON form (e.g. byte-string keys): not ours, left out
    }
  }
  return {
    txId: tx.txId,
    slot: tx.slot,
    inputs,
    outputs,
    minted,
    requiredSigners,
    witnesses,
    metadata,
    redeemers,
  };
};
