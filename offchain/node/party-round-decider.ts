import { flagOutlierScores } from '../delta/index.js';
import type { StoredDmlEvent } from '../events/index.js';
import type {
  CarryOverDatum,
  DeltaCommitmentDatum,
  RoundAcknowledgementDatum,
  RoundDatum,
} from './round-datum.js';

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
  /** party -> the carry-over it posted at the start of this epoch (epochs after the first). */
  readonly carryOvers: ReadonlyMap<string, CarryOverDatum>;
}

/**
 * For an epoch after the first (its first round > 1): what the party knows of the previous
 * round, the last of the previous epoch, whose global adapter this epoch starts from.
 */
export interface EpochCarryOver {
  /** The previous round's aggregate hash as the cohort's state on layer 1 holds it (signed by every party of the previous epoch). */
  readonly aggregateHash: string;
  /** This party's own record of the previous round, if it was a party of the previous epoch. */
  readonly own?: {
    /** The aggregate hash its stream recorded for the previous round. */
    readonly aggregateHash: string;
    /** Whether that round's global adapter and aggregate are in its adapter files under the logged hashes. */
    readonly available: boolean;
  };
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
  /** Present exactly when the epoch's first round is not the cohort's first (an epoch after the first). */
  readonly carryOver?: EpochCarryOver;
}

export type PartyAction =
  /**
   * Record training.RoundStarted (the previous round is acknowledged by all, or it is the first).
   * In the first round of an epoch after the first, the adapter is the party's own (its previous
   * global adapter advanced by the aggregate layer 1 holds), or, with `adopt`, a peer's
   * carry-over, fetched through its grant and checked against its hash.
   */
  | { readonly kind: 'start-round'; readonly round: number; readonly adopt?: CarryOverDatum }
  /** Post the carry-over: the adapter this epoch starts from, sealed under a read grant. */
  | {
      readonly kind: 'publish-carry-over';
      readonly round: number;
      readonly globalAdapterHash: string;
      readonly previousAggregateHash: string;
    }
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
      /** starting-adapter: a peer's carry-over to adopt; carry-overs: every party's, before aggregating. */
      readonly for: 'starting-adapter' | 'commitments' | 'carry-overs' | 'acknowledgements';
      readonly missing: readonly string[];
    }
  /** This party's scores flag a peer (or a peer starts the epoch elsewhere): an honest party does not sign. */
  | {
      readonly kind: 'refuse';
      readonly round: number;
      readonly flagged: readonly string[];
      /** Why, when it is not the scores. */
      readonly reason?: string;
    }
  /** The stream and the head disagree in a way no crash explains: stop, do not guess. */
  | { readonly kind: 'inconsistent'; readonly round: number; readonly reason: string }
  /** The head is not open: nothing to post. */
  | { readonly kind: 'head-not-open'; readonly round: number }
  /** Every party acknowledged the epoch's last round. */
  | { readonly kind: 'epoch-done'; readonly round: number };

/** Stage of an action within its round, for "actions only move forward" (round * 20 + stage). */
const STAGE: Record<Exclude<PartyAction['kind'], 'wait'>, number> = {
  'start-round': 1,
  'publish-carry-over': 2,
  'train-and-commit': 3,
  'record-commitment': 4,
  aggregate: 7,
  refuse: 8,
  acknowledge: 8,
  'record-acknowledgement': 9,
  'epoch-done': 19,
  inconsistent: 0,
  'head-not-open': 0,
};
const WAIT_STAGE: Record<Extract<PartyAction, { kind: 'wait' }>['for'], number> = {
  'starting-adapter': 0,
  commitments: 5,
  'carry-overs': 6,
  acknowledgements: 10,
};

/** Where an action stands in the epoch: a number that never decreases as the party progresses. */
export const actionProgress = (action: PartyAction): number =>
  action.round * 20 + (action.kind === 'wait' ? WAIT_STAGE[action.for] : STAGE[action.kind]);

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
    const carry = round === o.firstRound ? o.carryOver : undefined;
    if (!o.own.started.has(round)) {
      if (round > o.firstRound) {
        const previousMissing = missingFrom(o.head.acknowledgements.get(round - 1));
        if (previousMissing.length > 0)
          return { kind: 'wait', round: round - 1, for: 'acknowledgements', missing: previousMissing };
      }
      if (carry) return startAfterCarryOver(o, carry);
      return { kind: 'start-round', round };
    }
    if (carry) {
      const startedFrom = o.own.started.get(round)!;
      const myCarry = o.head.carryOvers.get(me);
      if (myCarry && myCarry.globalAdapterHash !== startedFrom)
        return {
          kind: 'inconsistent',
          round,
          reason: `the log says this party started round ${round} from adapter ${startedFrom}, its carry-over in the head says ${myCarry.globalAdapterHash}`,
        };
      if (!myCarry && !mine) {
        if (!o.headOpen) return { kind: 'head-not-open', round };
        return {
          kind: 'publish-carry-over',
          round,
          globalAdapterHash: startedFrom,
          previousAggregateHash: carry.aggregateHash,
        };
      }
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
    if (carry && !myAck) {
      // everyone must start the epoch from the same adapter before anyone aggregates or signs
      const carryMissing = missingFrom(o.head.carryOvers);
      if (carryMissing.length > 0) return { kind: 'wait', round, for: 'carry-overs', missing: carryMissing };
      const startedFrom = o.own.started.get(round)!;
      const elsewhere = parties
        .filter((p) => p !== me && o.head.carryOvers.get(p)!.globalAdapterHash !== startedFrom)
        .sort();
      if (elsewhere.length > 0)
        return {
          kind: 'refuse',
          round,
          flagged: elsewhere,
          reason: `${elsewhere.join(', ')} start${elsewhere.length === 1 ? 's' : ''} the epoch from another global adapter than ${startedFrom}`,
        };
    }
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

/**
 * The first round of an epoch after the first, not started yet: start from the party's own
 * history when it holds the previous round (and its aggregate is the one layer 1 holds), else
 * adopt a peer's carry-over that names layer 1's aggregate hash (a newcomer, or a party whose
 * files are gone), else wait for one.
 */
const startAfterCarryOver = (o: PartyObservation, carry: EpochCarryOver): PartyAction => {
  const round = o.firstRound;
  if (carry.own) {
    if (carry.own.aggregateHash !== carry.aggregateHash)
      return {
        kind: 'inconsistent',
        round,
        reason: `the log says this party computed aggregate ${carry.own.aggregateHash} in round ${round - 1}, layer 1 holds ${carry.aggregateHash}`,
      };
    if (carry.own.available) return { kind: 'start-round', round };
  }
  const peers = o.parties.filter((p) => p !== o.me);
  const posted = peers.filter((p) => o.head.carryOvers.has(p));
  const source = posted
    .map((p) => o.head.carryOvers.get(p)!)
    .find((d) => d.previousAggregateHash === carry.aggregateHash);
  if (source) return { kind: 'start-round', round, adopt: source };
  const missing = peers.filter((p) => !o.head.carryOvers.has(p));
  if (missing.length > 0 || peers.length === 0)
    return { kind: 'wait', round, for: 'starting-adapter', missing };
  return {
    kind: 'refuse',
    round,
    flagged: [...posted].sort(),
    reason: `no carry-over names the aggregate ${carry.aggregateHash} that layer 1 holds for round ${round - 1}`,
  };
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
  const carryOvers = new Map(rounds.carryOvers);
  for (const d of datums) {
    if (d.cohortId !== scope.cohortId || d.epoch !== scope.epoch) continue;
    if (d.kind === 'carry-over') {
      if (!carryOvers.has(d.party)) carryOvers.set(d.party, d);
      continue;
    }
    const table = d.kind === 'commitment' ? commitments : acknowledgements;
    const byParty = table.get(d.round) ?? new Map();
    if (!byParty.has(d.party)) byParty.set(d.party, d as never);
    table.set(d.round, byParty);
  }
  return { commitments, acknowledgements, carryOvers };
};

export const emptyHeadRounds = (): HeadRounds => ({
  commitments: new Map(),
  acknowledgements: new Map(),
  carryOvers: new Map(),
});
