import { Constr, Data } from 'lucid-cardano';
import type { HeadUTxO } from './head-ledger.js';

/**
 * The inline datums of the embedded head's layer-1 outputs (the custody address). They mirror
 * the datums of hydra's Head and Commit scripts: the head output carries the head's on-chain
 * state (Initial, Open, Closed with the snapshot number, UTxO hash, contestation deadline and
 * contesters), and each commit output names the head, the committing party and the layer-1
 * outputs it committed (reference and output CBOR, as hydra's `Commit` does).
 *
 * Plutus data layout (constructor index, fields):
 *   0 Initial [headId, parties, contestationPeriodMs, seed]
 *   1 Open    [headId, parties, contestationPeriodMs, utxoHash]
 *   2 Closed  [headId, parties, contestationPeriodMs, snapshotNumber, utxoHash, deadline, contesters]
 *   3 Commit  [headId, party, [Constr 0 [Constr 0 [txHash, index], outputCbor]]]
 * Byte strings are hex; times are POSIX milliseconds.
 */
interface HeadDatumCommon {
  readonly headId: string;
  readonly parties: readonly string[];
  readonly contestationPeriodMs: number;
}

export type HeadStateDatum =
  | (HeadDatumCommon & { readonly state: 'Initial'; readonly seed: string })
  | (HeadDatumCommon & { readonly state: 'Open'; readonly utxoHash: string })
  | (HeadDatumCommon & {
      readonly state: 'Closed';
      readonly snapshotNumber: number;
      readonly utxoHash: string;
      readonly contestationDeadline: number;
      readonly contesters: readonly string[];
    });

export interface HeadCommitDatum {
  readonly state: 'Commit';
  readonly headId: string;
  readonly party: string;
  readonly committed: HeadUTxO;
}

export type HeadCustodyDatum = HeadStateDatum | HeadCommitDatum;

const int = (n: number): bigint => BigInt(n);

export const encodeHeadCustodyDatum = (datum: HeadCustodyDatum): string => {
  switch (datum.state) {
    case 'Initial':
      return Data.to(
        new Constr(0, [datum.headId, [...datum.parties], int(datum.contestationPeriodMs), datum.seed]),
      );
    case 'Open':
      return Data.to(
        new Constr(1, [datum.headId, [...datum.parties], int(datum.contestationPeriodMs), datum.utxoHash]),
      );
    case 'Closed':
      return Data.to(
        new Constr(2, [
          datum.headId,
          [...datum.parties],
          int(datum.contestationPeriodMs),
          int(datum.snapshotNumber),
          datum.utxoHash,
          int(datum.contestationDeadline),
          [...datum.contesters],
        ]),
      );
    case 'Commit':
      return Data.to(
        new Constr(3, [
          datum.headId,
          datum.party,
          Object.keys(datum.committed)
            .sort()
            .map((txIn) => {
              const [txHash, index] = txIn.split('#');
              return new Constr(0, [new Constr(0, [txHash!, BigInt(index!)]), datum.committed[txIn]!]);
            }),
        ]),
      );
  }
};

const isHex = (v: unknown): v is string => typeof v === 'string' && /^([0-9a-f]{2})*$/.test(v);
const isInt = (v: unknown): v is bigint => typeof v === 'bigint';
const hexList = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every(isHex) ? (v as string[]) : undefined;

/** Reads a custody datum; `undefined` for anything else (never throws: layer 1 holds arbitrary data). */
export const decodeHeadCustodyDatum = (datumHex: string): HeadCustodyDatum | undefined => {
  let data: unknown;
  try {
    data = Data.from(datumHex);
  } catch {
    return undefined;
  }
  if (!(data instanceof Constr)) return undefined;
  const f = data.fields as unknown[];
  const [headId] = f;
  if (!isHex(headId)) return undefined;
  if (data.index === 3) {
    const [, party, entries] = f;
    if (f.length !== 3 || !isHex(party) || !Array.isArray(entries)) return undefined;
    const committed: Record<string, string> = {};
    for (const entry of entries) {
      if (!(entry instanceof Constr) || entry.fields.length !== 2) return undefined;
      const [ref, output] = entry.fields as unknown[];
      if (!(ref instanceof Constr) || !isHex(output)) return undefined;
      const [txHash, index] = ref.fields as unknown[];
      if (!isHex(txHash) || !isInt(index)) return undefined;
      committed[`${txHash}#${index}`] = output;
    }
    return { state: 'Commit', headId, party, committed };
  }
  const parties = hexList(f[1]);
  const period = f[2];
  if (!parties || !isInt(period)) return undefined;
  const common = { headId, parties, contestationPeriodMs: Number(period) };
  switch (data.index) {
    case 0:
      return f.length === 4 && isHex(f[3]) ? { ...common, state: 'Initial', seed: f[3] } : undefined;
    case 1:
      return f.length === 4 && isHex(f[3]) ? { ...common, state: 'Open', utxoHash: f[3] } : undefined;
    case 2: {
      const [, , , number, utxoHash, deadline, contesters] = f;
      const list = hexList(contesters);
      if (f.length !== 7 || !isInt(number) || !isHex(utxoHash) || !isInt(deadline) || !list) return undefined;
      return {
        ...common,
        state: 'Closed',
        snapshotNumber: Number(number),
        utxoHash,
        contestationDeadline: Number(deadline),
        contesters: list,
      };
    }
    default:
      return undefined;
  }
};
