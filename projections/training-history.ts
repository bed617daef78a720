import type { StoredDmlEvent } from '../offchain/index.js';
import { type Projection, put } from './projection.js';

export interface PartyRound {
  readonly party: string;
  readonly deltaHash?: string;
  readonly storageKey?: string;
  readonly bytes?: number;
  readonly sampleCount?: number;
  readonly loss?: number;
  readonly accuracy?: number;
  /** Score of this party's delta by each scorer. */
  readonly scores: Readonly<Record<string, number>>;
  /** Other delta hashes this party committed for the same round: equivocation. */
  readonly equivocations: readonly string[];
}

export interface RoundRecord {
  readonly epoch: number;
  readonly round: number;
  readonly startedFrom?: string;
  readonly aggregateHash?: string;
  readonly rule?: string;
  readonly contributors?: readonly string[];
  readonly parties: Readonly<Record<string, PartyRound>>;
}

export interface CohortTraining {
  readonly cohortId: string;
  /** In the order rounds first appeared in the log. */
  readonly rounds: readonly RoundRecord[];
}

export interface TrainingHistoryState {
  readonly cohorts: Readonly<Record<string, CohortTraining>>;
}

const emptyParty = (party: string): PartyRound => ({ party, scores: {}, equivocations: [] });

/** Index of a round, searched from the end (the current round is nearly always the last). */
const findRound = (rounds: readonly RoundRecord[], epoch: number, round: number): number => {
  for (let i = rounds.length - 1; i >= 0; i--)
    if (rounds[i]!.round === round && rounds[i]!.epoch === epoch) return i;
  return -1;
};

const updateRound = (
  cohort: CohortTraining,
  epoch: number,
  round: number,
  update: (r: RoundRecord) => RoundRecord,
): CohortTraining => {
  const i = findRound(cohort.rounds, epoch, round);
  if (i < 0) return { ...cohort, rounds: [...cohort.rounds, update({ epoch, round, parties: {} })] };
  return { ...cohort, rounds: cohort.rounds.with(i, update(cohort.rounds[i]!)) };
};

const updateParty = (r: RoundRecord, party: string, update: (p: PartyRound) => PartyRound): RoundRecord => ({
  ...r,
  parties: put(r.parties, party, update(r.parties[party] ?? emptyParty(party))),
});

type Scored = Extract<StoredDmlEvent, { type: 'training.ContributionScored' }>;
const isScore = (e: StoredDmlEvent): e is Scored => e.type === 'training.ContributionScored';

/**
 * Scores `events[from..to)` (all ContributionScored of one cohort, epoch and round) in one copy of
 * the round: its party table and each touched party are copied once, then filled in place.
 */
const scoreRun = (
  state: TrainingHistoryState,
  events: readonly StoredDmlEvent[],
  from: number,
  to: number,
): TrainingHistoryState => {
  const first = (events[from] as Scored).data;
  const cohort = state.cohorts[first.cohortId] ?? { cohortId: first.cohortId, rounds: [] };
  const next = updateRound(cohort, first.epoch, first.round, (r) => {
    const parties: Record<string, PartyRound> = { ...r.parties };
    const copied = new Set<string>();
    for (let i = from; i < to; i++) {
      const e = (events[i] as Scored).data;
      if (!copied.has(e.party)) {
        const p = parties[e.party] ?? emptyParty(e.party);
        parties[e.party] = { ...p, scores: { ...p.scores } };
        copied.add(e.party);
      }
      (parties[e.party]!.scores as Record<string, number>)[e.scorer] = e.score;
    }
    return { ...r, parties };
  });
  return { cohorts: put(state.cohorts, first.cohortId, next) };
};

/** Per cohort, round and party: loss, accuracy, delta hash, storage key, bytes, scores. */
export const trainingHistoryProjection: Projection<TrainingHistoryState> = {
  name: 'training-history',
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
      const { cohortId, epoch, round } = event.data;
      let j = i + 1;
      for (; j < events.length; j++) {
        const e = events[j]!;
        if (!isScore(e) || e.data.round !== round || e.data.epoch !== epoch || e.data.cohortId !== cohortId)
          break;
      }
      current = scoreRun(current, events, i, j);
      i = j;
    }
    return current;
  },
  evolve(state, event) {
    if (!event.type.startsWith('training.')) return state;
    const d = event.data as { cohortId: string; epoch: number; round: number };
    const cohort = state.cohorts[d.cohortId] ?? { cohortId: d.cohortId, rounds: [] };
    let next: CohortTraining;
    switch (event.type) {
      case 'training.RoundStarted':
        next = updateRound(cohort, d.epoch, d.round, (r) => ({
          ...r,
          startedFrom: event.data.globalAdapterHash,
        }));
        break;
      case 'training.DeltaCommitted': {
        const e = event.data;
        next = updateRound(cohort, e.epoch, e.round, (r) =>
          updateParty(r, e.party, (p) =>
            p.deltaHash !== undefined && p.deltaHash !== e.deltaHash
              ? p.equivocations.includes(e.deltaHash)
                ? p
                : { ...p, equivocations: [...p.equivocations, e.deltaHash] }
              : {
                  ...p,
                  deltaHash: e.deltaHash,
                  storageKey: e.storageKey,
                  bytes: e.bytes,
                  sampleCount: e.sampleCount,
                  loss: e.metrics.loss,
                  accuracy: e.metrics.accuracy,
                },
          ),
        );
        break;
      }
      case 'training.AggregateComputed': {
        const e = event.data;
        next = updateRound(cohort, e.epoch, e.round, (r) => ({
          ...r,
          aggregateHash: e.aggregateHash,
          rule: e.rule,
          contributors: e.contributors,
        }));
        break;
      }
      case 'training.ContributionScored': {
        const e = event.data;
        next = updateRound(cohort, e.epoch, e.round, (r) =>
          updateParty(r, e.party, (p) => ({ ...p, scores: put(p.scores, e.scorer, e.score) })),
        );
        break;
      }
      default:
        return state;
    }
    return { cohorts: put(state.cohorts, d.cohortId, next) };
  },
};
