/**
 * What a party's own process does next across a cohort's head epochs (`dml train run`), from
 * what it observes and nothing else: the cohort's state on layer 1, the hydra-node it talks to,
 * and the epochs it has seen done. Inside an epoch the rounds are `decidePartyAction`'s; this
 * decides between epochs: train the epoch layer 1 names, wait for the cohort to move on, or end.
 * Pure, so that a restarted process decides from the same facts as a live one.
 */

/** The cohort's state output on layer 1, as far as following it needs. */
export type FollowLayer1 =
  | { readonly kind: 'unreachable'; readonly message: string }
  | {
      readonly kind: 'cohort';
      readonly phase: 'Open' | 'Closed' | 'Completed' | 'Premature';
      readonly epoch: number;
      /** The last round the chain holds (Open, Closed, Completed); 0 for Premature. */
      readonly round: number;
      /** Open, Closed, Completed: the aggregate hash of `round` (signed by every party of its epoch). */
      readonly aggregateHash?: string;
      /** The epoch's parties (payment key hashes) and their Hydra keys, in the cohort's order. */
      readonly parties: ReadonlyArray<{ readonly pkh: string; readonly hydraVk: string }>;
      /** Every member (joined with a deposit), newest first as on layer 1. */
      readonly members: readonly string[];
      readonly finalRound: number;
      readonly epochRounds: number;
      /** Closed: the contestation deadline (ms since the epoch). */
      readonly deadline?: number;
    };

/** The party's hydra-node: unreachable, or its head status and the Hydra keys of the head's parties. */
export type FollowHead =
  | { readonly kind: 'unreachable'; readonly message: string }
  | { readonly kind: 'node'; readonly status: string; readonly parties: readonly string[] };

export interface FollowObservation {
  readonly me: string;
  readonly layer1: FollowLayer1;
  /** The hydra-node, when it was asked (only needed once this party is a party of an open epoch). */
  readonly head?: FollowHead;
  /** Epochs this process saw done (every party acknowledged the epoch's last round) -> that round. */
  readonly done: ReadonlyMap<number, number>;
}

export type FollowWaitFor =
  /** Layer 1 does not answer (a devnet restarted, a provider down). */
  | 'layer-1'
  /** The cohort exists but its first epoch has not started. */
  | 'first-epoch'
  /** This party joined during the current epoch: it enters at the next one. */
  | 'next-epoch'
  /** The epoch's last round is acknowledged by all: the scheduled close (layer 1 and the head). */
  | 'scheduled-close'
  /** Closed on layer 1: its finalize after the contestation period. */
  | 'finalize'
  /** The epoch is open on layer 1, the head of its parties is not open (yet) at the party's hydra-node. */
  | 'head';

export type FollowStep =
  /** Run the epoch's rounds (`PartyRoundLoop`). */
  | {
      readonly kind: 'train-epoch';
      readonly epoch: number;
      readonly firstRound: number;
      readonly lastRound: number;
      readonly parties: readonly string[];
      /** Epochs after the first: the aggregate hash of round `firstRound - 1` on layer 1. */
      readonly previousAggregateHash?: string;
    }
  | { readonly kind: 'wait'; readonly for: FollowWaitFor; readonly detail: string }
  /** Every party acknowledged the cohort's final round: nothing is left to train. */
  | { readonly kind: 'training-over'; readonly epoch: number; readonly round: number }
  /** The cohort ended on layer 1. */
  | { readonly kind: 'ended'; readonly outcome: 'Completed' | 'Premature'; readonly round: number }
  /** This party is not a member of the cohort (it never joined). */
  | { readonly kind: 'not-a-member' };

/** The rounds of the cohort's current epoch, as its terms on layer 1 fix them. */
export const followEpochRounds = (
  l1: Extract<FollowLayer1, { kind: 'cohort' }>,
): { firstRound: number; lastRound: number } => ({
  firstRound: l1.round + 1,
  lastRound: Math.min(l1.round + l1.epochRounds, l1.finalRound),
});

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x) => b.includes(x));

export const decideFollowStep = (o: FollowObservation): FollowStep => {
  const l1 = o.layer1;
  if (l1.kind === 'unreachable') return { kind: 'wait', for: 'layer-1', detail: `layer 1 (${l1.message})` };
  if (l1.phase === 'Completed' || l1.phase === 'Premature')
    return { kind: 'ended', outcome: l1.phase, round: l1.round };
  for (const [epoch, round] of o.done)
    if (round >= l1.finalRound) return { kind: 'training-over', epoch, round };
  if (!l1.members.includes(o.me)) return { kind: 'not-a-member' };
  if (l1.phase === 'Closed')
    return {
      kind: 'wait',
      for: 'finalize',
      detail: `the finalize of epoch ${l1.epoch}, closed at round ${l1.round} (\`dml cohort finalize\` after ${l1.deadline !== undefined ? new Date(l1.deadline).toISOString() : 'the contestation period'})`,
    };
  if (l1.epoch < 1)
    return {
      kind: 'wait',
      for: 'first-epoch',
      detail: 'the first epoch (`dml cohort start-epoch`, once every party joined)',
    };
  const { firstRound, lastRound } = followEpochRounds(l1);
  const parties = l1.parties.map((p) => p.pkh);
  if (!parties.includes(o.me))
    return {
      kind: 'wait',
      for: 'next-epoch',
      detail: `the next epoch: this party is not a party of epoch ${l1.epoch} (it joined during it) and enters at the next one, after the scheduled close at round ${lastRound}`,
    };
  const doneAt = o.done.get(l1.epoch);
  if (doneAt !== undefined)
    return {
      kind: 'wait',
      for: 'scheduled-close',
      detail: `the scheduled close of epoch ${l1.epoch}, done at round ${doneAt} (\`dml train close\`, \`dml head close\`, \`dml head fanout\`, \`dml cohort finalize\`) and the next epoch's head`,
    };
  const head = o.head;
  if (!head || head.kind === 'unreachable')
    return {
      kind: 'wait',
      for: 'head',
      detail: `the head of epoch ${l1.epoch}: the hydra-node does not answer${head ? ` (${head.message})` : ''}`,
    };
  const hydraKeys = l1.parties.map((p) => p.hydraVk);
  if (!sameSet(head.parties, hydraKeys))
    return {
      kind: 'wait',
      for: 'head',
      detail: `the head of epoch ${l1.epoch}'s ${hydraKeys.length} parties: the hydra-node runs a head of ${head.parties.length} other parties (${head.status})`,
    };
  if (head.status !== 'Open')
    return {
      kind: 'wait',
      for: 'head',
      detail: `the head of epoch ${l1.epoch} to open (it is ${head.status}: \`dml head init\`, every party's \`dml head commit\`)`,
    };
  return {
    kind: 'train-epoch',
    epoch: l1.epoch,
    firstRound,
    lastRound,
    parties,
    ...(firstRound > 1 && l1.aggregateHash !== undefined ? { previousAggregateHash: l1.aggregateHash } : {}),
  };
};
