import { Drafts, type Writable } from './draft.js';
import { type Projection, put } from './projection.js';
import { RecentKeys } from './recent-keys.js';

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

/** Per cohort, round and party: loss, accuracy, delta hash, storage key, bytes, scores. */
export const trainingHistoryProjection: Projection<TrainingHistoryState> = {
  name: 'training-history',
  initial: { cohorts: {} },
  // The same fold as `evolve` over `events`, each touched record copied once for the run (drafts).
  evolveMany(state, events) {
    const drafts = new Drafts();
    const partyKeys = new RecentKeys();
    let root: Writable<TrainingHistoryState> | undefined;
    let cohorts: Writable<TrainingHistoryState['cohorts']> | undefined;
    let last: { cohortId: string; epoch: number; round: number; record: Writable<RoundRecord> } | undefined;
    const roundDraft = (cohortId: string, epoch: number, round: number): Writable<RoundRecord> => {
      if (last !== undefined && last.round === round && last.epoch === epoch && last.cohortId === cohortId)
        return last.record;
      root ??= drafts.object(state);
      cohorts ??= root.cohorts = drafts.object(state.cohorts);
      const existing = cohorts[cohortId];
      const cohort = existing ? drafts.object(existing) : drafts.fresh({ cohortId, rounds: [] });
      cohorts[cohortId] = cohort;
      const rounds = (cohort.rounds = drafts.array(cohort.rounds));
      const i = findRound(rounds, epoch, round);
      let record: Writable<RoundRecord>;
      if (i < 0) {
        record = drafts.fresh({ epoch, round, parties: {} });
        rounds.push(record);
      } else {
        record = drafts.object(rounds[i]!);
        rounds[i] = record;
      }
      last = { cohortId, epoch, round, record };
      return record;
    };
    const partyDraft = (r: Writable<RoundRecord>, id: string): Writable<PartyRound> => {
      const party = partyKeys.get(id);
      const parties = (r.parties = drafts.object(r.parties));
      const existing = parties[party];
      const p = existing ? drafts.object(existing) : drafts.fresh(emptyParty(party));
      parties[party] = p;
      return p;
    };
    for (const event of events) {
      switch (event.type) {
        case 'training.RoundStarted': {
          const e = event.data;
          roundDraft(e.cohortId, e.epoch, e.round).startedFrom = e.globalAdapterHash;
          break;
        }
        case 'training.DeltaCommitted': {
          const e = event.data;
          const p = partyDraft(roundDraft(e.cohortId, e.epoch, e.round), e.party);
          if (p.deltaHash !== undefined && p.deltaHash !== e.deltaHash) {
            if (!p.equivocations.includes(e.deltaHash))
              (p.equivocations = drafts.array(p.equivocations)).push(e.deltaHash);
          } else {
            p.deltaHash = e.deltaHash;
            p.storageKey = e.storageKey;
            p.bytes = e.bytes;
            p.sampleCount = e.sampleCount;
            p.loss = e.metrics.loss;
            p.accuracy = e.metrics.accuracy;
          }
          break;
        }
        case 'training.AggregateComputed': {
          const e = event.data;
          const r = roundDraft(e.cohortId, e.epoch, e.round);
          r.aggregateHash = e.aggregateHash;
          r.rule = e.rule;
          r.contributors = e.contributors;
          break;
        }
        case 'training.ContributionScored': {
          const e = event.data;
          const p = partyDraft(roundDraft(e.cohortId, e.epoch, e.round), e.party);
          (p.scores = drafts.object(p.scores))[partyKeys.get(e.scorer)] = e.score;
          break;
        }
        default:
          break;
      }
    }
    return root ?? state;
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
