import { eval_phase_two_raw } from '@lucid-evolution/uplc';

/**
 * Phase-2 validation with aiken's evaluator (the one lucid uses inside): runs every Plutus script
 * of a transaction against its resolved inputs and returns the redeemers with the ex-units each
 * script used (CBOR). Throws the evaluator's message (a string) when a script fails. The one call
 * site of the evaluator: the validating layer-1 emulator and the embedded head's ledger share it.
 */
export interface PhaseTwoInput {
  readonly txBytes: Uint8Array;
  /** CBOR of every spent, referenced and collateral input, and of the output each resolves to. */
  readonly inputs: readonly Uint8Array[];
  readonly outputs: readonly Uint8Array[];
  readonly costModels: Uint8Array;
  readonly maxTxExSteps: bigint;
  readonly maxTxExMem: bigint;
  readonly slotConfig: { readonly zeroTime: number; readonly zeroSlot: number; readonly slotLength: number };
}

export const runPhaseTwo = (input: PhaseTwoInput): Uint8Array[] =>
  eval_phase_two_raw(
    input.txBytes,
    [...input.inputs],
    [...input.outputs],
    input.costModels,
    // the evaluator's budget is (steps, mem): CPU first
    input.maxTxExSteps,
    input.maxTxExMem,
    BigInt(input.slotConfig.zeroTime),
    BigInt(input.slotConfig.zeroSlot),
    input.slotConfig.slotLength,
  );
