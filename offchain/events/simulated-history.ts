import { createHash } from 'node:crypto';
import type { DmlEventData, DmlEventType } from './catalogue.js';
import { type NewDmlEvent, cohortStream, createEvent, headStream, partyStream } from './envelope.js';
import { hydraOutputEvent } from './hydra-output.js';

/** One append: a batch of events for one stream. */
export interface HistoryBatch {
  readonly stream: string;
  readonly events: readonly NewDmlEvent[];
}

export interface SimulatedHistoryOptions {
  readonly cohortId: string;
  readonly parties: number;
  readonly rounds: number;
  readonly deposit?: bigint;
  /** Index of a party that sends poisoned deltas from round `sabotageRound` on; the others slash it. */
  readonly saboteur?: number;
  readonly sabotageRound?: number;
  /** Start time; every event is 1 s after the previous one. */
  readonly start?: Date;
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * A complete, coherent cohort history as the node would record it: layer-1 transitions, Hydra
 * outputs and training steps, in append batches per stream. Deterministic for given options
 * (event ids aside). Used by tests, the benchmark and demos of the auditor's replay.
 */
export const simulateCohortHistory = (options: SimulatedHistoryOptions): HistoryBatch[] => {
  const { cohortId, parties: n, rounds } = options;
  const deposit = options.deposit ?? 10_000_000n;
  let clock = (options.start ?? new Date('2026-01-01T00:00:00Z')).getTime();
  const at = () => new Date((clock += 1000)).toISOString();
  let slot = 1000;
  const parties = Array.from({ length: n }, (_, i) => sha(`party ${cohortId} ${i}`).slice(0, 56));
  const hydraKeys = parties.map((p) => sha(`hydra ${p}`));
  const headId = sha(`head ${cohortId}`).slice(0, 32);
  const batches: HistoryBatch[] = [];
  let seq = 0;
  const tx = (what: string) => sha(`${cohortId} ${what}`);
  const ev = <T extends DmlEventType>(type: T, data: DmlEventData<T>, correlationId?: string) =>
    createEvent(type, data, { occurredAt: at(), ...(correlationId ? { correlationId } : {}) });
  const hydra = (message: Record<string, unknown>) =>
    hydraOutputEvent(cohortId, { ...message, seq: seq++, timestamp: at() });
  const push = (stream: string, events: NewDmlEvent[]) => batches.push({ stream, events });

  const cohort = cohortStream(cohortId);
  const head = headStream(headId);
  push(cohort, [
    ev('l1.CohortCreated', {
      cohortId,
      txId: tx('create'),
      slot: slot++,
      creator: parties[0]!,
      params: {
        model: 'mnist-mlp',
        rounds,
        minDeposit: String(deposit),
        contestationPeriodMs: 60_000,
        aggregation: 'fedavg-ffa',
        loraRank: 4,
      },
    }),
  ]);
  for (let i = 0; i < n; i++) {
    push(cohort, [
      ev('l1.PartyJoined', {
        cohortId,
        txId: tx(`join ${i}`),
        slot: slot++,
        party: parties[i]!,
        deposit: String(deposit),
        hydraKey: hydraKeys[i]!,
      }),
    ]);
  }
  push(cohort, [
    ev('l1.EpochStarted', { cohortId, txId: tx('epoch 0'), slot: slot++, epoch: 0, headId, parties }),
  ]);
  push(head, [hydra({ tag: 'HeadIsInitializing', headId, parties: hydraKeys.map((vkey) => ({ vkey })) })]);
  for (let i = 0; i < n; i++) {
    push(head, [
      hydra({ tag: 'Committed', headId, party: { vkey: hydraKeys[i] }, utxo: { [`${tx(`c${i}`)}#0`]: {} } }),
    ]);
  }
  push(head, [hydra({ tag: 'HeadIsOpen', headId, utxo: {} })]);

  const saboteur = options.saboteur;
  const sabotageRound = options.sabotageRound ?? 1;
  let aggregate = sha(`${cohortId} initial adapter`);
  let lastRound = rounds;
  let snapshot = 0;
  for (let round = 1; round <= rounds; round++) {
    const corr = `${cohortId}-r${round}`;
    push(cohort, [
      ev('training.RoundStarted', { cohortId, epoch: 0, round, globalAdapterHash: aggregate }, corr),
    ]);
    for (let i = 0; i < n; i++) {
      const bad = saboteur === i && round >= sabotageRound;
      const deltaHash = sha(`${cohortId} delta ${round} ${i}`);
      const txId = tx(`commit ${round} ${i}`);
      push(partyStream(cohortId, parties[i]!), [
        ev(
          'training.DeltaCommitted',
          {
            cohortId,
            epoch: 0,
            round,
            party: parties[i]!,
            deltaHash,
            storageKey: `deltas/${deltaHash}`,
            sampleCount: 1000 + i,
            bytes: 40_000 + i * 10,
            metrics: {
              loss: bad ? 2.3 : 1 / (round + 1) + i * 0.001,
              accuracy: bad ? 0.1 : 0.9 - 0.4 / (round + 1),
            },
            txId,
          },
          corr,
        ),
      ]);
      push(head, [hydra({ tag: 'TxValid', headId, transactionId: txId })]);
    }
    push(head, [
      hydra({
        tag: 'SnapshotConfirmed',
        headId,
        signatures: { multiSignature: hydraKeys.map(() => 'sig') },
        snapshot: { headId, number: ++snapshot, confirmed: parties.map(() => ({})), utxo: {}, version: 0 },
      }),
    ]);
    aggregate = sha(`${cohortId} aggregate ${round}`);
    push(cohort, [
      ev(
        'training.AggregateComputed',
        {
          cohortId,
          epoch: 0,
          round,
          aggregateHash: aggregate,
          rule: 'fedavg-ffa',
          contributors: parties,
          computedBy: parties[0]!,
        },
        corr,
      ),
    ]);
    for (let s = 0; s < n; s++) {
      push(
        partyStream(cohortId, parties[s]!),
        parties.map((party, i) =>
          ev(
            'training.ContributionScored',
            {
              cohortId,
              epoch: 0,
              round,
              scorer: parties[s]!,
              party,
              score: saboteur === i && round >= sabotageRound ? -1 : 0.01 * (1 + ((i + s + round) % 5)),
            },
            corr,
          ),
        ),
      );
    }
    if (saboteur !== undefined && round >= sabotageRound) {
      lastRound = round;
      break;
    }
  }

  const premature = saboteur !== undefined;
  const deadline = new Date(clock + 60_000).toISOString();
  push(cohort, [
    ev('l1.HeadClosed', {
      cohortId,
      txId: tx('close'),
      slot: slot++,
      epoch: 0,
      round: lastRound,
      aggregateHash: aggregate,
      closedBy: parties[0]!,
      deadline,
      scheduled: false,
    }),
  ]);
  push(head, [
    hydra({ tag: 'HeadIsClosed', headId, snapshotNumber: snapshot, contestationDeadline: deadline }),
  ]);
  push(head, [hydra({ tag: 'ReadyToFanout', headId })]);
  push(head, [hydra({ tag: 'HeadIsFinalized', headId, utxo: {} })]);
  push(cohort, [
    ev('l1.HeadFinalized', {
      cohortId,
      txId: tx('fanout'),
      slot: slot++,
      epoch: 0,
      outcome: premature ? 'Premature' : 'Completed',
    }),
  ]);
  if (premature) {
    const voters = parties.filter((_, i) => i !== saboteur);
    const share = deposit / BigInt(voters.length);
    const remainder = deposit - share * BigInt(voters.length);
    push(cohort, [
      ev('l1.PartySlashed', {
        cohortId,
        txId: tx('slash'),
        slot: slot++,
        accused: parties[saboteur]!,
        voters,
        amount: String(deposit),
        shares: voters.map((party, i) => ({ party, amount: String(share + (i === 0 ? remainder : 0n)) })),
        returned: voters.map((party) => ({ party, amount: String(deposit) })),
      }),
    ]);
  } else {
    for (let i = 0; i < n; i++) {
      push(cohort, [
        ev('l1.DepositClaimed', {
          cohortId,
          txId: tx(`claim ${i}`),
          slot: slot++,
          party: parties[i]!,
          amount: String(deposit),
        }),
      ]);
    }
  }
  return batches;
};
