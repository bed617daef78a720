/**
 * The markdown tables scripts/mnist-results.ts prints for an alone-vs-cohort run: each party's
 * accuracy alone and in each cohort (with the lift), the lift per cohort size (does every party
 * beat its alone run?), and the label mix of each party's shard (for the non-IID split).
 * Pure functions of the measured accuracies; accuracies are fractions in [0, 1], printed in %.
 */
import { type CombinedSimilarityScore, DmlError, flagRandomDirectionParties } from '../offchain/index.js';

/** One party's test accuracy alone and in each cohort size it took part in. */
export interface MnistPartyResult {
  party: number;
  alone: number;
  /** cohort size -> the cohort's test accuracy after the last round */
  together: Record<number, number>;
}

/** The lift of one cohort size: cohort accuracy minus each member's alone accuracy. */
export interface MnistCohortLift {
  cohort: number;
  /** members with an alone accuracy (NaN alone runs, i.e. not run, are left out) */
  compared: number;
  /** members strictly above their alone accuracy */
  above: number;
  min: number;
  mean: number;
  max: number;
}

const pct = (x: number): string => (100 * x).toFixed(2);
/** A lift in points with its sign: +0.31, -0.17. */
export const signedPoints = (x: number): string => {
  const points = Number((100 * x).toFixed(2)); // a lift that rounds to 0.00 is +0.00, never -0.00
  return `${points >= 0 ? '+' : '-'}${Math.abs(points).toFixed(2)}`;
};

/** The lift of every cohort size over its members' alone accuracies. */
export const cohortLifts = (
  perParty: readonly MnistPartyResult[],
  cohorts: readonly number[],
): MnistCohortLift[] =>
  cohorts.map((k) => {
    const lifts = perParty
      .filter((r) => r.together[k] !== undefined && !Number.isNaN(r.alone))
      .map((r) => r.together[k]! - r.alone);
    return {
      cohort: k,
      compared: lifts.length,
      above: lifts.filter((l) => l > 0).length,
      min: lifts.length ? Math.min(...lifts) : Number.NaN,
      mean: lifts.length ? lifts.reduce((s, l) => s + l, 0) / lifts.length : Number.NaN,
      max: lifts.length ? Math.max(...lifts) : Number.NaN,
    };
  });

/** Each party's row: alone, then each cohort's accuracy and the lift, `-` where not a member. */
export const perPartyTable = (perParty: readonly MnistPartyResult[], cohorts: readonly number[]): string => {
  const header = `| party | alone % |${cohorts.map((k) => ` cohort of ${k} % (lift) |`).join('')}`;
  const rule = `| --- | --- |${cohorts.map(() => ' --- |').join('')}`;
  const rows = perParty.map(
    (r) =>
      `| ${r.party} | ${Number.isNaN(r.alone) ? '-' : pct(r.alone)} |${cohorts
        .map((k) => {
          const t = r.together[k];
          if (t === undefined) return ' - |';
          return Number.isNaN(r.alone) ? ` ${pct(t)} |` : ` ${pct(t)} (${signedPoints(t - r.alone)}) |`;
        })
        .join('')}`,
  );
  return [header, rule, ...rows].join('\n');
};

/** One row per cohort size: how many members beat their alone run, and the lift's range. */
export const liftTable = (lifts: readonly MnistCohortLift[]): string =>
  [
    '| cohort | members above alone | lift min | lift mean | lift max |',
    '| --- | --- | --- | --- | --- |',
    ...lifts.map((l) =>
      l.compared === 0
        ? `| ${l.cohort} parties | no alone runs | - | - | - |`
        : `| ${l.cohort} parties | ${l.above} of ${l.compared} | ${signedPoints(l.min)} | ${signedPoints(l.mean)} | ${signedPoints(l.max)} |`,
    ),
  ].join('\n');

/** How many images of each class (0-9) each party's shard holds. */
export const labelCounts = (labels: ArrayLike<number>, classes = 10): number[] => {
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]!]! += 1;
  return counts;
};

/** The label mix of every party's shard, one row per party. */
export const labelMixTable = (shardLabels: readonly ArrayLike<number>[], classes = 10): string =>
  [
    `| party |${Array.from({ length: classes }, (_, c) => ` ${c} |`).join('')}`,
    `| --- |${' --- |'.repeat(classes)}`,
    ...shardLabels.map(
      (labels, p) =>
        `| ${p} |${labelCounts(labels, classes)
          .map((n) => ` ${n} |`)
          .join('')}`,
    ),
  ].join('\n');

/** The cohorts' global adapters after each round; NaN (or null from JSON): not scored that round. */
export const perRoundTable = (
  baseNf4: number,
  cohortRounds: Readonly<Record<number, readonly (number | null)[]>>,
): string => {
  const cohorts = Object.keys(cohortRounds)
    .map(Number)
    .sort((a, b) => a - b);
  const rounds = Math.max(0, ...cohorts.map((k) => cohortRounds[k]!.length));
  return [
    `| cohort | base (NF4) |${Array.from({ length: rounds }, (_, r) => ` round ${r + 1} |`).join('')}`,
    `| --- | --- |${' --- |'.repeat(rounds)}`,
    ...cohorts.map(
      (k) =>
        `| ${k} parties | ${pct(baseNf4)} |${Array.from({ length: rounds }, (_, r) => {
          const a = cohortRounds[k]![r];
          return ` ${a === null || a === undefined || Number.isNaN(a) ? '-' : pct(a)} |`;
        }).join('')}`,
    ),
  ].join('\n');
};

/** One split of a `--json` file of scripts/mnist-results.ts (NaN became null there). */
export interface MnistSplitJson {
  perParty: { party: number; alone: number | null; together: Record<string, number> }[];
  cohortRounds: Record<string, (number | null)[]>;
}
/** A `--json` file of scripts/mnist-results.ts. */
export interface MnistRunJson {
  settings: Record<string, unknown>;
  base: { nf4: number; hash: string };
  [split: string]: unknown;
}

/** The settings two runs must share for their alone and cohort accuracies to be compared. */
export const MNIST_COMPARABLE_SETTINGS = [
  'rounds',
  'local-steps',
  'batch',
  'shard-size',
  'test-size',
  'rank',
  'alpha',
  'lr',
  'rule',
  'model',
  'seed',
  'outer-lr',
  'outer-momentum',
] as const;

export interface MergedMnistSplit {
  perParty: MnistPartyResult[];
  cohorts: number[];
  cohortRounds: Record<number, (number | null)[]>;
}

/**
 * Joins the runs of one split made in several processes (e.g. `--cohorts none` for the alone
 * runs and `--alone false` for the cohorts): each party's alone accuracy from the run that has
 * it, the cohorts from every run. Throws when the runs differ in a setting that changes the
 * numbers, or in the base, or when two runs give different figures for the same thing.
 */
export const mergeMnistRuns = (runs: readonly MnistRunJson[], split: string): MergedMnistSplit => {
  if (runs.length === 0) throw new DmlError('MNIST_MERGE', 'no runs to merge');
  const first = runs[0]!;
  for (const run of runs) {
    if (run.base.hash !== first.base.hash)
      throw new DmlError('MNIST_MERGE', `runs on different bases: ${first.base.hash} and ${run.base.hash}`);
    for (const key of MNIST_COMPARABLE_SETTINGS)
      if (String(run.settings[key]) !== String(first.settings[key]))
        throw new DmlError(
          'MNIST_MERGE',
          `runs differ in --${key}: ${String(first.settings[key])} and ${String(run.settings[key])}`,
        );
  }
  const parts = runs.map((r) => r[split] as MnistSplitJson | undefined).filter((s) => s !== undefined);
  if (parts.length === 0) throw new DmlError('MNIST_MERGE', `no run has the ${split} split`);
  const byParty = new Map<number, MnistPartyResult>();
  const cohortRounds: Record<number, (number | null)[]> = {};
  for (const part of parts) {
    for (const row of part.perParty) {
      const have = byParty.get(row.party) ?? { party: row.party, alone: Number.NaN, together: {} };
      if (row.alone !== null && !Number.isNaN(row.alone)) {
        if (!Number.isNaN(have.alone) && have.alone !== row.alone)
          throw new DmlError(
            'MNIST_MERGE',
            `party ${row.party} has two alone accuracies: ${have.alone} and ${row.alone}`,
          );
        have.alone = row.alone;
      }
      for (const [k, acc] of Object.entries(row.together)) {
        const prev = have.together[Number(k)];
        if (prev !== undefined && prev !== acc)
          throw new DmlError(
            'MNIST_MERGE',
            `party ${row.party} has two accuracies in the cohort of ${k}: ${prev} and ${acc}`,
          );
        have.together[Number(k)] = acc;
      }
      byParty.set(row.party, have);
    }
    for (const [k, rounds] of Object.entries(part.cohortRounds)) cohortRounds[Number(k)] = rounds;
  }
  return {
    perParty: [...byParty.values()].sort((a, b) => a.party - b.party),
    cohorts: Object.keys(cohortRounds)
      .map(Number)
      .sort((a, b) => a - b),
    cohortRounds,
  };
};

/** One round of a robustness run: every delta's similarity to the median of the others, the margins, the flags. */
export interface RoundFlags {
  round: number;
  similarities: number[];
  /** The parties of `similarities`, in its order (runs recorded before 2026-11-27: party-00, party-01, ...). */
  parties?: string[];
  /** Floats in each delta (runs recorded before 2026-11-27: not recorded). */
  dimensions?: number;
  lowestHonest: number;
  highestPoisoned: number;
  threshold: number;
  flagged: string[];
}

/**
 * How far apart the honest and the poisoned deltas are, from `flagDissimilarDeltas`' answer:
 * the lowest similarity of an honest delta, the highest of a poisoned one, and the threshold the
 * rule applied (max(minSimilarity, relative x the median similarity of the unflagged deltas)).
 * NaN where a side is empty.
 */
export const similarityMargin = (
  similarities: ReadonlyArray<{ partyId: string; similarity: number; flagged: boolean }>,
  poisoned: ReadonlySet<string>,
  options: { minSimilarity?: number; relative?: number } = {},
): { lowestHonest: number; highestPoisoned: number; threshold: number } => {
  const { minSimilarity = 0.1, relative = 0.5 } = options;
  const of = (keep: (d: { partyId: string; flagged: boolean }) => boolean): number[] =>
    similarities.filter(keep).map((d) => d.similarity);
  const honest = of((d) => !poisoned.has(d.partyId));
  const bad = of((d) => poisoned.has(d.partyId));
  const kept = of((d) => !d.flagged).sort((a, b) => a - b);
  const m = kept.length >> 1;
  const median = kept.length === 0 ? 0 : kept.length % 2 ? kept[m]! : (kept[m - 1]! + kept[m]!) / 2;
  return {
    lowestHonest: honest.length ? Math.min(...honest) : Number.NaN,
    highestPoisoned: bad.length ? Math.max(...bad) : Number.NaN,
    threshold: Math.max(minSimilarity, relative * median),
  };
};

/**
 * A robustness run's parties judged over all its rounds (`flagRandomDirectionParties`): each
 * party's combined score of its similarities to the consensus, and whether it is no better than a
 * random direction. Rounds recorded without their parties or delta size take `defaults` (the
 * party ids party-00, party-01, ... of that run's order, and the delta's float count).
 */
export const randomDirectionVerdicts = (
  rounds: readonly RoundFlags[],
  defaults: { dimensions?: number } = {},
): CombinedSimilarityScore[] =>
  flagRandomDirectionParties(
    rounds.map((r) => {
      const dimensions = r.dimensions ?? defaults.dimensions;
      if (dimensions === undefined)
        throw new DmlError('MNIST_OPTION', `round ${r.round} does not record the deltas' size`, {
          hint: 'give --dimensions, the float count of one delta (design_docs/trainer.md)',
        });
      return r.similarities.map((similarity, i) => ({
        partyId: r.parties?.[i] ?? `party-${String(i).padStart(2, '0')}`,
        similarity,
        dimensions,
      }));
    }),
  );

/** The robustness table's row of one rule's run: the per-round majority, the verdict over the rounds, and their union. */
export const robustRow = (
  rule: string,
  poisoned: number,
  accuracyPct: string,
  flaggedInMostRounds: readonly string[],
  verdicts: readonly CombinedSimilarityScore[],
): string => {
  const randomLike = verdicts.filter((v) => v.flagged).map((v) => v.partyId);
  const reported = [...new Set([...flaggedInMostRounds, ...randomLike])].sort();
  const zs = verdicts.map((v) => `${v.partyId.replace('party-', '')}: ${v.z.toFixed(1)}`).join(', ');
  return `| ${rule}, ${poisoned} poisoned | ${accuracyPct} | ${flaggedInMostRounds.join(' ') || 'none'} | ${randomLike.join(' ') || 'none'} | ${reported.join(' ') || 'none'} | ${zs} |`;
};

/** The header of the robustness table (rows from `robustRow`). */
export const ROBUST_TABLE_HEADER =
  '| run | test accuracy % | flagged by the honest majority in most rounds | no better than a random direction over the rounds (z < 3) | reported | combined z per party |\n| --- | --- | --- | --- | --- | --- |';
