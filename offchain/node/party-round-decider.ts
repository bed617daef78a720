import { flagOutlierScores } from '../delta/index.js';
import type { StoredDmlEvent } from '../events/index.js';
import type { DeltaCommitmentDatum, RoundAcknowledgementDatum, RoundDatum } from './round-datum.js';

/**
 * What one party decides to do next in a head epoch, from what it observes and nothing else (no
 * orchestrator): its own stream in the event log (folded into `PartyRoundsOwn`) and every round
 * datum the head has confirmed (`HeadRounds`). The head is the source of truth for what was
 * committed and acknowledged; the own stream says which steps this party has recorded. The
 * decision is a pure function, so a restarted node decides from the same facts as a live one.
 */

/** The party's own stream of this epoch, folded: which step of which round it has recorded. */
export interface PartyRoundsOwn {
  /** round -> hash of the global adapter the party trains that round from (training.RoundStarted). */
  readonly started: ReadonlyMap<number, string>;
  /** round -> hash of the delta the party committed (training.DeltaCommitted). */
  readonly committed: ReadonlyMap<number, string>;
  /** round -> the aggregate the party computed, who it used, and its scores (loss per party). */
  readonly aggregated: ReadonlyMap<number, OwnAggregate>;
  /** round -> the aggregate hash the party signed (training.SnapshotSigned). */
  readonly signed: ReadonlyMap<number, string>;
}

export interface OwnAggregate {
  readonly aggregateHash: string;
  readonly contributors: readonly string[];
  readonly losses: ReadonlyArray<{ readonly partyId: string; readonly loss: number }>;
}

/** Every round datum of this epoch that a confirmed snapshot held, by round and party. */
export interface HeadRounds {
  readonly commitments: ReadonlyMap<number, ReadonlyMap<string, DeltaCommitmentDatum>>;
  readonly acknowledgements: ReadonlyMap<number, ReadonlyMap<string, RoundAcknowledgementDatum>>;
}

export interface PartyObservation {
  readonly me: string;
  /** The parties of the epoch (the head's parties). */
  readonly parties: readonly string[];
  /** The epoch's first and last round (inclusive). */
  readonly firstRound: number;
  readonly lastRound: number;
  /** Whether the head is open (closed, finalized or not yet open: nothing can be posted). */
  readonly headOpen: boolean;
  readonly own: PartyRoundsOwn;
  readonly head: HeadRounds;
}

export type PartyAction =
  /** Record training.RoundStarted (the previous round is acknowledged by all, or it is the first). */
  | { readonly kind: 'start-round'; readonly round: number }
  /** Train from the round's global adapter, store the sealed delta, post the commitment, record it. */
  | { readonly kind: 'train-and-commit'; readonly round: number }
  /** The head holds this party's commitment but the stream does not: record it from the head, once. */
  | { readonly kind: 'record-commitment'; readonly round: number; readonly commitment: DeltaCommitmentDatum }
  /** Fetch, check and aggregate every committed delta, score them, record the aggregate. */
  | { readonly kind: 'aggregate'; readonly round: number }
  /** Sign the training snapshot and post the acknowledgement, then record it. */
  | { readonly kind: 'acknowledge'; readonly round: number; readonly aggregateHash: string }
  /** The head holds this party's acknowledgement but the stream does not: record it, once. */
  | {
      readonly kind: 'record-acknowledgement';
      readonly round: number;
      readonly acknowledgement: RoundAcknowledgementDatum;
    }
  /** Peers have not posted yet. */
  | {
      readonly kind: 'wait';
      readonly round: number;
      readonly for: 'commitments' | 'acknowledgements';
      readonly missing: readonly string[];
    }
  /** This party's scores flag a peer: an honest party does not sign this aggregate. */
  | { readonly kind: 'refuse'; readonly round: number; readonly flagged: readonly string[] }
  /** The stream and the head disagree in a way no crash explains: stop, do not guess. */
  | { readonly kind: 'inconsistent'; readonly round: number; readonly reason: string }
  /** The head is not open: nothing to post. */
  | { readonly kind: 'head-not-open'; readonly round: number }
  /** Every party acknowledged the epoch's last round. */
  | { readonly kind: 'epoch-done'; readonly round: number };

/** Stage of an action within its round, for "actions only move forward" (round * 10 + stage). */
const STAGE: Record<Exclude<PartyAction['kind'], 'wait'>, number> = {
  'start-round': 0,
  'train-and-commit': 1,
  'record-commitment': 2,
  aggregate: 4,
  refuse: 5,
  acknowledge: 5,
  'record-acknowledgement': 6,
  'epoch-done': 9,
  inconsistent: 0,
  'head-not-open': 0,
};

/** Where an action stands in the epoch: a number that never decreases as the party progresses. */
export const actionProgress = (action: PartyAction): number => {
  if (action.kind === 'wait') return action.round * 10 + (action.for === 'commitments' ? 3 : 7);
  return action.round * 10 + STAGE[action.kind];
};

/** The flags an honest party's scores raise: peers left out of its aggregate, and loss outliers. */
export const flaggedBy = (me: string, parties: readonly string[], aggregate: OwnAggregate): string[] =>
  [
    ...new Set([
      ...parties.filter((p) => !aggregate.contributors.includes(p)),
      ...flagOutlierScores(aggregate.losses, { minGap: 0.5 }),
    ]),
  ]
    .filter((p) => p !== me)
    .sort();

/** The party's next action. Pure: the same observation always gives the same action. */
export const decidePartyAction = (o: PartyObservation): PartyAction => {
  const { me, parties } = o;
  const missingFrom = (posted: ReadonlyMap<string, unknown> | undefined) =>
    parties.filter((p) => !posted?.has(p));
  for (let round = o.firstRound; round <= o.lastRound; round++) {
    const commitments = o.head.commitments.get(round);
    const acks = o.head.acknowledgements.get(round);
    const mine = commitments?.get(me);
    const myAck = acks?.get(me);
    if (!o.own.started.has(round)) {
      if (round > o.firstRound) {
        const previousMissing = missingFrom(o.head.acknowledgements.get(round - 1));
        if (previousMissing.length > 0)
          return { kind: 'wait', round: round - 1, for: 'acknowledgements', missing: previousMissing };
      }
      return { kind: 'start-round', round };
    }
    const ownCommitted = o.own.committed.get(round);
    if (!mine) {
      if (ownCommitted !== undefined)
        return {
          kind: 'inconsistent',
          round,
          reason: `the log says this party committed delta ${ownCommitted} in round ${round}, but no confirmed snapshot of the head holds it`,
        };
      if (!o.headOpen) return { kind: 'head-not-open', round };
      return { kind: 'train-and-commit', round };
    }
    if (ownCommitted === undefined) return { kind: 'record-commitment', round, commitment: mine };
    if (ownCommitted !== mine.deltaHash)
      return {
        kind: 'inconsistent',
        round,
        reason: `the log says delta ${ownCommitted} for round ${round}, the head holds ${mine.deltaHash}`,
      };
    const commitmentsMissing = missingFrom(commitments);
    if (commitmentsMissing.length > 0)
      return { kind: 'wait', round, for: 'commitments', missing: commitmentsMissing };
    const aggregate = o.own.aggregated.get(round);
    if (!aggregate) return { kind: 'aggregate', round };
    if (!myAck) {
      const flagged = flaggedBy(me, parties, aggregate);
      if (flagged.length > 0) return { kind: 'refuse', round, flagged };
      if (!o.headOpen) return { kind: 'head-not-open', round };
      return { kind: 'acknowledge', round, aggregateHash: aggregate.aggregateHash };
    }
    if (!o.own.signed.has(round)) return { kind: 'record-acknowledgement', round, acknowledgement: myAck };
    if (round === o.lastRound) {
      const acksMissing = missingFrom(acks);
      if (acksMissing.length > 0)
        return { kind: 'wait', round, for: 'acknowledgements', missing: acksMissing };
      return { kind: 'epoch-done', round };
    }
  }
  return { kind: 'epoch-done', round: o.lastRound };
};

// ---- folds ------------------------------------------------------------------------------------

export const emptyPartyRounds = (): PartyRoundsOwn => ({
  started: new Map(),
  committed: new Map(),
  aggregated: new Map(),
  signed: new Map(),
});

/**
 * Folds the party's own stream into what it has recorded in one epoch of one cohort. The first
 * record of a step counts (a duplicate would be a defect; it is never written by the loop).
 */
export const foldPartyRounds = (
  events: readonly StoredDmlEvent[],
  scope: { readonly cohortId: string; readonly epoch: number; readonly me: string },
): PartyRoundsOwn => {
  const started = new Map<number, string>();
  const committed = new Map<number, string>();
  const aggregated = new Map<number, OwnAggregate>();
  const signed = new Map<number, string>();
  const losses = new Map<number, Array<{ partyId: string; loss: number }>>();
  const inScope = (d: { cohortId: string; epoch: number }) =>
    d.cohortId === scope.cohortId && d.epoch === scope.epoch;
  for (const e of events) {
    switch (e.type) {
      case 'training.RoundStarted':
        if (inScope(e.data) && !started.has(e.data.round))
          started.set(e.data.round, e.data.globalAdapterHash);
        break;
      case 'training.DeltaCommitted':
        if (inScope(e.data) && e.data.party === scope.me && !committed.has(e.data.round))
          committed.set(e.data.round, e.data.deltaHash);
        break;
      case 'training.AggregateComputed':
        if (inScope(e.data) && e.data.computedBy === scope.me && !aggregated.has(e.data.round))
          aggregated.set(e.data.round, {
            aggregateHash: e.data.aggregateHash,
            contributors: e.data.contributors,
            losses: [],
          });
        break;
      case 'training.ContributionScored':
        if (inScope(e.data) && e.data.scorer === scope.me) {
          const list = losses.get(e.data.round) ?? [];
          list.push({ partyId: e.data.party, loss: e.data.metrics?.loss ?? -e.data.score });
          losses.set(e.data.round, list);
        }
        break;
      case 'training.SnapshotSigned':
        if (inScope(e.data) && e.data.party === scope.me && !signed.has(e.data.round))
          signed.set(e.data.round, e.data.aggregateHash);
        break;
      default:
        break;
    }
  }
  for (const [round, a] of aggregated) aggregated.set(round, { ...a, losses: losses.get(round) ?? [] });
  return { started, committed, aggregated, signed };
};

/** Adds round datums (of one cohort and epoch) to what the head has confirmed; the first per party and round stands. */
export const addHeadRounds = (
  rounds: HeadRounds,
  datums: Iterable<RoundDatum>,
  scope: { readonly cohortId: string; readonly epoch: number },
): HeadRounds => {
  const commitments = new Map([...rounds.commitments].map(([r, m]) => [r, new Map(m)]));
  const acknowledgements = new Map([...rounds.acknowledgements].map(([r, m]) => [r, new Map(m)]));
  for (const d of datums) {
    if (d.cohortId !== scope.cohortId || d.epoch !== scope.epoch) continue;
    const table = d.kind === 'commitment' ? commitments : acknowledgements;
    const byParty = table.get(d.round) ?? new Map();
    if (!byParty.has(d.party)) byParty.set(d.party, d as never);
    table.set(d.round, byParty);
  }
  return { commitments, acknowledgements };
};

export const emptyHeadRounds = (): HeadRounds => ({ commitments: new Map(), acknowledgements: new Map() });
