import { createHash } from 'node:crypto';
import type { CohortTransition, CohortTrainingParamsOnChain } from '../chain/index.js';
import { slashShares } from '../cohort/index.js';
import { type DmlEventType, type NewDmlEvent, createEvent } from '../events/index.js';

/**
 * What the chain does not say about a transition, supplied by whoever syncs the log:
 * - `headIdOf(epoch)`: the epoch's Hydra head id, when the syncing party knows it (the chain
 *   never names it: a head is initialised after its epoch starts);
 * - `params`: the training parameters, used only when the creation carried none on chain;
 * - `zeroTime`: POSIX ms of slot 0, so that an event's time is its block's time (the same for
 *   every party that syncs the same chain), else the syncing clock's now.
 */
export interface OffChainFacts {
  readonly headIdOf?: (epoch: number) => string | undefined;
  readonly params?: CohortTrainingParamsOnChain;
  readonly zeroTime?: number;
  readonly now?: () => Date;
}

/** One `l1.*` event a transition stands for, or why none can be written. */
export type TransitionEvent =
  | { readonly ok: true; readonly type: DmlEventType; readonly txId: string; readonly event: NewDmlEvent }
  | { readonly ok: false; readonly txId: string; readonly reason: string };

/**
 * A deterministic event id (a UUID shape over SHA-256 of cohort, type and transaction): two
 * parties or two commands that derive the same transition write the same id.
 */
export const l1EventId = (cohortId: string, type: DmlEventType, txId: string): string => {
  const h = createHash('sha256').update(`${cohortId}|${type}|${txId}`).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

/**
 * The `l1.*` events that record one chain transition in the cohort's stream (a Finalize into the
 * next epoch records the finalize and the start of the next epoch, both naming its transaction).
 * An `unexplained` transition records nothing: the auditor reports it from the chain.
 */
export const eventsOfTransition = (
  cohortId: string,
  t: CohortTransition,
  facts: OffChainFacts = {},
): TransitionEvent[] => {
  const at = { cohortId, txId: t.txId, slot: t.slot };
  const occurredAt =
    facts.zeroTime !== undefined
      ? new Date(facts.zeroTime + t.slot * 1000).toISOString()
      : (facts.now?.() ?? new Date()).toISOString();
  const event = <T extends DmlEventType>(
    type: T,
    data: Parameters<typeof createEvent<T>>[1],
  ): TransitionEvent => ({
    ok: true,
    type,
    txId: t.txId,
    event: createEvent(type, data, { occurredAt, eventId: l1EventId(cohortId, type, t.txId) }),
  });
  const epochStarted = (epoch: number, parties: readonly string[]) => {
    const headId = facts.headIdOf?.(epoch);
    return event('l1.EpochStarted', { ...at, epoch, parties: [...parties], ...(headId ? { headId } : {}) });
  };
  switch (t.kind) {
    case 'created': {
      const params = t.params ?? facts.params;
      const terms = t.state.terms;
      if (!t.creator || !params)
        return [
          {
            ok: false,
            txId: t.txId,
            reason: !t.creator
              ? 'the creation carries no signature to name its creator'
              : 'the creation carries no training parameters (metadata) and none were given',
          },
        ];
      return [
        event('l1.CohortCreated', {
          ...at,
          creator: t.creator,
          params: {
            model: params.model,
            aggregation: params.aggregation,
            loraRank: params.loraRank,
            ...(params.deltaEncoding === 'q8' ? { deltaEncoding: 'q8' as const } : {}),
            rounds: Number(terms.finalRound),
            minDeposit: String(terms.minDeposit),
            contestationPeriodMs: Number(terms.contestationPeriod),
          },
        }),
      ];
    }
    case 'joined':
      return [
        event('l1.PartyJoined', { ...at, party: t.party, deposit: String(t.deposit), hydraKey: t.hydraKey }),
      ];
    case 'epochStarted':
      return [epochStarted(t.epoch, t.parties)];
    case 'closed':
      return [
        event('l1.HeadClosed', {
          ...at,
          epoch: t.epoch,
          round: t.round,
          aggregateHash: t.aggregateHash,
          closedBy: t.by[0]!,
          deadline: new Date(t.deadline).toISOString(),
          scheduled: t.scheduled,
          signatures: [...t.signatures],
        }),
      ];
    case 'contested': {
      const by = t.by[0];
      if (!by) return [{ ok: false, txId: t.txId, reason: 'the contest names no required signer' }];
      return [
        event('l1.HeadContested', {
          ...at,
          epoch: t.epoch,
          round: t.round,
          aggregateHash: t.aggregateHash,
          contestedBy: by,
          deadline: new Date(t.deadline).toISOString(),
          signatures: [...t.signatures],
        }),
      ];
    }
    case 'finalized':
      return [
        event('l1.HeadFinalized', { ...at, epoch: t.epoch, outcome: t.outcome }),
        ...(t.next ? [epochStarted(t.next.epoch, t.next.parties)] : []),
      ];
    case 'slashed':
      return [
        event('l1.PartySlashed', {
          ...at,
          accused: t.accused,
          voters: [...t.voters],
          amount: String(t.amount),
          shares: slashShares(t.amount, t.voters).map((s) => ({ party: s.party, amount: String(s.amount) })),
          returned: t.returned.map((r) => ({ party: r.party, amount: String(r.amount) })),
        }),
      ];
    case 'claimed':
      return [event('l1.DepositClaimed', { ...at, party: t.party, amount: String(t.amount) })];
    case 'refunded':
      return [event('l1.DepositRefunded', { ...at, party: t.party, amount: String(t.amount) })];
    case 'unexplained':
      return [{ ok: false, txId: t.txId, reason: t.reason }];
  }
};
