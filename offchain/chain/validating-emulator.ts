import {
  C,
  Emulator,
  fromHex,
  toHex,
  createCostModels,
  utxoToCore,
  type ProtocolParameters,
  type UTxO,
} from 'lucid-cardano';
import type { ChainTx } from './chain-tx.js';
import { runPhaseTwo } from './phase-two.js';
import { toScriptFailure, type ScriptNames } from './script-failure.js';

/**
 * lucid-cardano's `Emulator` runs no script when a transaction is submitted (only
 * `Tx.complete()` does, on the builder's side), so a hand-made or tampered transaction would be
 * accepted. This emulator runs phase 2 at `submitTx`, as a node would: every redeemer of the
 * transaction is evaluated with aiken's evaluator (the one lucid uses inside) against the
 * resolved inputs and reference inputs, the emulator's cost models, the per-transaction maximum
 * and the emulator's slot clock. The transaction is rejected with a `ScriptFailure` when a script
 * fails or when a redeemer declares fewer execution units than its script needs.
 *
 * It extends `Emulator` (not wraps it) because `Lucid.new` checks `instanceof Emulator` to set
 * the emulator's slot clock.
 */
export class ValidatingEmulator extends Emulator {
  /** Names of scripts by hash, used in error messages. */
  scriptNames: Record<string, string>;
  /**
   * Every accepted transaction in block order, with the slot of the block that holds it: what a
   * chain follower sees of this ledger (`followCohort` reads it).
   */
  readonly history: ChainTx[] = [];
  /** Accepted transactions still in the mempool (no block yet). */
  private pending: Array<{ txId: string; cbor: string }> = [];

  constructor(
    accounts: ConstructorParameters<typeof Emulator>[0],
    options: { protocolParameters?: ProtocolParameters; scriptNames?: ScriptNames } = {},
  ) {
    super(accounts, options.protocolParameters);
    this.scriptNames = { ...(options.scriptNames ?? {}) };
  }

  /** Register readable names for script hashes (error messages use them). */
  nameScripts(names: ScriptNames): void {
    Object.assign(this.scriptNames, names);
  }

  /** The slot clock lucid uses for this emulator: slot 0 at the emulator's start, 1 s slots. */
  slotConfig(): { zeroTime: number; zeroSlot: number; slotLength: number } {
    return { zeroTime: this.time - this.slot * 1000, zeroSlot: 0, slotLength: 1000 };
  }

  /** Run every script of a transaction; returns the units each redeemer needed. Throws `ScriptFailure`. */
  evaluateTx(txCbor: string): RedeemerBudget[] {
    const tx = C.Transaction.from_bytes(fromHex(txCbor));
    const body = tx.body();
    const resolved = this.resolveAll(body);
    const redeemers = tx.witness_set().redeemers();
    if (!redeemers || redeemers.len() === 0) return [];
    const declared = readRedeemers(redeemers);
    const purposeOf = purposeFinder(body, resolved, declared);
    const { zeroTime, zeroSlot, slotLength } = this.slotConfig();
    const params = this.protocolParameters;
    let results: Uint8Array[];
    try {
      results = runPhaseTwo({
        txBytes: fromHex(txCbor),
        inputs: resolved.map((u) => u.input().to_bytes()),
        outputs: resolved.map((u) => u.output().to_bytes()),
        costModels: createCostModels(params.costModels).to_bytes(),
        maxTxExSteps: params.maxTxExSteps,
        maxTxExMem: params.maxTxExMem,
        slotConfig: { zeroTime, zeroSlot, slotLength },
      });
    } catch (error) {
      throw toScriptFailure(error, { scriptNames: this.scriptNames, purposeOf });
    }
    const needed = readRedeemers(C.Redeemers.from_bytes(concatRedeemers(results)));
    return needed.map((need) => {
      const have = declared.find((d) => d.tag === need.tag && d.index === need.index);
      const info = purposeOf(need.tag, need.index);
      if (!have || short(have.mem, need.mem) || short(have.steps, need.steps)) {
        throw toScriptFailure(
          `${need.tag}[${need.index}] traces: [budget exceeded: declares ${have?.steps ?? 0} steps / ${have?.mem ?? 0} mem but needs ${need.steps} / ${need.mem}]`,
          { scriptNames: this.scriptNames, purposeOf },
        );
      }
      return {
        ...need,
        scriptHash: info.scriptHash,
        scriptName: info.scriptHash ? this.scriptNames[info.scriptHash] : undefined,
      };
    });
  }

  override submitTx(tx: string): Promise<string> {
    try {
      this.evaluateTx(tx);
      return this.submitWithoutScripts(tx);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Phase 1 only (lucid's `Emulator.submitTx`: witnesses, inputs, validity interval), for
   * transactions whose scripts already passed once (a journal replayed); recorded in `history`.
   */
  async submitWithoutScripts(tx: string): Promise<string> {
    const txId = await super.submitTx(tx);
    this.pending.push({ txId, cbor: tx });
    return txId;
  }

  override awaitBlock(height = 1): void {
    super.awaitBlock(height);
    this.settle();
  }

  override awaitSlot(length = 1): void {
    const height = this.blockHeight;
    super.awaitSlot(length);
    if (this.blockHeight > height) this.settle();
  }

  /** The mempool went into a block: its transactions join the history at this slot. */
  private settle(): void {
    for (const p of this.pending) this.history.push({ ...p, slot: this.slot });
    this.pending = [];
  }

  private lookup(txHash: string, index: string): UTxO | undefined {
    const key = txHash + index;
    const entry = this.ledger[key] ?? this.mempool[key];
    return entry && !entry.spent ? entry.utxo : undefined;
  }

  private resolveAll(
    body: InstanceType<typeof C.TransactionBody>,
  ): InstanceType<typeof C.TransactionUnspentOutput>[] {
    const out: InstanceType<typeof C.TransactionUnspentOutput>[] = [];
    const seen = new Set<string>();
    const add = (inputs: InstanceType<typeof C.TransactionInputs> | undefined) => {
      for (let i = 0; i < (inputs?.len() ?? 0); i++) {
        const input = inputs!.get(i);
        const txHash = input.transaction_id().to_hex();
        const index = input.index().to_str();
        if (seen.has(txHash + index)) continue;
        seen.add(txHash + index);
        const utxo = this.lookup(txHash, index);
        if (!utxo)
          throw new Error(
            `Could not spend or read UTxO ${txHash}#${index}: it does not exist or was already spent.`,
          );
        out.push(utxoToCore(utxo));
      }
    };
    add(body.inputs());
    add(body.reference_inputs());
    add(body.collateral());
    return out;
  }
}

/**
 * Declared units are short when below what the evaluator needs, with a 0.1% tolerance: lucid's
 * builder uses the aiken evaluator built into its CML, which costs some builtins a little
 * differently from the newer aiken in @lucid-evolution/uplc (measured: 0.02% on a Close that
 * uses serialiseData and verifyEd25519). Without the tolerance every such valid transaction built
 * by lucid would be rejected; a real attack (units cut to make a script fail) is far below it.
 */
const BUDGET_TOLERANCE = 0.001;
const short = (declared: number, needed: number): boolean => declared < needed * (1 - BUDGET_TOLERANCE);

export interface RedeemerBudget {
  readonly tag: string;
  readonly index: number;
  readonly mem: number;
  readonly steps: number;
  readonly scriptHash?: string | undefined;
  readonly scriptName?: string | undefined;
}

const TAGS = ['spend', 'mint', 'cert', 'reward'] as const;

interface DeclaredRedeemer {
  tag: string;
  index: number;
  mem: number;
  steps: number;
  data: string;
}

const readRedeemers = (redeemers: InstanceType<typeof C.Redeemers>): DeclaredRedeemer[] => {
  const list: DeclaredRedeemer[] = [];
  for (let i = 0; i < redeemers.len(); i++) {
    const r = redeemers.get(i);
    list.push({
      tag: TAGS[r.tag().kind()] ?? 'unknown',
      index: Number(r.index().to_str()),
      mem: Number(r.ex_units().mem().to_str()),
      steps: Number(r.ex_units().steps().to_str()),
      data: toHex(r.data().to_bytes()),
    });
  }
  return list;
};

/** The evaluator returns each redeemer's CBOR; a CBOR array header turns them into `Redeemers`. */
const concatRedeemers = (items: Uint8Array[]): Uint8Array => {
  const n = items.length;
  const header = n < 24 ? [0x80 + n] : n < 256 ? [0x98, n] : [0x99, n >> 8, n & 0xff];
  const total = header.length + items.reduce((s, b) => s + b.length, 0);
  const bytes = new Uint8Array(total);
  bytes.set(header, 0);
  let at = header.length;
  for (const item of items) {
    bytes.set(item, at);
    at += item.length;
  }
  return bytes;
};

/** For a redeemer (tag, index): what it validates, the script's hash, the redeemer's CBOR. */
const purposeFinder = (
  body: InstanceType<typeof C.TransactionBody>,
  resolved: InstanceType<typeof C.TransactionUnspentOutput>[],
  declared: DeclaredRedeemer[],
) => {
  const inputs: string[] = [];
  for (let i = 0; i < body.inputs().len(); i++) {
    const input = body.inputs().get(i);
    inputs.push(input.transaction_id().to_hex() + '#' + input.index().to_str());
  }
  inputs.sort((a, b) => {
    const [ha, ia] = a.split('#');
    const [hb, ib] = b.split('#');
    return ha === hb ? Number(ia) - Number(ib) : ha! < hb! ? -1 : 1;
  });
  const policies: string[] = [];
  const mint = body.mint();
  for (let i = 0; i < (mint?.keys().len() ?? 0); i++) policies.push(mint!.keys().get(i).to_hex());
  policies.sort();
  const rewards: string[] = [];
  const withdrawals = body.withdrawals();
  for (let i = 0; i < (withdrawals?.keys().len() ?? 0); i++) {
    const hash = withdrawals!.keys().get(i).payment_cred().to_scripthash()?.to_hex();
    if (hash) rewards.push(hash);
  }
  return (tag: string, index: number) => {
    const redeemer = declared.find((d) => d.tag === tag && d.index === index)?.data;
    if (tag === 'spend' && inputs[index]) {
      const ref = inputs[index]!;
      const [hash, ix] = ref.split('#');
      const utxo = resolved.find(
        (u) => u.input().transaction_id().to_hex() === hash && u.input().index().to_str() === ix,
      );
      const address = utxo?.output().address();
      const cred = address?.as_base()?.payment_cred() ?? address?.as_enterprise()?.payment_cred();
      const scriptHash = cred?.to_scripthash()?.to_hex();
      return { purpose: `spend ${ref}`, scriptHash, redeemer };
    }
    if (tag === 'mint' && policies[index]) {
      return { purpose: `mint ${policies[index]}`, scriptHash: policies[index], redeemer };
    }
    if (tag === 'reward' && rewards[index]) {
      return { purpose: `withdraw ${rewards[index]}`, scriptHash: rewards[index], redeemer };
    }
    return { purpose: `${tag}[${index}]`, redeemer };
  };
};
