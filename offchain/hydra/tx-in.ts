import { C } from 'lucid-cardano';

/** Output references as hydra-node writes them: `<txId>#<index>`. */
export const txInOf = (input: C.TransactionInput): string =>
  `${input.transaction_id().to_hex()}#${input.index().to_str()}`;

export const txInToCore = (txIn: string): C.TransactionInput => {
  const [id, index] = txIn.split('#');
  return C.TransactionInput.new(C.TransactionHash.from_hex(id!), C.BigNum.from_str(index!));
};
