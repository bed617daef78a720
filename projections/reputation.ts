import type { ReplayedDmlEvent } from '../offchain/index.js';
import { type DirectionVerdict, type DirectionVerdictOptions, judgeDirections } from './direction-verdict.js';
import { Drafts, type Writable } from './draft.js';
import { type Projection, put } from './projection.js';
import { RecentKeys } from './recent-keys.js';

export interface PartyReputation {
  readonly party: string;
  /** Deltas committed (first commitment per round). */
  readonly contributions: number;
  /** Sum and count of the scores other parties gave this party's deltas. */
  readonly scoreSum: number;
  readonly scoreCount: number;
  /** Scores below zero received (the delta made a scorer's model worse). */
  readonly harmfulScores: number;
  /** Two different commitments for one round. */
  readonly equivocations: number;
  readonly slashed: boolean;
  /** Slash votes cast against others. */
  readonly votesCast: number;
  /** The last commitment seen, to tell a repeat from an equivocation. */
  readonly lastCommit?: { readonly epoch: number; readonly round: number; readonly hash: string };
  /**
   * The other parties' judgements of this party's direction: round (`epoch/round`) -> scorer ->
   * similarity x sqrt(dimensions), from `ContributionScored.metrics` (absent before any event
   * carried them). A scorer's later judgement of the same round replaces its earlier one.
   */
  readonly directions?: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export interface ReputationState {
  /** cohort -> party -> reputation */
  readonly cohorts: Readonly<Record<string, Readonly<Record<string, PartyReputation>>>>;
}

const fresh = (party: string): PartyReputation => ({
  party,
  contributions: 0,
  scoreSum: 0,
  scoreCount: 0,
  harmfulScores: 0,
  equivocations: 0,
  slashed: false,
  votesCast: 0,
});

const directionRoundKey = (epoch: number, round: number) => `${epoch}/${round}`;

/** A recorded similarity as a standard score (similarity x sqrt(dimensions)), when recorded. */
const directionZ = (metrics: { similarity?: number; dimensions?: number } | undefined): number | undefined =>
  metrics?.similarity === undefined || metrics.dimensions === undefined
    ? undefined
    : metrics.similarity * Math.sqrt(metrics.dimensions);

const medianOf = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The parties' recorded direction judgements of one cohort, and the verdict over its rounds. */
export interface RecordedDirections extends DirectionVerdict {
  /** Per round, each judged party's z: the median of the other parties' judgements of it. */
  readonly perRound: ReadonlyArray<{
    readonly epoch: number;
    readonly round: number;
    readonly parties: ReadonlyArray<{
      readonly partyId: string;
      readonly z: number;
      readonly scorers: number;
    }>;
  }>;
}

/**
 * The direction verdict of a cohort from what its parties recorded (no delta needed): in each
 * round a party's z is the median of the other parties' judgements of it (honest scorers agree
 * bit for bit, the median keeps a minority of lying scorers out), then `judgeDirections` over the
 * rounds. The auditor's own verdict, recomputed from the deltas, is `AuditReport.directions`.
 */
export const recordedDirections = (
  cohort: Readonly<Record<string, PartyReputation>>,
  options: DirectionVerdictOptions = {},
): RecordedDirections => {
  const rounds = new Map<string, Array<{ partyId: string; z: number; scorers: number }>>();
  for (const r of Object.values(cohort))
    for (const [rk, byScorer] of Object.entries(r.directions ?? {})) {
      const zs = Object.values(byScorer);
      if (zs.length === 0) continue;
      const list = rounds.get(rk) ?? [];
      list.push({ partyId: r.party, z: medianOf(zs), scorers: zs.length });
      rounds.set(rk, list);
    }
  const perRound = [...rounds]
    .map(([rk, parties]) => {
      const [epoch, round] = rk.split('/').map(Number) as [number, number];
      return { epoch, round, parties: parties.sort((a, b) => (a.partyId < b.partyId ? -1 : 1)) };
    })
    .sort((a, b) => a.epoch - b.epoch || a.round - b.round);
  return {
    ...judgeDirections(
      perRound.map((r) => r.parties.map(({ partyId, z }) => ({ partyId, z }))),
      options,
    ),
    perRound,
  };
};

/** A party's standing: its mean score received, and zero once slashed or caught equivocating. */
export const reputationScore = (r: PartyReputation): number =>
  r.slashed || r.equivocations > 0 ? 0 : r.scoreCount === 0 ? 0 : r.scoreSum / r.scoreCount;

/** Reputation per cohort and party, from commitments, scores and slashes. */
export const reputationProjection: Projection<ReputationState> = {
  name: 'reputation',
  initial: { cohorts: {} },
  // The same fold as `evolve` over `events`, each touched record copied once for the run (drafts).
  evolveMany(state, events) {
    const drafts = new Drafts();
    const partyKeys = new RecentKeys();
    let cohorts: Writable<ReputationState['cohorts']> | undefined;
    let lastId: string | undefined;
    let lastCohort: Record<string, PartyReputation> | undefined;
    const partyDraft = (cohortId: string, id: string): Writable<PartyReputation> => {
      const party = partyKeys.get(id);
      if (lastId !== cohortId || lastCohort === undefined) {
        cohorts ??= drafts.object(state.cohorts);
        lastCohort = drafts.object(cohorts[cohortId] ?? {});
        cohorts[cohortId] = lastCohort;
        lastId = cohortId;
      }
      const existing = lastCohort[party];
      const r = existing ? drafts.object(existing) : drafts.fresh(fresh(party));
      lastCohort[party] = r;
      return r;
    };
    for (const event of events) {
      switch (event.type) {
        case 'training.DeltaCommitted': {
          const e = event.data;
          const last = (cohorts ?? state.cohorts)[e.cohortId]?.[e.party]?.lastCommit;
          const same = last !== undefined && last.epoch === e.epoch && last.round === e.round;
          if (same && last.hash === e.deltaHash) break;
          const r = partyDraft(e.cohortId, e.party);
          if (same) r.equivocations += 1;
          else {
            r.contributions += 1;
            r.lastCommit = { epoch: e.epoch, round: e.round, hash: e.deltaHash };
          }
          break;
        }
        case 'training.ContributionScored': {
          const e = event.data;
          if (e.scorer === e.party) break;
          const r = partyDraft(e.cohortId, e.party);
          r.scoreSum += e.score;
          r.scoreCount += 1;
          r.harmfulScores += e.score < 0 ? 1 : 0;
          const z = directionZ(e.metrics);
          if (z !== undefined) {
            const rk = directionRoundKey(e.epoch, e.round);
            const directions: Record<string, Readonly<Record<string, number>>> = r.directions
              ? drafts.object(r.directions)
              : drafts.fresh({});
            const round: Record<string, number> = directions[rk]
              ? drafts.object(directions[rk])
              : drafts.fresh({});
            round[e.scorer] = z;
            directions[rk] = round;
            r.directions = directions;
          }
          break;
        }
        case 'l1.PartySlashed': {
          const e = event.data;
          partyDraft(e.cohortId, e.accused).slashed = true;
          for (const voter of e.voters) partyDraft(e.cohortId, voter).votesCast += 1;
          break;
        }
        default:
          break;
      }
    }
    return cohorts ? { ...state, cohorts } : state;
  },
  evolve(state, event: ReplayedDmlEvent) {
    const touch = (cohortId: string, party: string, f: (r: PartyReputation) => PartyReputation) => {
      const cohort = state.cohorts[cohortId] ?? {};
      return put(state.cohorts, cohortId, put(cohort, party, f(cohort[party] ?? fresh(party))));
    };
    switch (event.type) {
      case 'training.DeltaCommitted': {
        const e = event.data;
        const last = state.cohorts[e.cohortId]?.[e.party]?.lastCommit;
        const same = last !== undefined && last.epoch === e.epoch && last.round === e.round;
        if (same && last.hash === e.deltaHash) return state;
        return {
          cohorts: touch(e.cohortId, e.party, (r) =>
            same
              ? { ...r, equivocations: r.equivocations + 1 }
              : {
                  ...r,
                  contributions: r.contributions + 1,
                  lastCommit: { epoch: e.epoch, round: e.round, hash: e.deltaHash },
                },
          ),
        };
      }
      case 'training.ContributionScored': {
        const e = event.data;
        if (e.scorer === e.party) return state;
        const z = directionZ(e.metrics);
        const rk = directionRoundKey(e.epoch, e.round);
        return {
          ...state,
          cohorts: touch(e.cohortId, e.party, (r) => ({
            ...r,
            scoreSum: r.scoreSum + e.score,
            scoreCount: r.scoreCount + 1,
            harmfulScores: r.harmfulScores + (e.score < 0 ? 1 : 0),
            ...(z === undefined
              ? {}
              : {
                  directions: {
                    ...r.directions,
                    [rk]: { ...r.directions?.[rk], [e.scorer]: z },
                  },
                }),
          })),
        };
      }
      case 'l1.PartySlashed': {
        const e = event.data;
        let cohorts = touch(e.cohortId, e.accused, (r) => ({ ...r, slashed: true }));
        for (const voter of e.voters) {
          const cohort = cohorts[e.cohortId] ?? {};
          const r = cohort[voter] ?? fresh(voter);
          cohorts = put(cohorts, e.cohortId, put(cohort, voter, { ...r, votesCast: r.votesCast + 1 }));
        }
        return { ...state, cohorts };
      }
      default:
        return state;
    }
  },
};
