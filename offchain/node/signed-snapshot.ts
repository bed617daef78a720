import type { HeadRounds } from './party-round-decider.js';

/** A training snapshot every party of the epoch signed, as layer 1's Close and Contest carry it. */
export interface SignedRoundSnapshot {
  readonly round: number;
  readonly aggregateHash: string;
  /** One Hydra-key signature per party, in the order of the cohort datum's parties. */
  readonly signatures: readonly string[];
}

/**
 * The latest round of the epoch (in `firstRound..lastRound`) that every party acknowledged with
 * the same aggregate hash, from the acknowledgements the head confirmed: what a party closes the
 * cohort with on layer 1 (a scheduled close when it is the epoch's last round). Undefined when no
 * round of the epoch is acknowledged by all.
 */
export const latestSignedSnapshot = (
  head: HeadRounds,
  parties: readonly string[],
  firstRound: number,
  lastRound: number,
): SignedRoundSnapshot | undefined => {
  for (let round = lastRound; round >= firstRound; round--) {
    const acks = head.acknowledgements.get(round);
    const all = parties.map((p) => acks?.get(p));
    if (all.some((a) => a === undefined)) continue;
    const hashes = new Set(all.map((a) => a!.aggregateHash));
    if (hashes.size !== 1) continue;
    return { round, aggregateHash: all[0]!.aggregateHash, signatures: all.map((a) => a!.signature) };
  }
  return undefined;
};
