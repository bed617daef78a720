import type { AuditDirections } from '../audit/index.js';
import type { DirectionVerdictKind } from '../direction-verdict.js';
import type { HeadStatus } from '../head-lifecycle.js';
import { recordedDirections } from '../reputation.js';
import type { ProjectionStates } from '../replay.js';
import { type CohortSummary, summariseCohort } from '../summary.js';

/** One party's figures in one round, as the training history holds them. */
export interface ReportPartyRound {
  readonly party: string;
  readonly loss?: number;
  readonly accuracy?: number;
  readonly bytes?: number;
  readonly sampleCount?: number;
  readonly deltaHash?: string;
  /** Mean of the scores the other parties gave this party's delta (absent when nobody scored it). */
  readonly meanScore?: number;
}

export interface ReportRound {
  readonly epoch: number;
  readonly round: number;
  /** `e<epoch> r<round>`: the x-axis label of the charts. */
  readonly label: string;
  readonly aggregateHash?: string;
  readonly rule?: string;
  readonly parties: readonly ReportPartyRound[];
}

/** A head's lifecycle with the times of its transitions (ISO 8601, from the Hydra outputs). */
export interface ReportHead {
  readonly headId: string;
  readonly status: HeadStatus;
  readonly aborted: boolean;
  readonly parties: number;
  readonly contestations: number;
  readonly initializedAt?: string;
  readonly openedAt?: string;
  readonly closedAt?: string;
  readonly finalizedAt?: string;
}

/**
 * The direction evidence (evidence, not a finding): per round each party's z (similarity x
 * sqrt(dimensions)) and its cumulative Stouffer z over its rounds so far, and the verdict over all
 * the rounds. `source` says where it comes from: `auditor` (recomputed from the deltas by `dml
 * audit verify`'s checks) or `recorded` (the parties' own judgements in the log: each round the
 * median of the other parties' recorded similarities).
 */
export interface ReportDirections {
  readonly source: 'auditor' | 'recorded';
  readonly zCritical: number;
  /** The rounds counted (with at least `minParties` parties judged). */
  readonly rounds: number;
  readonly minParties: number;
  readonly flagged: readonly string[];
  readonly parties: ReadonlyArray<{
    readonly party: string;
    readonly rounds: number;
    readonly z: number;
    readonly referenceZ: number;
    readonly verdict: DirectionVerdictKind;
    readonly flagged: boolean;
  }>;
  readonly perRound: ReadonlyArray<{
    readonly epoch: number;
    readonly round: number;
    readonly label: string;
    readonly parties: ReadonlyArray<{
      readonly party: string;
      readonly z: number;
      readonly cumulativeZ: number;
    }>;
  }>;
}

/** The report's direction section from the auditor's evidence, or else from the log's records. */
export const reportDirections = (
  evidence: Pick<AuditDirections, 'zCritical' | 'minParties' | 'rounds' | 'parties' | 'flagged'> & {
    readonly perRound: ReadonlyArray<{
      readonly epoch: number;
      readonly round: number;
      readonly parties: ReadonlyArray<{ readonly partyId: string; readonly z: number }>;
    }>;
  },
  source: ReportDirections['source'],
): ReportDirections => {
  const sums = new Map<string, { sum: number; n: number }>();
  const perRound = [...evidence.perRound]
    .sort((a, b) => a.epoch - b.epoch || a.round - b.round)
    .filter((r) => new Set(r.parties.map((p) => p.partyId)).size >= evidence.minParties)
    .map((r) => ({
      epoch: r.epoch,
      round: r.round,
      label: `e${r.epoch} r${r.round}`,
      parties: [...r.parties]
        .sort((a, b) => (a.partyId < b.partyId ? -1 : a.partyId > b.partyId ? 1 : 0))
        .map(({ partyId, z }) => {
          const entry = sums.get(partyId) ?? { sum: 0, n: 0 };
          entry.sum += z;
          entry.n += 1;
          sums.set(partyId, entry);
          return { party: partyId, z, cumulativeZ: entry.sum / Math.sqrt(entry.n) };
        }),
    }));
  return {
    source,
    zCritical: evidence.zCritical,
    rounds: evidence.rounds,
    minParties: evidence.minParties,
    flagged: evidence.flagged,
    parties: evidence.parties.map(({ partyId, ...rest }) => ({ party: partyId, ...rest })),
    perRound,
  };
};

/**
 * Everything `dml audit report` shows, as data: written as `report.json` beside the HTML, which
 * is rendered from exactly this object.
 */
export interface AuditReportData {
  readonly format: 'dml-audit-report/1';
  readonly cohortId: string;
  readonly generatedAt: string;
  readonly summary: CohortSummary;
  /** Every party that committed a delta, in id order (the order of the chart series). */
  readonly parties: readonly string[];
  readonly rounds: readonly ReportRound[];
  readonly heads: readonly ReportHead[];
  readonly directions: ReportDirections;
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** The report's data for one cohort, from the replayed projections. Pure. */
export const buildAuditReportData = (
  states: ProjectionStates,
  cohortId: string,
  counts: { events: number; lastPosition: number },
  generatedAt: Date = new Date(),
  auditorDirections?: AuditDirections,
): AuditReportData => {
  const summary = summariseCohort(states, cohortId, counts);
  const history = states.trainingHistory.state.cohorts[cohortId]?.rounds ?? [];
  const rounds: ReportRound[] = history.map((r) => ({
    epoch: r.epoch,
    round: r.round,
    label: `e${r.epoch} r${r.round}`,
    ...(r.aggregateHash !== undefined ? { aggregateHash: r.aggregateHash } : {}),
    ...(r.rule !== undefined ? { rule: r.rule } : {}),
    parties: Object.values(r.parties)
      .filter((p) => p.deltaHash !== undefined)
      .sort((a, b) => (a.party < b.party ? -1 : a.party > b.party ? 1 : 0))
      .map((p) => {
        const scores = Object.entries(p.scores)
          .filter(([scorer]) => scorer !== p.party)
          .map(([, score]) => score);
        return {
          party: p.party,
          ...(p.loss !== undefined ? { loss: p.loss } : {}),
          ...(p.accuracy !== undefined ? { accuracy: p.accuracy } : {}),
          ...(p.bytes !== undefined ? { bytes: p.bytes } : {}),
          ...(p.sampleCount !== undefined ? { sampleCount: p.sampleCount } : {}),
          ...(p.deltaHash !== undefined ? { deltaHash: p.deltaHash } : {}),
          ...(scores.length ? { meanScore: mean(scores) } : {}),
        };
      }),
  }));
  const parties = [...new Set(rounds.flatMap((r) => r.parties.map((p) => p.party)))].sort();
  const heads: ReportHead[] = Object.values(states.headLifecycle.state.heads)
    .filter((h) => h.cohortId === cohortId)
    .map((h) => ({
      headId: h.headId,
      status: h.status,
      aborted: h.aborted,
      parties: h.parties.length,
      contestations: h.contestations,
      ...(h.initializedAt !== undefined ? { initializedAt: h.initializedAt } : {}),
      ...(h.openedAt !== undefined ? { openedAt: h.openedAt } : {}),
      ...(h.closedAt !== undefined ? { closedAt: h.closedAt } : {}),
      ...(h.finalizedAt !== undefined ? { finalizedAt: h.finalizedAt } : {}),
    }))
    .sort((a, b) => (a.initializedAt ?? '').localeCompare(b.initializedAt ?? ''));
  return {
    format: 'dml-audit-report/1',
    cohortId,
    generatedAt: generatedAt.toISOString(),
    summary,
    parties,
    rounds,
    heads,
    directions: auditorDirections
      ? reportDirections(auditorDirections, 'auditor')
      : reportDirections(recordedDirections(states.reputation.state.cohorts[cohortId] ?? {}), 'recorded'),
  };
};
