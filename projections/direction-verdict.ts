/** One party's delta in one round, as a standard score: similarity x sqrt(dimensions). */
export interface RoundDirectionScore {
  readonly partyId: string;
  readonly z: number;
}

/**
 * What the rounds say about a party's direction:
 * - `aligned`: its combined z reaches the threshold (it carries the cohort's consensus);
 * - `random`: below the threshold although a typical party of the same rounds reaches twice it
 *   (no better than a random direction: noise);
 * - `opposed`: below minus the threshold while a typical party reaches twice it (it points away
 *   from a consensus the others share: a sign-flipped delta);
 * - `insufficient`: below the threshold, and a typical party of the same rounds does not reach
 *   twice it either (few rounds, small deltas, or honest deltas that do not share a direction):
 *   not flagged.
 */
export type DirectionVerdictKind = 'aligned' | 'opposed' | 'random' | 'insufficient';

export interface PartyDirectionVerdict {
  readonly partyId: string;
  /** The rounds counted (rounds with at least `minParties` scored parties). */
  readonly rounds: number;
  /** Stouffer's combination of the party's round scores: sum / sqrt(rounds). */
  readonly z: number;
  /**
   * What a typical party of the same rounds scores: Stouffer's combination of each round's median
   * score over its parties (an honest one while the poisoned are a minority).
   */
  readonly referenceZ: number;
  readonly verdict: DirectionVerdictKind;
  readonly flagged: boolean;
}

export interface DirectionVerdict {
  readonly zCritical: number;
  readonly minParties: number;
  /** Rounds with at least `minParties` parties: the rounds the verdict counts. */
  readonly rounds: number;
  readonly parties: readonly PartyDirectionVerdict[];
  /** The flagged parties (`opposed` or `random`), in id order. */
  readonly flagged: readonly string[];
}

export interface DirectionVerdictOptions {
  /** The threshold on the combined z (default 3: noise passes with probability 0.13%). */
  readonly zCritical?: number;
  /**
   * Rounds with fewer scored parties are left out (default 4): a delta's consensus is the
   * coordinate-wise median of the others, and with two others that median is their mean, which one
   * poisoned delta dominates (in the small demo's round with a x -8 flip among 3 parties, it turned
   * an honest party's consensus against it); with three others it tolerates one.
   */
  readonly minParties?: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The verdict over a cohort's rounds on each party's direction (see `flagRandomDirectionParties`
 * in offchain/delta for the statistics: under "this delta carries nothing of the consensus" a
 * round's z is standard normal, and so is the Stouffer combination over rounds).
 *
 * Small evidence: a party below `zCritical` is flagged (`random`, or `opposed` below minus it)
 * only when the evidence of its own rounds lets an honest party clear the threshold by a margin,
 * i.e. when the reference z (each round's median z over its parties, combined over the party's
 * rounds) is at least twice `zCritical`; else it is `insufficient`, not flagged. Why twice: honest
 * parties' z spread around the reference in proportion to it (their similarities differ by data
 * and minibatch), measured at 76% of the reference or more (the full-size MNIST runs: 58-90
 * against ~75; the demo's first cohort: 5.9-8.2 against 7.8), so with the reference at twice the
 * threshold an honest party stays above it. Why the margin for `opposed` too: late in training the
 * deltas of a small honest cohort are mostly each party's pull back towards its own shard from
 * the average, and such pulls sum to about zero, so each is anti-correlated with the others (the
 * demo's honest cohort of 3-4 parties: similarities -0.04 to -0.31, every party "opposed" by the
 * random-direction model); the model's null "carries nothing of the consensus" only separates
 * when the typical party demonstrably carries it.
 * Pure and deterministic; the order of rounds and of the parties within a round does not matter.
 */
export const judgeDirections = (
  rounds: ReadonlyArray<ReadonlyArray<RoundDirectionScore>>,
  options: DirectionVerdictOptions = {},
): DirectionVerdict => {
  const { zCritical = 3, minParties = 4 } = options;
  const counted = rounds.filter((r) => new Set(r.map((s) => s.partyId)).size >= minParties);
  const perParty = new Map<string, { zs: number[]; refs: number[] }>();
  for (const round of counted) {
    const m = median(round.map((s) => s.z));
    for (const { partyId, z } of round) {
      const entry = perParty.get(partyId) ?? { zs: [], refs: [] };
      entry.zs.push(z);
      entry.refs.push(m);
      perParty.set(partyId, entry);
    }
  }
  // sums in a fixed order (sorted values), so that the rounds' order does not change a bit
  const stouffer = (xs: number[]) =>
    [...xs].sort((a, b) => a - b).reduce((s, x) => s + x, 0) / Math.sqrt(xs.length);
  const parties = [...perParty]
    .sort(([a], [b]) => byId(a, b))
    .map(([partyId, { zs, refs }]): PartyDirectionVerdict => {
      const z = stouffer(zs);
      const referenceZ = stouffer(refs);
      const verdict: DirectionVerdictKind =
        z >= zCritical
          ? 'aligned'
          : referenceZ < 2 * zCritical
            ? 'insufficient'
            : z < -zCritical
              ? 'opposed'
              : 'random';
      return {
        partyId,
        rounds: zs.length,
        z,
        referenceZ,
        verdict,
        flagged: verdict === 'opposed' || verdict === 'random',
      };
    });
  return {
    zCritical,
    minParties,
    rounds: counted.length,
    parties,
    flagged: parties.filter((p) => p.flagged).map((p) => p.partyId),
  };
};

/** One line per party verdict: `party-07: random (flagged), z 1.4 over 10 rounds (a typical party of those rounds: 72.0)`. */
export const renderDirectionVerdictLine = (
  p: PartyDirectionVerdict,
  name: (party: string) => string = (x) => x,
): string =>
  `${name(p.partyId)}: ${p.verdict}${p.flagged ? ' (flagged)' : ''}, z ${p.z.toFixed(1)} over ${p.rounds} round${p.rounds === 1 ? '' : 's'} (a typical party of those rounds: ${p.referenceZ.toFixed(1)})`;

/** One summary line of the verdict. */
export const renderDirectionVerdictSummary = (v: DirectionVerdict): string => {
  if (v.rounds === 0)
    return `directions: no round with ${v.minParties} or more scored deltas: no verdict (evidence, not a finding)`;
  const insufficient = v.parties.filter((p) => p.verdict === 'insufficient').length;
  return (
    `directions over ${v.rounds} round${v.rounds === 1 ? '' : 's'} (z < ${v.zCritical} over the rounds; evidence, not a finding): ` +
    (v.flagged.length
      ? `${v.flagged.length} flagged of ${v.parties.length}`
      : `no party flagged of ${v.parties.length}`) +
    (insufficient ? `, ${insufficient} with not enough evidence to tell` : '')
  );
};
