/**
 * The markdown tables scripts/mnist-results.ts prints for an alone-vs-cohort run: each party's
 * accuracy alone and in each cohort (with the lift), the lift per cohort size (does every party
 * beat its alone run?), and the label mix of each party's shard (for the non-IID split).
 * Pure functions of the measured accuracies; accuracies are fractions in [0, 1], printed in %.
 */

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
export const signedPoints = (x: number): string => `${x >= 0 ? '+' : '-'}${Math.abs(100 * x).toFixed(2)}`;

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
