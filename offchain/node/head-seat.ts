import { DmlError } from '../errors.js';
import {
  buildHeadTx,
  type HeadKey,
  type HydraClient,
  type HydraTxOut,
  type HydraUTxO,
} from '../hydra/index.js';
import { decodeRoundDatum, encodeRoundDatum, type RoundDatum } from './round-datum.js';

/**
 * A party's seat in an open head: the one output it owns there (the one holding its signal token
 * when it committed one), re-created by every round datum the party posts. Each post is a real
 * layer-2 transaction spending the seat and paying the same value back to the party with the new
 * inline datum; parties never touch each other's seats, so their posts never conflict.
 */
export class HeadSeat {
  private constructor(
    readonly client: HydraClient,
    readonly key: HeadKey,
    private txIn: string,
    private readonly value: { lovelace: bigint; assets: Record<string, bigint> },
  ) {}

  /** Takes the party's seat from the head's current UTxO (prefers an output holding `signalUnit`). */
  static async take(client: HydraClient, key: HeadKey, signalUnit?: string): Promise<HeadSeat> {
    const utxo = await client.getSnapshotUtxo();
    const own = Object.entries(utxo).filter(([, out]) => out.address === key.address);
    const holding = signalUnit ? own.find(([, out]) => assetsOf(out)[signalUnit] !== undefined) : undefined;
    const chosen = holding ?? own[0];
    if (!chosen)
      throw new DmlError('NO_SEAT', `the head holds no output of ${key.address}: did this party commit?`);
    const [txIn, out] = chosen;
    return new HeadSeat(client, key, txIn, {
      lovelace: BigInt(out.value['lovelace'] as number),
      assets: assetsOf(out),
    });
  }

  get outRef(): string {
    return this.txIn;
  }

  /** Posts a round datum and resolves once a confirmed snapshot holds it. */
  async post(datum: RoundDatum, timeoutMs?: number): Promise<{ txId: string; snapshotNumber: number }> {
    const tx = buildHeadTx({
      inputs: [this.txIn],
      outputs: [
        {
          address: this.key.address,
          lovelace: this.value.lovelace,
          assets: this.value.assets,
          inlineDatumHex: encodeRoundDatum(datum),
        },
      ],
      signers: [this.key],
    });
    const confirmed = await this.client.submitTx(tx, timeoutMs);
    this.txIn = `${tx.txId}#0`;
    return { txId: tx.txId, snapshotNumber: confirmed.snapshot.number };
  }
}

/** Native assets of an API output as unit -> quantity. */
const assetsOf = (out: HydraTxOut): Record<string, bigint> => {
  const assets: Record<string, bigint> = {};
  for (const [policy, entry] of Object.entries(out.value)) {
    if (policy === 'lovelace' || typeof entry === 'number') continue;
    for (const [name, quantity] of Object.entries(entry)) assets[policy + name] = BigInt(quantity);
  }
  return assets;
};

/** Every round datum in a head UTxO, with the output it sits in. */
export const roundDatumsIn = (utxo: HydraUTxO): Array<{ txIn: string; datum: RoundDatum }> =>
  Object.entries(utxo).flatMap(([txIn, out]) => {
    const datum = out.inlineDatumRaw ? decodeRoundDatum(out.inlineDatumRaw) : undefined;
    return datum ? [{ txIn, datum }] : [];
  });
