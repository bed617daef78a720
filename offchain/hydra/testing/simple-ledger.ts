import { createHash } from 'node:crypto';
import type { ApplyTxResult, HeadLedger, HeadTx, HeadUTxO } from '../head-ledger.js';
import type { HydraUTxO } from '../messages.js';

/**
 * A tiny ledger for property tests of the head logic (as hydra's `SimpleTx`): an output is an
 * amount of lovelace; a transaction spends existing inputs and creates outputs of the same sum.
 */
export interface SimpleTxBody {
  readonly inputs: readonly string[];
  readonly outputs: readonly number[];
  readonly nonce?: number;
}

export const simpleTx = (body: SimpleTxBody): HeadTx => {
  const cborHex = Buffer.from(JSON.stringify(body), 'utf8').toString('hex');
  return { cborHex, txId: createHash('sha256').update(cborHex).digest('hex') };
};

const decode = (cborHex: string): SimpleTxBody | undefined => {
  try {
    const body = JSON.parse(Buffer.from(cborHex, 'hex').toString('utf8')) as SimpleTxBody;
    return Array.isArray(body.inputs) && Array.isArray(body.outputs) ? body : undefined;
  } catch {
    return undefined;
  }
};

export const simpleLedger: HeadLedger = {
  applyTransaction(utxo: HeadUTxO, tx: HeadTx): ApplyTxResult {
    const body = decode(tx.cborHex);
    if (!body) return { ok: false, reason: 'cannot decode' };
    if (new Set(body.inputs).size !== body.inputs.length) return { ok: false, reason: 'duplicate input' };
    let sumIn = 0;
    for (const input of body.inputs) {
      if (utxo[input] === undefined) return { ok: false, reason: `missing input ${input}` };
      sumIn += Number(utxo[input]);
    }
    const sumOut = body.outputs.reduce((a, b) => a + b, 0);
    if (body.inputs.length === 0 || sumIn !== sumOut) return { ok: false, reason: 'value not preserved' };
    const next: Record<string, string> = { ...utxo };
    for (const input of body.inputs) delete next[input];
    body.outputs.forEach((amount, index) => (next[`${tx.txId}#${index}`] = String(amount)));
    return { ok: true, utxo: next };
  },
  decodeTransaction(cborHex) {
    return decode(cborHex)
      ? { ok: true, tx: simpleTx(decode(cborHex)!) }
      : { ok: false, reason: 'cannot decode' };
  },
  utxoToApi(utxo: HeadUTxO): HydraUTxO {
    return Object.fromEntries(
      Object.entries(utxo).map(([txIn, amount]) => [
        txIn,
        {
          address: 'addr_test1vz0000000000000000000000000000000000000000000000000000',
          value: { lovelace: Number(amount) },
        },
      ]),
    );
  },
};
