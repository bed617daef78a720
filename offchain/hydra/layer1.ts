import {
  C,
  Emulator,
  Lucid,
  PROTOCOL_PARAMETERS_DEFAULT,
  getAddressDetails,
  utxoToCore,
  type Address,
  type Credential,
  type ProtocolParameters,
  type UTxO,
} from 'lucid-cardano';
import { DmlError } from '../errors.js';
import type { HeadUTxO } from './head-ledger.js';
import { minLovelaceFor } from './min-ada.js';
import type { SlotConfig } from './plutus-evaluation.js';

/**
 * Layer 1 as the embedded head needs it: look up outputs, draft a commit, submit, post the
 * head's lifecycle transactions (each spends and re-creates outputs at the custody address) and
 * read the custody address back. What the datums say and which transitions are allowed is the
 * chain's business (embedded-chain.ts); this layer only builds, signs and submits.
 */
export interface CustodyOutput {
  /** `txId#index` */
  readonly txIn: string;
  /** The output's CBOR (hex). */
  readonly output: string;
  /** Its inline datum (hex), when it has one. */
  readonly datum?: string;
}

export interface CustodyTxSpec {
  /** Custody outputs to spend (signed for by the custody key). */
  readonly spend: readonly string[];
  /** An output of the operator's wallet to consume (it makes the transaction, and a head id, unique). */
  readonly seed?: string;
  /**
   * A custody output with this inline datum, placed first. It carries the value of every spent
   * custody output, or the minimum ADA when nothing is spent.
   */
  readonly custodyDatum?: string;
  /** Outputs re-created exactly as given (fanout, abort). */
  readonly payOut?: HeadUTxO;
  /** Validity interval, POSIX ms (rounded down to a slot). */
  readonly validFrom?: number;
  readonly validTo?: number;
}

export interface HeadLayer1 {
  /** Current chain time, ms since the epoch. */
  now(): number;
  /** Lets chain time pass (an emulator's slots); tests drive time, nothing sleeps. */
  advance(ms: number): void;
  /** Resolves L1 outputs; throws DmlError for an unknown one. */
  resolve(txIns: readonly string[]): Promise<HeadUTxO>;
  /**
   * Drafts a commit: spends `utxo` into one custody output with the inline datum `datum`, fees
   * paid (and signed for) by the operator. The owner still has to sign it and submit it.
   */
  draftCommit(utxo: HeadUTxO, datum: string): Promise<{ cborHex: string; txId: string }>;
  /** Submits a signed transaction; throws DmlError HYDRA_L1_REJECTED with layer 1's reason. */
  submit(cborHex: string): Promise<string>;
  /** An unspent output of the operator's wallet (to seed a head). */
  seedInput(): Promise<string>;
  /** Builds, signs (operator and custody key) and submits a head transaction. */
  postCustodyTx(spec: CustodyTxSpec): Promise<{ txId: string }>;
  /** The unspent outputs at the custody address now (mempool included). */
  custodyOutputs(): Promise<CustodyOutput[]>;
  protocolParameters(): ProtocolParameters;
  /** Slot clock of layer 1 (the head's ledger checks validity intervals with it). */
  slotConfig?(): SlotConfig;
}

export interface LucidLayer1Options {
  /** Genesis outputs on layer 1. */
  readonly accounts: ReadonlyArray<{ address: string; lovelace: bigint }>;
  /** The operator key (bech32 ed25519_sk) that funds head transactions. */
  readonly operatorKey: string;
  /** The key that holds the custody address (generated when absent). */
  readonly custodyKey?: string;
}

const refOf = (u: UTxO): string => `${u.txHash}#${u.outputIndex}`;
const keyAddress = (privateKey: string, network: number): string =>
  C.EnterpriseAddress.new(
    network,
    C.StakeCredential.from_keyhash(C.PrivateKey.from_bech32(privateKey).to_public().hash()),
  )
    .to_address()
    .to_bech32(undefined);
const errorText = (error: unknown): string =>
  typeof error === 'string' ? error : error instanceof Error ? error.message : String(error);

/**
 * The embedded head's layer 1 on a lucid `Emulator` (or the `ValidatingEmulator` of
 * offchain/chain, which runs scripts at submit). Either its own emulator (`create`) or the one
 * behind a given `Lucid` instance (`fromLucid`), so that the head's commits and fanouts land on
 * the same chain as the cohort's contracts.
 *
 * It never moves the clock on submit: its wallet view includes the mempool (lucid's own view is
 * the last block only), so transactions chain without waiting for a block. The given `Lucid`
 * instance is not modified: the layer works on a derived object that shares its provider and
 * configuration and has the operator's wallet selected.
 */
export class LucidEmulatorLayer1 implements HeadLayer1 {
  readonly operatorAddress: string;
  readonly custodyAddress: string;
  private readonly lucid: Lucid;

  private constructor(
    readonly emulator: Emulator,
    base: Lucid,
    operatorKey: string,
    private readonly custodyKey: string,
  ) {
    const network = base.network === 'Mainnet' ? 1 : 0;
    this.operatorAddress = keyAddress(operatorKey, network);
    this.custodyAddress = keyAddress(custodyKey, network);
    // A derived object: reads fall through to `base` (provider, configuration), writes (the
    // wallet, the UTxO view) stay here, so the caller's wallet selection is left alone.
    const own = Object.create(base) as Lucid;
    own.selectWalletFromPrivateKey(operatorKey);
    own.utxosAt = (addressOrCredential: Address | Credential) =>
      Promise.resolve(this.unspentWhere(addressOrCredential));
    this.lucid = own;
  }

  /** A layer 1 on its own emulator with `accounts` funded (and the operator, with 1M ADA). */
  static async create(options: LucidLayer1Options): Promise<LucidEmulatorLayer1> {
    const emulator = new Emulator([
      { address: keyAddress(options.operatorKey, 0), assets: { lovelace: 1_000_000_000_000n } },
      ...options.accounts.map((a) => ({ address: a.address, assets: { lovelace: a.lovelace } })),
    ]);
    const lucid = await Lucid.new(emulator, 'Custom');
    return LucidEmulatorLayer1.fromLucid(lucid, options.operatorKey, {
      ...(options.custodyKey ? { custodyKey: options.custodyKey } : {}),
    });
  }

  /**
   * A layer 1 on the emulator behind `lucid` (e.g. the `ValidatingEmulator` that carries the
   * cohort contracts). `operatorKey` (bech32) must be funded there: it pays the head's fees and
   * the head output's minimum ADA. The custody key is generated unless given.
   */
  static fromLucid(
    lucid: Lucid,
    operatorKey: string,
    options: { custodyKey?: string } = {},
  ): LucidEmulatorLayer1 {
    if (!(lucid.provider instanceof Emulator))
      throw new DmlError('HYDRA_L1_NOT_EMULATOR', 'the embedded head needs a lucid Emulator as layer 1', {
        hint: 'pass the Lucid instance created with Lucid.new(emulator)',
      });
    const custodyKey = options.custodyKey ?? C.PrivateKey.generate_ed25519().to_bech32();
    return new LucidEmulatorLayer1(lucid.provider, lucid, operatorKey, custodyKey);
  }

  now(): number {
    return this.emulator.now();
  }

  advance(ms: number): void {
    const slots = Math.ceil(ms / 1000);
    if (slots > 0) this.emulator.awaitSlot(slots);
  }

  protocolParameters(): ProtocolParameters {
    return this.emulator.protocolParameters ?? PROTOCOL_PARAMETERS_DEFAULT;
  }

  /** The emulator's slot clock: 1 s slots, slot 0 at its start (what lucid and the validating emulator use). */
  slotConfig(): SlotConfig {
    return { zeroTime: this.emulator.now() - this.emulator.slot * 1000, zeroSlot: 0, slotLength: 1000 };
  }

  /** Every unspent output now: the last block's, minus what the mempool spent, plus the mempool's. */
  private unspent(): UTxO[] {
    const all: UTxO[] = [];
    for (const entries of [this.emulator.ledger, this.emulator.mempool])
      for (const { utxo, spent } of Object.values(entries)) if (!spent) all.push(utxo);
    return all;
  }

  private unspentWhere(addressOrCredential: Address | Credential): UTxO[] {
    if (typeof addressOrCredential === 'string')
      return this.unspent().filter((u) => u.address === addressOrCredential);
    return this.unspent().filter(
      (u) => getAddressDetails(u.address).paymentCredential?.hash === addressOrCredential.hash,
    );
  }

  /** Unspent outputs at `address` (mempool included). */
  utxosAt(address: string): UTxO[] {
    return this.unspentWhere(address);
  }

  private lookup(txIns: readonly string[]): UTxO[] {
    const byRef = new Map(this.unspent().map((u) => [refOf(u), u]));
    const missing = txIns.filter((t) => !byRef.has(t));
    if (missing.length > 0)
      throw new DmlError('HYDRA_L1_UNKNOWN_UTXO', `not on layer 1 (or spent): ${missing.join(', ')}`);
    return txIns.map((t) => byRef.get(t)!);
  }

  async resolve(txIns: readonly string[]): Promise<HeadUTxO> {
    return Object.fromEntries(
      this.lookup(txIns).map((u) => [
        refOf(u),
        Buffer.from(utxoToCore(u).output().to_bytes()).toString('hex'),
      ]),
    );
  }

  async seedInput(): Promise<string> {
    const mine = this.unspentWhere(this.operatorAddress).filter((u) => !u.datum && !u.datumHash);
    const richest = mine.sort((a, b) => (a.assets['lovelace']! > b.assets['lovelace']! ? -1 : 1))[0];
    if (!richest)
      throw new DmlError('HYDRA_L1_NO_FUNDS', `the head operator ${this.operatorAddress} has no funds`);
    return refOf(richest);
  }

  async custodyOutputs(): Promise<CustodyOutput[]> {
    return this.unspentWhere(this.custodyAddress).map((u) => ({
      txIn: refOf(u),
      output: Buffer.from(utxoToCore(u).output().to_bytes()).toString('hex'),
      ...(u.datum ? { datum: u.datum } : {}),
    }));
  }

  private slotAt(ms: number): number {
    return this.emulator.slot + Math.floor((ms - this.emulator.now()) / 1000);
  }

  private custodyOutput(datum: string, spent: readonly UTxO[]): C.TransactionOutput {
    const address = C.Address.from_bech32(this.custodyAddress);
    const make = (value: C.Value) => {
      const output = C.TransactionOutput.new(address, value);
      output.set_datum(C.Datum.new_data(C.Data.new(C.PlutusData.from_bytes(Buffer.from(datum, 'hex')))));
      return output;
    };
    if (spent.length > 0) {
      let value = C.Value.new(C.BigNum.from_str('0'));
      for (const u of spent) value = value.checked_add(utxoToCore(u).output().amount());
      return make(value);
    }
    const coinsPerUtxoByte = BigInt(this.protocolParameters().coinsPerUtxoByte);
    const lovelace = minLovelaceFor(
      (l) => make(C.Value.new(C.BigNum.from_str(l.toString()))).to_bytes(),
      coinsPerUtxoByte,
    );
    return make(C.Value.new(C.BigNum.from_str(lovelace.toString())));
  }

  async postCustodyTx(spec: CustodyTxSpec): Promise<{ txId: string }> {
    const spent = this.lookup(spec.spend);
    // The operator always puts one of its outputs in (the seed, else its richest): it pays the
    // fee and takes the change, so its signature is never extraneous.
    const seed = this.lookup([spec.seed ?? (await this.seedInput())]);
    let signed: string;
    try {
      const tx = this.lucid.newTx().collectFrom([...spent, ...seed]);
      if (spec.custodyDatum) tx.txBuilder.add_output(this.custodyOutput(spec.custodyDatum, spent));
      for (const txIn of Object.keys(spec.payOut ?? {}).sort())
        tx.txBuilder.add_output(C.TransactionOutput.from_bytes(Buffer.from(spec.payOut![txIn]!, 'hex')));
      if (spec.validFrom !== undefined)
        tx.validFrom(this.lucid.utils.slotToUnixTime(this.slotAt(spec.validFrom)));
      if (spec.validTo !== undefined) tx.validTo(this.lucid.utils.slotToUnixTime(this.slotAt(spec.validTo)));
      const complete = await tx.complete();
      let signing = complete.sign();
      if (spent.length > 0) signing = signing.signWithPrivateKey(this.custodyKey);
      signed = (await signing.complete()).toString();
    } catch (error) {
      throw new DmlError('HYDRA_L1_REJECTED', `could not build the transaction: ${errorText(error)}`);
    }
    return { txId: await this.submit(signed) };
  }

  async draftCommit(utxo: HeadUTxO, datum: string): Promise<{ cborHex: string; txId: string }> {
    const inputs = this.lookup(Object.keys(utxo));
    const owners = new Set(inputs.map((u) => u.address));
    let tx = this.lucid.newTx().collectFrom(inputs);
    tx.txBuilder.add_output(this.custodyOutput(datum, inputs));
    for (const owner of owners) tx = tx.addSigner(owner);
    const complete = await tx.complete();
    const built = complete.txComplete;
    const witness = await complete.partialSign();
    const witnesses = C.TransactionWitnessSet.from_bytes(Buffer.from(witness, 'hex'));
    const merged = C.Transaction.new(
      built.body(),
      mergeWitnesses(built.witness_set(), witnesses),
      built.auxiliary_data(),
    );
    return {
      cborHex: Buffer.from(merged.to_bytes()).toString('hex'),
      txId: C.hash_transaction(built.body()).to_hex(),
    };
  }

  async submit(cborHex: string): Promise<string> {
    try {
      return await this.emulator.submitTx(cborHex);
    } catch (error) {
      throw new DmlError('HYDRA_L1_REJECTED', `layer 1 rejected the transaction: ${errorText(error)}`);
    }
  }

  /** Pays `lovelace` from the operator's wallet to `address` (to fund test users). */
  async fund(address: string, lovelace: bigint): Promise<string> {
    const signed = await (
      await this.lucid.newTx().payToAddress(address, { lovelace }).complete()
    )
      .sign()
      .complete();
    return this.submit(signed.toString());
  }

  /**
   * Pays `utxo` out of custody inputs `custody` (kept for callers of the first version; the
   * chain now posts fanouts and aborts through `postCustodyTx`).
   */
  async payOut(custody: readonly string[], utxo: HeadUTxO): Promise<string> {
    return (await this.postCustodyTx({ spend: custody, payOut: utxo })).txId;
  }
}

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
