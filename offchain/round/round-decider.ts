import { DmlError } from '../errors.js';
import { ed25519Verify } from '../ed25519.js';
import { trainingSnapshotMessage } from './training-snapshot.js';

/**
 * One training round of one cohort epoch, as a pure decider: `decideRound(command, state)`
 * returns the events a command causes (or throws a DmlError when the command is refused), and
 * `evolveRound(state, event)` folds an event into the state. The node appends the events to the
 * log; replaying them rebuilds the state exactly.
 *
 * A round: every party of the epoch commits one delta; when all have, each computes the
 * aggregate (the same bytes everywhere) and signs the training snapshot
 * `(cohortId, epoch, round, aggregateHash)` with its Hydra key; with every signature the round
 * is Completed and its snapshot can be carried to layer 1. Two different commitments by one
 * party for one round are equivocation: the first stands, and the second is kept as evidence.
 */
export interface RoundKey {
  readonly cohortId: string;
  readonly epoch: number;
  readonly round: number;
}

export interface RoundParty {
  /** The party's id (hex hash of its payment key). */
  readonly id: string;
  /** Hex of its Hydra verification key, which signs the training snapshot. */
  readonly hydraKey: string;
}

export interface RoundCommitment {
  readonly party: string;
  readonly deltaHash: string;
  readonly storageKey: string;
  readonly sampleCount: number;
  readonly bytes: number;
  readonly metrics: { readonly loss: number; readonly accuracy: number };
}

export interface RoundAggregate {
  readonly aggregateHash: string;
  readonly rule: string;
  /** Parties whose deltas went into it, in party order. */
  readonly contributors: readonly string[];
}

export type RoundStatus = 'Idle' | 'Collecting' | 'Aggregated' | 'Completed';

export interface RoundState {
  readonly status: RoundStatus;
  readonly key?: RoundKey;
  /** Parties of the epoch, sorted by id: the fixed order of aggregation and of signatures. */
  readonly parties: readonly RoundParty[];
  readonly globalAdapterHash?: string;
  readonly commitments: Readonly<Record<string, RoundCommitment>>;
  readonly equivocations: readonly {
    readonly party: string;
    readonly first: string;
    readonly second: string;
  }[];
  readonly aggregate?: RoundAggregate;
  readonly signatures: Readonly<Record<string, string>>;
}

export type RoundCommand =
  | {
      readonly type: 'StartRound';
      readonly key: RoundKey;
      readonly parties: readonly RoundParty[];
      readonly globalAdapterHash: string;
    }
  | { readonly type: 'CommitDelta'; readonly commitment: RoundCommitment }
  | {
      readonly type: 'RecordAggregate';
      readonly aggregateHash: string;
      readonly rule: string;
      readonly computedBy: string;
    }
  | { readonly type: 'SignSnapshot'; readonly party: string; readonly signature: string };

export type RoundEvent =
  | {
      readonly type: 'RoundStarted';
      readonly key: RoundKey;
      readonly parties: readonly RoundParty[];
      readonly globalAdapterHash: string;
    }
  | { readonly type: 'DeltaCommitted'; readonly key: RoundKey; readonly commitment: RoundCommitment }
  | {
      readonly type: 'EquivocationDetected';
      readonly key: RoundKey;
      readonly party: string;
      readonly first: string;
      readonly second: string;
    }
  | ({
      readonly type: 'AggregateComputed';
      readonly key: RoundKey;
      readonly computedBy: string;
    } & RoundAggregate)
  | {
      readonly type: 'SnapshotSigned';
      readonly key: RoundKey;
      readonly party: string;
      readonly signature: string;
    }
  | {
      readonly type: 'RoundCompleted';
      readonly key: RoundKey;
      readonly aggregateHash: string;
      readonly signatures: readonly string[];
    };

export const initialRoundState: RoundState = {
  status: 'Idle',
  parties: [],
  commitments: {},
  equivocations: [],
  signatures: {},
};

const HASH = /^[0-9a-f]{64}$/;
const refuse = (message: string): never => {
  throw new DmlError('ROUND_REFUSED', message);
};

const describeKey = (key: RoundKey) => `cohort ${key.cohortId} epoch ${key.epoch} round ${key.round}`;

const requireMember = (state: RoundState, party: string): RoundParty =>
  state.parties.find((p) => p.id === party) ??
  refuse(`${party} is not a party of ${describeKey(state.key!)}`);

const decideStart = (
  command: Extract<RoundCommand, { type: 'StartRound' }>,
  state: RoundState,
): RoundEvent[] => {
  const { key, parties, globalAdapterHash } = command;
  if (
    !Number.isSafeInteger(key.epoch) ||
    key.epoch < 0 ||
    !Number.isSafeInteger(key.round) ||
    key.round < 1
  ) {
    refuse('a round is numbered from 1 and an epoch from 0');
  }
  if (!HASH.test(globalAdapterHash)) refuse('the global adapter hash must be 32 bytes of lowercase hex');
  if (parties.length === 0) refuse('a round needs at least one party');
  if (new Set(parties.map((p) => p.id)).size !== parties.length) refuse('a party is listed twice');
  if (state.status !== 'Idle') {
    const current = state.key!;
    if (state.status !== 'Completed') refuse(`${describeKey(current)} is still ${state.status}`);
    if (key.cohortId !== current.cohortId) refuse(`the round belongs to cohort ${current.cohortId}`);
    if (key.round !== current.round + 1) refuse(`the next round is ${current.round + 1}, not ${key.round}`);
    if (key.epoch < current.epoch) refuse(`epoch ${key.epoch} is older than epoch ${current.epoch}`);
  }
  const sorted = [...parties].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return [{ type: 'RoundStarted', key, parties: sorted, globalAdapterHash }];
};

const decideCommit = (
  command: Extract<RoundCommand, { type: 'CommitDelta' }>,
  state: RoundState,
): RoundEvent[] => {
  const { commitment } = command;
  if (state.status === 'Idle') refuse('no round is running');
  requireMember(state, commitment.party);
  if (!HASH.test(commitment.deltaHash)) refuse('the delta hash must be 32 bytes of lowercase hex');
  const earlier = state.commitments[commitment.party];
  if (earlier) {
    if (earlier.deltaHash === commitment.deltaHash) return [];
    const known = state.equivocations.some(
      (e) => e.party === commitment.party && e.second === commitment.deltaHash,
    );
    return known
      ? []
      : [
          {
            type: 'EquivocationDetected',
            key: state.key!,
            party: commitment.party,
            first: earlier.deltaHash,
            second: commitment.deltaHash,
          },
        ];
  }
  if (state.status !== 'Collecting') refuse(`${describeKey(state.key!)} no longer takes commitments`);
  return [{ type: 'DeltaCommitted', key: state.key!, commitment }];
};

const decideAggregate = (
  command: Extract<RoundCommand, { type: 'RecordAggregate' }>,
  state: RoundState,
): RoundEvent[] => {
  if (state.status === 'Idle') refuse('no round is running');
  requireMember(state, command.computedBy);
  if (!HASH.test(command.aggregateHash)) refuse('the aggregate hash must be 32 bytes of lowercase hex');
  if (state.aggregate) {
    if (state.aggregate.aggregateHash !== command.aggregateHash) {
      refuse(
        `${command.computedBy} computed aggregate ${command.aggregateHash} for ${describeKey(state.key!)}, but it is ${state.aggregate.aggregateHash}`,
      );
    }
    return [];
  }
  const missing = state.parties.filter((p) => !state.commitments[p.id]).map((p) => p.id);
  if (missing.length > 0)
    refuse(`${describeKey(state.key!)} still waits for the deltas of ${missing.join(', ')}`);
  return [
    {
      type: 'AggregateComputed',
      key: state.key!,
      aggregateHash: command.aggregateHash,
      rule: command.rule,
      contributors: state.parties.map((p) => p.id),
      computedBy: command.computedBy,
    },
  ];
};

const decideSign = (
  command: Extract<RoundCommand, { type: 'SignSnapshot' }>,
  state: RoundState,
): RoundEvent[] => {
  if (state.status === 'Idle') refuse('no round is running');
  const party = requireMember(state, command.party);
  if (!state.aggregate) refuse(`${describeKey(state.key!)} has no aggregate to sign yet`);
  const earlier = state.signatures[command.party];
  if (earlier !== undefined) {
    if (earlier === command.signature) return [];
    refuse(`${command.party} has signed ${describeKey(state.key!)} already`);
  }
  const message = trainingSnapshotMessage({ ...state.key!, aggregateHash: state.aggregate!.aggregateHash });
  const valid =
    /^[0-9a-f]{128}$/.test(command.signature) &&
    ed25519Verify(Buffer.from(party.hydraKey, 'hex'), message, Buffer.from(command.signature, 'hex'));
  if (!valid) refuse(`the signature of ${command.party} does not verify for ${describeKey(state.key!)}`);
  const signed: RoundEvent = {
    type: 'SnapshotSigned',
    key: state.key!,
    party: command.party,
    signature: command.signature,
  };
  const signatures = { ...state.signatures, [command.party]: command.signature };
  if (state.parties.every((p) => signatures[p.id] !== undefined)) {
    return [
      signed,
      {
        type: 'RoundCompleted',
        key: state.key!,
        aggregateHash: state.aggregate!.aggregateHash,
        signatures: state.parties.map((p) => signatures[p.id]!),
      },
    ];
  }
  return [signed];
};

export const decideRound = (command: RoundCommand, state: RoundState): RoundEvent[] => {
  switch (command.type) {
    case 'StartRound':
      return decideStart(command, state);
    case 'CommitDelta':
      return decideCommit(command, state);
    case 'RecordAggregate':
      return decideAggregate(command, state);
    case 'SignSnapshot':
      return decideSign(command, state);
  }
};

export const evolveRound = (state: RoundState, event: RoundEvent): RoundState => {
  switch (event.type) {
    case 'RoundStarted':
      return {
        ...initialRoundState,
        status: 'Collecting',
        key: event.key,
        parties: event.parties,
        globalAdapterHash: event.globalAdapterHash,
      };
    case 'DeltaCommitted':
      return { ...state, commitments: { ...state.commitments, [event.commitment.party]: event.commitment } };
    case 'EquivocationDetected':
      return {
        ...state,
        equivocations: [
          ...state.equivocations,
          { party: event.party, first: event.first, second: event.second },
        ],
      };
    case 'AggregateComputed':
      return {
        ...state,
        status: 'Aggregated',
        aggregate: { aggregateHash: event.aggregateHash, rule: event.rule, contributors: event.contributors },
      };
    case 'SnapshotSigned':
      return { ...state, signatures: { ...state.signatures, [event.party]: event.signature } };
    case 'RoundCompleted':
      return { ...state, status: 'Completed' };
  }
};

/** The state after a history of events. */
export const replayRound = (
  events: readonly RoundEvent[],
  from: RoundState = initialRoundState,
): RoundState => events.reduce(evolveRound, from);
