import type { HydraUTxO } from './messages.js';

/**
 * The ledger a head runs, seen from the head logic: a UTxO set (output reference
 * `<txId>#<index>` to the ledger's own encoding of the output) and a rule to apply a
 * transaction. The embedded head uses the Cardano ledger (`cardano-ledger.ts`); the property
 * tests of the head logic use a tiny ledger of their own, as hydra's tests use `SimpleTx`.
 */
export type HeadUTxO = Readonly<Record<string, string>>;

export interface HeadTx {
  readonly txId: string;
  readonly cborHex: string;
}

export type ApplyTxResult =
  { readonly ok: true; readonly utxo: HeadUTxO } | { readonly ok: false; readonly reason: string };

export interface HeadLedger {
  /**
   * Applies `tx` to `utxo`. `now` (POSIX ms) is the head's view of layer-1 time, against which a
   * ledger checks the transaction's validity interval; without it, the interval is not checked.
   */
  applyTransaction(utxo: HeadUTxO, tx: HeadTx, now?: number): ApplyTxResult;
  /** The transaction id of an encoded transaction, or an error message when it does not decode. */
  decodeTransaction(
    cborHex: string,
  ): { readonly ok: true; readonly tx: HeadTx } | { readonly ok: false; readonly reason: string };
  utxoToApi(utxo: HeadUTxO): HydraUTxO;
}

export const applyTransactions = (
  ledger: HeadLedger,
  utxo: HeadUTxO,
  txs: readonly HeadTx[],
  now?: number,
): { ok: true; utxo: HeadUTxO } | { ok: false; tx: HeadTx; reason: string } => {
  let current = utxo;
  for (const tx of txs) {
    const result = ledger.applyTransaction(current, tx, now);
    if (!result.ok) return { ok: false, tx, reason: result.reason };
    current = result.utxo;
  }
  return { ok: true, utxo: current };
};

export const unionUTxO = (utxos: readonly HeadUTxO[]): HeadUTxO => Object.assign({}, ...utxos) as HeadUTxO;
