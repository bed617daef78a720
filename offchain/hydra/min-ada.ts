import { C } from 'lucid-cardano';

/**
 * The Babbage minimum-ADA rule: an output must hold at least
 * `(160 + size of its CBOR) × coinsPerUTxOByte` lovelace (160 bytes stand for the UTxO entry's
 * overhead). Layer 1 and the head's ledger apply the same rule.
 */
export const UTXO_ENTRY_OVERHEAD = 160;

export const minLovelaceOfOutput = (outputCbor: Uint8Array, coinsPerUtxoByte: bigint): bigint =>
  BigInt(UTXO_ENTRY_OVERHEAD + outputCbor.length) * coinsPerUtxoByte;

/** Lovelace held by an output given as CBOR. */
export const lovelaceOfOutput = (output: C.TransactionOutput): bigint =>
  BigInt(output.amount().coin().to_str());

/**
 * The least lovelace an output built by `make(lovelace)` needs (the size of the lovelace field
 * itself depends on the amount, so this iterates until the amount covers its own output).
 */
export const minLovelaceFor = (make: (lovelace: bigint) => Uint8Array, coinsPerUtxoByte: bigint): bigint => {
  let lovelace = 0n;
  for (let i = 0; i < 8; i++) {
    const needed = minLovelaceOfOutput(make(lovelace), coinsPerUtxoByte);
    if (needed <= lovelace) return lovelace;
    lovelace = needed;
  }
  return lovelace;
};
