import {
  C,
  Emulator,
  Lucid,
  PROTOCOL_PARAMETERS_DEFAULT,
  utxoToCore,
  type ProtocolParameters,
  type UTxO,
} from 'lucid-cardano';
import { DmlError } from '../errors.js';
import type { HeadUTxO } from './head-ledger.js';
import { txOutToApi } from './cardano-ledger.js';

/**
 * Layer 1 as the embedded head needs it: look up outputs, draft a commit, submit, and pay a
 * UTxO out of the head's custody. Backed by lucid's Emulator for now; the validating emulator
 * (scripts run at submit) plugs in behind the same interface.
 */
export interface HeadLayer1 {
  /** Current chain time, ms since the epoch. */
  now(): number;
  /** Resolves L1 outputs; throws DmlError for an unknown one. */
  resolve(txIns: readonly string[]): Promise<HeadUTxO>;
  /**
   * Drafts a commit: spends `utxo` into the head's custody, fees paid (and signed for) by the
   * operator. The owner still has to sign it and submit it.
   */
  draftCommit(
    headId: string,
    utxo: HeadUTxO,
  ): Promise<{ cborHex: string; txId: string; custodyTxIn: string }>;
  submit(cborHex: string): Promise<string>;
  /** Pays `utxo` out of custody inputs `custody` (fanout, abort); returns the L1 tx id. */
  payOut(custody: readonly string[], utxo: HeadUTxO): Promise<string>;
  protocolParameters(): ProtocolParameters;
}

export interface LucidLayer1Options {
  /** Genesis outputs on layer 1. */
  readonly accounts: ReadonlyArray<{ address: string; lovelace: bigint }>;
  /** The operator key (bech32 ed25519_sk) that funds head transactions and holds the custody. */
  readonly operatorKey: string;
}

export class LucidEmulatorLayer1 implements HeadLayer1 {
  private constructor(
    readonly emulator: Emulator,
    private readonly lucid: Lucid,
    private readonly custodyKey: string,
    private readonly custodyAddress: string,
  ) {}

  static async create(options: LucidLayer1Options): Promise<LucidEmulatorLayer1> {
    const offline = await Lucid.new(undefined, 'Custom');
    const operatorAddress = await offline.selectWalletFromPrivateKey(options.operatorKey).wallet.address();
    const emulator = new Emulator([
      { address: operatorAddress, assets: { lovelace: 1_000_000_000_000n } },
      ...options.accounts.map((a) => ({ address: a.address, assets: { lovelace: a.lovelace } })),
    ]);
    const lucid = await Lucid.new(emulator, 'Custom');
    lucid.selectWalletFromPrivateKey(options.operatorKey);
    // Custody (standing in for the Head scripts) is a key of its own, apart from the fee wallet.
    const custodyKey = C.PrivateKey.generate_ed25519().to_bech32();
    const custodyAddress = await offline.selectWalletFromPrivateKey(custodyKey).wallet.address();
    return new LucidEmulatorLayer1(emulator, lucid, custodyKey, custodyAddress);
  }

  now(): number {
    return this.emulator.now();
  }

  protocolParameters(): ProtocolParameters {
    return this.emulator.protocolParameters ?? PROTOCOL_PARAMETERS_DEFAULT;
  }

  private async lookup(txIns: readonly string[]): Promise<UTxO[]> {
    const refs = txIns.map((txIn) => {
      const [txHash, index] = txIn.split('#');
      return { txHash: txHash!, outputIndex: Number(index) };
    });
    const found = await this.emulator.getUtxosByOutRef(refs);
    if (found.length !== refs.length) {
      const known = new Set(found.map((u) => `${u.txHash}#${u.outputIndex}`));
      throw new DmlError(
        'HYDRA_L1_UNKNOWN_UTXO',
        `not on layer 1: ${txIns.filter((t) => !known.has(t)).join(', ')}`,
      );
    }
    return found;
  }

  async resolve(txIns: readonly string[]): Promise<HeadUTxO> {
    const found = await this.lookup(txIns);
    return Object.fromEntries(
      found.map((u) => [
        `${u.txHash}#${u.outputIndex}`,
        Buffer.from(utxoToCore(u).output().to_bytes()).toString('hex'),
      ]),
    );
  }

  async draftCommit(
    headId: string,
    utxo: HeadUTxO,
  ): Promise<{ cborHex: string; txId: string; custodyTxIn: string }> {
    const inputs = await this.lookup(Object.keys(utxo));
    const total: Record<string, bigint> = {};
    for (const input of inputs)
      for (const [unit, q] of Object.entries(input.assets)) total[unit] = (total[unit] ?? 0n) + q;
    const owners = new Set(inputs.map((u) => u.address));
    let tx = this.lucid
      .newTx()
      .collectFrom(inputs)
      .payToAddressWithData(this.custodyAddress, { inline: headIdDatum(headId) }, total);
    for (const owner of owners) tx = tx.addSigner(owner);
    const complete = await tx.complete();
    const signed = complete.txComplete;
    const witness = await complete.partialSign();
    const witnesses = C.TransactionWitnessSet.from_bytes(Buffer.from(witness, 'hex'));
    const merged = C.Transaction.new(
      signed.body(),
      mergeWitnesses(signed.witness_set(), witnesses),
      signed.auxiliary_data(),
    );
    const txId = C.hash_transaction(signed.body()).to_hex();
    const outputs = signed.body().outputs();
    let custodyIndex = -1;
    for (let i = 0; i < outputs.len(); i++) {
      if (outputs.get(i).address().to_bech32(undefined) === this.custodyAddress) custodyIndex = i;
    }
    return {
      cborHex: Buffer.from(merged.to_bytes()).toString('hex'),
      txId,
      custodyTxIn: `${txId}#${custodyIndex}`,
    };
  }

  async submit(cborHex: string): Promise<string> {
    try {
      const txId = await this.emulator.submitTx(cborHex);
      this.emulator.awaitBlock(1);
      return txId;
    } catch (error) {
      throw new DmlError(
        'HYDRA_L1_REJECTED',
        `layer 1 rejected the transaction: ${typeof error === 'string' ? error : String(error)}`,
      );
    }
  }

  async payOut(custody: readonly string[], utxo: HeadUTxO): Promise<string> {
    const inputs = await this.lookup(custody);
    let tx = this.lucid.newTx().collectFrom(inputs);
    for (const txIn of Object.keys(utxo).sort()) {
      const out = txOutToApi(utxo[txIn]!);
      const assets: Record<string, bigint> = {};
      for (const [key, value] of Object.entries(out.value)) {
        if (typeof value === 'number') assets['lovelace'] = BigInt(value);
        else for (const [name, q] of Object.entries(value)) assets[key + name] = BigInt(q);
      }
      tx = out.inlineDatumRaw
        ? tx.payToAddressWithData(out.address, { inline: out.inlineDatumRaw }, assets)
        : out.datumhash
          ? tx.payToAddressWithData(out.address, { hash: out.datumhash }, assets)
          : tx.payToAddress(out.address, assets);
    }
    const signed = await (await tx.complete()).sign().signWithPrivateKey(this.custodyKey).complete();
    return this.submit(signed.toString());
  }
}

/** Inline datum of a custody output: the head id as a bytestring. */
const headIdDatum = (headId: string): string => {
  const bytes = Buffer.from(headId, 'hex');
  return Buffer.from(C.PlutusData.new_bytes(bytes).to_bytes()).toString('hex');
};

const mergeWitnesses = (a: C.TransactionWitnessSet, b: C.TransactionWitnessSet): C.TransactionWitnessSet => {
  const vkeys = C.Vkeywitnesses.new();
  for (const set of [a, b]) {
    const list = set.vkeys();
    for (let i = 0; i < (list?.len() ?? 0); i++) vkeys.add(list!.get(i));
  }
  a.set_vkeys(vkeys);
  return a;
};

/** Adds the vkey witness of `privateKey` (bech32 or a CML key) to a transaction. */
export const signCardanoTransaction = (cborHex: string, privateKey: C.PrivateKey): string => {
  const tx = C.Transaction.from_bytes(Buffer.from(cborHex, 'hex'));
  const witness = C.make_vkey_witness(C.hash_transaction(tx.body()), privateKey);
  const set = tx.witness_set();
  const vkeys = set.vkeys() ?? C.Vkeywitnesses.new();
  vkeys.add(witness);
  set.set_vkeys(vkeys);
  return Buffer.from(C.Transaction.new(tx.body(), set, tx.auxiliary_data()).to_bytes()).toString('hex');
};
