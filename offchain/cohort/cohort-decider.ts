import { DmlError } from '../errors.js';

/**
 * A cohort's life as the contracts enforce it, as a pure decider: the participant node asks it
 * what a command would do before building the transaction, and the auditor folds the observed
 * layer-1 events through it to check each one against the rules. Amounts are bigint lovelace.
 *
 * Phases: Forming (members join; no head yet) -> Open (an epoch's head runs; newcomers join as
 * pending members and enter at the next epoch) -> Closed (a training snapshot was posted; it may
 * be contested until the deadline) -> Finalize: Completed (the final round was reached),
 * Open again (a scheduled close at an epoch boundary: the next epoch starts with every member), or
 * Premature (anything else). In Premature a strict majority of the epoch's other parties may slash
 * one party until the voting deadline; afterwards each remaining member takes its deposit back.
 * Completed and Premature are final for the cohort state: only deposits move after them.
 */
export interface CohortDeciderTerms {
  readonly minDeposit: bigint;
  readonly finalRound: number;
  /** Rounds per head epoch: a close at a multiple of it is scheduled. */
  readonly epochRounds: number;
  readonly contestationPeriodMs: number;
  readonly votingWindowMs: number;
}

export type MemberStatus = 'active' | 'slashed' | 'claimed' | 'refunded';

export interface CohortMember {
  readonly party: string;
  readonly hydraKey: string;
  readonly deposit: bigint;
  readonly status: MemberStatus;
  /** The epoch from which the member takes part (members who join an open head wait for the next). */
  readonly fromEpoch: number;
}

export type CohortDeciderPhase = 'None' | 'Forming' | 'Open' | 'Closed' | 'Completed' | 'Premature';

export interface CohortDeciderState {
  readonly phase: CohortDeciderPhase;
  readonly cohortId?: string;
  readonly terms?: CohortDeciderTerms;
  readonly epoch: number;
  /** Parties of the current epoch, fixed when it started. */
  readonly parties: readonly string[];
  readonly members: Readonly<Record<string, CohortMember>>;
  /** The latest training snapshot known on layer 1. */
  readonly snapshot: { readonly round: number; readonly aggregateHash: string };
  readonly close?: { readonly closedBy: string; readonly deadlineMs: number };
  readonly votingDeadlineMs?: number;
  readonly slashed?: string;
}

export type CohortCommand =
  | {
      readonly type: 'Create';
      readonly cohortId: string;
      readonly terms: CohortDeciderTerms;
      readonly creator: string;
    }
  | { readonly type: 'Join'; readonly party: string; readonly hydraKey: string; readonly deposit: bigint }
  | { readonly type: 'StartEpoch'; readonly signer: string }
  | {
      readonly type: 'Close';
      readonly round: number;
      readonly aggregateHash: string;
      readonly closedBy: string;
      /** Upper bound of the transaction's validity range. */
      readonly validToMs: number;
    }
  | {
      readonly type: 'Contest';
      readonly round: number;
      readonly aggregateHash: string;
      readonly by: string;
      readonly validToMs: number;
    }
  | { readonly type: 'Finalize'; readonly validFromMs: number }
  | {
      readonly type: 'Slash';
      readonly accused: string;
      readonly voters: readonly string[];
      readonly validToMs: number;
    }
  | { readonly type: 'Claim'; readonly party: string }
  | { readonly type: 'Refund'; readonly party: string; readonly validFromMs: number };

export type CohortEvent =
  | {
      readonly type: 'CohortCreated';
      readonly cohortId: string;
      readonly terms: CohortDeciderTerms;
      readonly creator: string;
    }
  | {
      readonly type: 'PartyJoined';
      readonly party: string;
      readonly hydraKey: string;
      readonly deposit: bigint;
      readonly fromEpoch: number;
    }
  | { readonly type: 'EpochStarted'; readonly epoch: number; readonly parties: readonly string[] }
  | {
      readonly type: 'HeadClosed';
      readonly round: number;
      readonly aggregateHash: string;
      readonly closedBy: string;
      readonly deadlineMs: number;
    }
  | {
      readonly type: 'HeadContested';
      readonly round: number;
      readonly aggregateHash: string;
      readonly by: string;
    }
  | {
      readonly type: 'HeadFinalized';
      readonly outcome: 'Completed' | 'NextEpoch' | 'Premature';
      readonly votingDeadlineMs?: number;
    }
  | {
      readonly type: 'PartySlashed';
      readonly accused: string;
      readonly amount: bigint;
      /** What each voter receives of the accused's deposit (its own deposit is returned as well). */
      readonly shares: readonly { readonly party: string; readonly amount: bigint }[];
      readonly returned: readonly { readonly party: string; readonly amount: bigint }[];
    }
  | { readonly type: 'DepositClaimed'; readonly party: string; readonly amount: bigint }
  | { readonly type: 'DepositRefunded'; readonly party: string; readonly amount: bigint };

export const initialCohortState: CohortDeciderState = {
  phase: 'None',
  epoch: 0,
  parties: [],
  members: {},
  snapshot: { round: 0, aggregateHash: '00'.repeat(32) },
};

const refuse = (message: string): never => {
  throw new DmlError('COHORT_REFUSED', message);
};

const member = (state: CohortDeciderState, party: string): CohortMember =>
  state.members[party] ?? refuse(`${party} is not a member of cohort ${state.cohortId}`);

const requirePhase = (state: CohortDeciderState, action: string, ...phases: CohortDeciderPhase[]): void => {
  if (!phases.includes(state.phase)) {
    refuse(
      `cannot ${action}: the cohort is ${state.phase}${phases.length ? `, not ${phases.join(' or ')}` : ''}`,
    );
  }
};

const sorted = (ids: Iterable<string>) => [...ids].sort();

/** The accused's deposit in equal shares (floor); the remainder goes to the first voter in party order. */
export const slashShares = (
  amount: bigint,
  voters: readonly string[],
): { party: string; amount: bigint }[] => {
  const ordered = sorted(voters);
  const n = BigInt(ordered.length);
  const share = amount / n;
  const remainder = amount - share * n;
  return ordered.map((party, i) => ({ party, amount: share + (i === 0 ? remainder : 0n) }));
};

export const decideCohort = (command: CohortCommand, state: CohortDeciderState): CohortEvent[] => {
  switch (command.type) {
    case 'Create': {
      requirePhase(state, 'create the cohort', 'None');
      const t = command.terms;
      if (t.minDeposit <= 0n) refuse('the minimum deposit must be positive');
      if (!(t.finalRound >= 1 && t.epochRounds >= 1 && t.contestationPeriodMs > 0 && t.votingWindowMs > 0)) {
        refuse('rounds, epoch rounds, contestation period and voting window must be positive');
      }
      return [{ type: 'CohortCreated', cohortId: command.cohortId, terms: t, creator: command.creator }];
    }
    case 'Join': {
      requirePhase(state, 'join', 'Forming', 'Open');
      if (state.members[command.party]) refuse(`${command.party} is a member already`);
      if (command.deposit < state.terms!.minDeposit) {
        refuse(`a deposit of ${command.deposit} lovelace is below the minimum of ${state.terms!.minDeposit}`);
      }
      const fromEpoch = state.phase === 'Forming' ? 1 : state.epoch + 1;
      return [
        {
          type: 'PartyJoined',
          party: command.party,
          hydraKey: command.hydraKey,
          deposit: command.deposit,
          fromEpoch,
        },
      ];
    }
    case 'StartEpoch': {
      requirePhase(state, 'start the first epoch', 'Forming');
      member(state, command.signer);
      return [{ type: 'EpochStarted', epoch: 1, parties: sorted(Object.keys(state.members)) }];
    }
    case 'Close': {
      requirePhase(state, 'close the head', 'Open');
      if (!state.parties.includes(command.closedBy))
        refuse(`${command.closedBy} is not a party of epoch ${state.epoch}`);
      if (command.round < state.snapshot.round)
        refuse(`round ${command.round} is older than round ${state.snapshot.round}`);
      return [
        {
          type: 'HeadClosed',
          round: command.round,
          aggregateHash: command.aggregateHash,
          closedBy: command.closedBy,
          deadlineMs: command.validToMs + state.terms!.contestationPeriodMs,
        },
      ];
    }
    case 'Contest': {
      requirePhase(state, 'contest', 'Closed');
      if (!state.parties.includes(command.by)) refuse(`${command.by} is not a party of epoch ${state.epoch}`);
      if (command.validToMs > state.close!.deadlineMs) refuse('the contestation deadline has passed');
      if (command.round <= state.snapshot.round) {
        refuse(`a contest needs a newer round than ${state.snapshot.round}, got ${command.round}`);
      }
      return [
        { type: 'HeadContested', round: command.round, aggregateHash: command.aggregateHash, by: command.by },
      ];
    }
    case 'Finalize': {
      requirePhase(state, 'finalize', 'Closed');
      if (command.validFromMs <= state.close!.deadlineMs)
        refuse('the contestation deadline has not passed yet');
      const { round } = state.snapshot;
      const terms = state.terms!;
      if (round >= terms.finalRound) return [{ type: 'HeadFinalized', outcome: 'Completed' }];
      if (round > 0 && round % terms.epochRounds === 0)
        return [{ type: 'HeadFinalized', outcome: 'NextEpoch' }];
      return [
        {
          type: 'HeadFinalized',
          outcome: 'Premature',
          votingDeadlineMs: command.validFromMs + terms.votingWindowMs,
        },
      ];
    }
    case 'Slash': {
      requirePhase(state, 'slash', 'Premature');
      if (state.slashed) refuse(`${state.slashed} has been slashed already`);
      if (command.validToMs > state.votingDeadlineMs!) refuse('the voting window has closed');
      if (!state.parties.includes(command.accused))
        refuse(`${command.accused} is not a party of epoch ${state.epoch}`);
      const voters = new Set(command.voters);
      if (voters.size !== command.voters.length) refuse('a party votes twice');
      if (voters.has(command.accused)) refuse('the accused cannot vote');
      for (const v of voters) {
        if (!state.parties.includes(v)) refuse(`${v} is not a party of epoch ${state.epoch}`);
        if (member(state, v).status !== 'active') refuse(`${v} has no deposit left to vote with`);
      }
      if (voters.size * 2 <= state.parties.length - 1) {
        refuse(`${voters.size} votes of ${state.parties.length - 1} other parties is not a strict majority`);
      }
      const accused = member(state, command.accused);
      if (accused.status !== 'active') refuse(`${command.accused} has no deposit left`);
      return [
        {
          type: 'PartySlashed',
          accused: command.accused,
          amount: accused.deposit,
          shares: slashShares(accused.deposit, [...voters]),
          returned: sorted(voters).map((party) => ({ party, amount: member(state, party).deposit })),
        },
      ];
    }
    case 'Claim': {
      requirePhase(state, 'claim', 'Completed');
      const m = member(state, command.party);
      if (m.status !== 'active') refuse(`${command.party} has no deposit to claim (${m.status})`);
      return [{ type: 'DepositClaimed', party: command.party, amount: m.deposit }];
    }
    case 'Refund': {
      requirePhase(state, 'take a refund', 'Premature');
      if (command.validFromMs <= state.votingDeadlineMs!) refuse('the voting window has not passed yet');
      const m = member(state, command.party);
      if (m.status !== 'active') refuse(`${command.party} has no deposit to take back (${m.status})`);
      return [{ type: 'DepositRefunded', party: command.party, amount: m.deposit }];
    }
  }
};

const withStatus = (state: CohortDeciderState, party: string, status: MemberStatus): CohortDeciderState => ({
  ...state,
  members: { ...state.members, [party]: { ...state.members[party]!, status } },
});

export const evolveCohort = (state: CohortDeciderState, event: CohortEvent): CohortDeciderState => {
  switch (event.type) {
    case 'CohortCreated':
      return { ...initialCohortState, phase: 'Forming', cohortId: event.cohortId, terms: event.terms };
    case 'PartyJoined':
      return {
        ...state,
        members: {
          ...state.members,
          [event.party]: {
            party: event.party,
            hydraKey: event.hydraKey,
            deposit: event.deposit,
            status: 'active',
            fromEpoch: event.fromEpoch,
          },
        },
      };
    case 'EpochStarted':
      return { ...state, phase: 'Open', epoch: event.epoch, parties: event.parties, close: undefined };
    case 'HeadClosed':
      return {
        ...state,
        phase: 'Closed',
        snapshot: { round: event.round, aggregateHash: event.aggregateHash },
        close: { closedBy: event.closedBy, deadlineMs: event.deadlineMs },
      };
    case 'HeadContested':
      return { ...state, snapshot: { round: event.round, aggregateHash: event.aggregateHash } };
    case 'HeadFinalized':
      if (event.outcome === 'NextEpoch') {
        const active = Object.values(state.members).filter((m) => m.status === 'active');
        return {
          ...state,
          phase: 'Open',
          epoch: state.epoch + 1,
          parties: sorted(active.map((m) => m.party)),
          close: undefined,
        };
      }
      return { ...state, phase: event.outcome, votingDeadlineMs: event.votingDeadlineMs };
    case 'PartySlashed': {
      let next: CohortDeciderState = {
        ...withStatus(state, event.accused, 'slashed'),
        slashed: event.accused,
      };
      for (const r of event.returned) next = withStatus(next, r.party, 'refunded');
      return next;
    }
    case 'DepositClaimed':
      return withStatus(state, event.party, 'claimed');
    case 'DepositRefunded':
      return withStatus(state, event.party, 'refunded');
  }
};

export const replayCohort = (
  events: readonly CohortEvent[],
  from: CohortDeciderState = initialCohortState,
): CohortDeciderState => events.reduce(evolveCohort, from);

/** Lovelace still held in escrow: every active member's deposit. */
export const escrowHeld = (state: CohortDeciderState): bigint =>
  Object.values(state.members)
    .filter((m) => m.status === 'active')
    .reduce((sum, m) => sum + m.deposit, 0n);
