import type { StoredDmlEvent } from '../offchain/index.js';
import { type Projection, put } from './projection.js';

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

/** A party's standing: its mean score received, and zero once slashed or caught equivocating. */
export const reputationScore = (r: PartyReputation): number =>
  r.slashed || r.equivocations > 0 ? 0 : r.scoreCount === 0 ? 0 : r.scoreSum / r.scoreCount;

type Scored = Extract<StoredDmlEvent, { type: 'training.ContributionScored' }>;
const isScore = (e: StoredDmlEvent): e is Scored => e.type === 'training.ContributionScored';

/** Scores `events[from..to)` (ContributionScored of one cohort): the cohort and each party copied once. */
const scoreRun = (
  state: ReputationState,
  events: readonly StoredDmlEvent[],
  from: number,
  to: number,
): ReputationState => {
  const cohortId = (events[from] as Scored).data.cohortId;
  let cohort: Record<string, PartyReputation> | undefined;
  const copied = new Set<string>();
  for (let i = from; i < to; i++) {
    const e = (events[i] as Scored).data;
    if (e.scorer === e.party) continue;
    cohort ??= { ...state.cohorts[cohortId] };
    let r = cohort[e.party];
    if (!copied.has(e.party)) {
      r = { ...(r ?? fresh(e.party)) };
      cohort[e.party] = r;
      copied.add(e.party);
    }
    const m = r as { -readonly [K in keyof PartyReputation]: PartyReputation[K] };
    m.scoreSum += e.score;
    m.scoreCount += 1;
    m.harmfulScores += e.score < 0 ? 1 : 0;
  }
  return cohort ? { ...state, cohorts: put(state.cohorts, cohortId, cohort) } : state;
};

/** Reputation per cohort and party, from commitments, scores and slashes. */
export const reputationProjection: Projection<ReputationState> = {
  name: 'reputation',
  initial: { cohorts: {} },
  evolveMany(state, events) {
    let current = state;
    let i = 0;
    while (i < events.length) {
      const event = events[i]!;
      if (!isScore(event)) {
        current = this.evolve(current, event);
        i++;
        continue;
      }
      let j = i + 1;
      while (
        j < events.length &&
        isScore(events[j]!) &&
        (events[j] as Scored).data.cohortId === event.data.cohortId
      )
        j++;
      current = scoreRun(current, events, i, j);
      i = j;
    }
    return current;
  },
  evolve(state, event: StoredDmlEvent) {
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
        return {
          ...state,
          cohorts: touch(e.cohortId, e.party, (r) => ({
            ...r,
            scoreSum: r.scoreSum + e.score,
            scoreCount: r.scoreCount + 1,
            harmfulScores: r.harmfulScores + (e.score < 0 ? 1 : 0),
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
