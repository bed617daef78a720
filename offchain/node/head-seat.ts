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
    /** Outputs merged into the seat by its first post (to carry a datum's minimum ada). */
    private extraInputs: string[] = [],
  ) {}

  /**
   * Takes the party's seat from the head's current UTxO (prefers an output holding `signalUnit`).
   * A seat holding less than `minLovelace` (a token output at its bare minimum cannot also carry
   * a round datum) is topped up, at its first post, with the party's largest other output without
   * a datum, if there is one.
   */
  static async take(
    client: HydraClient,
    key: HeadKey,
    signalUnit?: string,
    minLovelace = 5_000_000n,
  ): Promise<HeadSeat> {
    const utxo = await client.getSnapshotUtxo();
    const own = Object.entries(utxo).filter(([, out]) => out.address === key.address);
    const holding = signalUnit ? own.find(([, out]) => assetsOf(out)[signalUnit] !== undefined) : undefined;
    const chosen = holding ?? own[0];
    if (!chosen)
      throw new DmlError('NO_SEAT', `the head holds no output of ${key.address}: did this party commit?`);
    const [txIn, out] = chosen;
    let lovelace = BigInt(out.value['lovelace'] as number);
    const assets = assetsOf(out);
    const extra: string[] = [];
    if (lovelace < minLovelace) {
      const [topUp] = own
        .filter(([i, o]) => i !== txIn && !o.inlineDatumRaw && !o.inlineDatum && !o.datumhash)
        .sort(([, a], [, b]) => Number(b.value['lovelace']) - Number(a.value['lovelace']));
      if (topUp) {
        extra.push(topUp[0]);
        lovelace += BigInt(topUp[1].value['lovelace'] as number);
        for (const [unit, q] of Object.entries(assetsOf(topUp[1]))) assets[unit] = (assets[unit] ?? 0n) + q;
      }
    }
    return new HeadSeat(client, key, txIn, { lovelace, assets }, extra);
  }

  get outRef(): string {
    return this.txIn;
  }

  /** Posts a round datum and resolves once a confirmed snapshot holds it. */
  async post(datum: RoundDatum, timeoutMs?: number): Promise<{ txId: string; snapshotNumber: number }> {
    const tx = buildHeadTx({
      inputs: [this.txIn, ...this.extraInputs],
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
    this.extraInputs = [];
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
