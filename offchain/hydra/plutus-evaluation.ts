import { C } from 'lucid-cardano';
import { runPhaseTwo } from '../chain/phase-two.js';
import { txInToCore } from './tx-in.js';

/**
 * Phase-2 validation: runs every Plutus script of a transaction with aiken's evaluator (the
 * one lucid uses inside), and checks that each redeemer declared at least the ex-units its
 * script used. The evaluator call itself is shared with the validating layer-1 emulator
 * (`offchain/chain/phase-two.ts`).
 */
export interface SlotConfig {
  readonly zeroTime: number;
  readonly zeroSlot: number;
  readonly slotLength: number;
}

export interface PlutusEvaluationInput {
  readonly txBytes: Uint8Array;
  /** Every spent and referenced output, resolved. */
  readonly resolved: ReadonlyArray<{ readonly txIn: string; readonly outputHex: string }>;
  readonly costModels: Uint8Array;
  readonly maxTxExMem: bigint;
  readonly maxTxExSteps: bigint;
  readonly slotConfig: SlotConfig;
}

export type PlutusEvaluationResult =
  | {
      readonly ok: true;
      readonly redeemers: ReadonlyArray<{ tag: number; index: string; mem: bigint; steps: bigint }>;
    }
  | { readonly ok: false; readonly reason: string };

const redeemerKey = (redeemer: C.Redeemer): string => `${redeemer.tag().kind()}:${redeemer.index().to_str()}`;

export const evaluatePlutusScripts = (input: PlutusEvaluationInput): PlutusEvaluationResult => {
  let evaluated: Uint8Array[];
  try {
    evaluated = runPhaseTwo({
      txBytes: input.txBytes,
      inputs: input.resolved.map((r) => txInToCore(r.txIn).to_bytes()),
      outputs: input.resolved.map((r) => Buffer.from(r.outputHex, 'hex')),
      costModels: input.costModels,
      maxTxExSteps: input.maxTxExSteps,
      maxTxExMem: input.maxTxExMem,
      slotConfig: input.slotConfig,
    });
  } catch (error) {
    return { ok: false, reason: `ScriptFailure: ${typeof error === 'string' ? error : String(error)}` };
  }
  const tx = C.Transaction.from_bytes(input.txBytes);
  const declared = new Map<string, C.ExUnits>();
  const redeemers = tx.witness_set().redeemers();
  for (let i = 0; i < (redeemers?.len() ?? 0); i++)
    declared.set(redeemerKey(redeemers!.get(i)), redeemers!.get(i).ex_units());
  const used = evaluated.map((bytes) => C.Redeemer.from_bytes(bytes));
  const result: Array<{ tag: number; index: string; mem: bigint; steps: bigint }> = [];
  for (const redeemer of used) {
    const key = redeemerKey(redeemer);
    const mem = BigInt(redeemer.ex_units().mem().to_str());
    const steps = BigInt(redeemer.ex_units().steps().to_str());
    const budget = declared.get(key);
    if (!budget) return { ok: false, reason: `ScriptFailure: no redeemer declared for ${key}` };
    if (BigInt(budget.mem().to_str()) < mem || BigInt(budget.steps().to_str()) < steps) {
      return {
        ok: false,
        reason: `ScriptFailure: redeemer ${key} declares fewer ex-units than its script uses (${mem} mem, ${steps} steps)`,
      };
    }
    result.push({ tag: redeemer.tag().kind(), index: redeemer.index().to_str(), mem, steps });
  }
  return { ok: true, redeemers: result };
};
