import { ledgerBalances, ledgerTotals } from './escrow-ledger.js';
import type { HeadStatus } from './head-lifecycle.js';
import type { ProjectionStates } from './replay.js';
import { type RecordedDirections, recordedDirections, reputationScore } from './reputation.js';

const directionOf = (d: RecordedDirections, party: string) => {
  const p = d.parties.find((x) => x.partyId === party);
  return p
    ? {
        direction: {
          z: p.z,
          rounds: p.rounds,
          referenceZ: p.referenceZ,
          verdict: p.verdict,
          flagged: p.flagged,
        },
      }
    : {};
};

/** What `dml audit replay` prints for one cohort: every projection, summed up. JSON-ready. */
export interface CohortSummary {
  readonly cohortId: string;
  readonly events: number;
  readonly lastPosition: number;
  readonly heads: ReadonlyArray<{
    headId: string;
    status: HeadStatus;
    parties: number;
    validTxs: number;
    invalidTxs: number;
    lastSnapshot: number;
    contestations: number;
  }>;
  readonly ledger: {
    readonly outcome: string;
    readonly balances: boolean;
    readonly deposited: string;
    readonly inEscrow: string;
    readonly paidOut: string;
    readonly accounts: ReadonlyArray<{
      party: string;
      deposited: string;
      inEscrow: string;
      claimed: string;
      refunded: string;
      returned: string;
      slashShares: string;
      slashedAway: string;
    }>;
    readonly slashes: ReadonlyArray<{ accused: string; voters: number; amount: string }>;
  };
  readonly training: {
    readonly rounds: number;
    readonly lastAggregateHash?: string;
    readonly perRound: ReadonlyArray<{
      epoch: number;
      round: number;
      deltas: number;
      meanLoss: number;
      meanAccuracy: number;
      bytes: number;
    }>;
  };
  readonly reputation: ReadonlyArray<{
    party: string;
    contributions: number;
    meanScore: number;
    reputation: number;
    slashed: boolean;
    equivocations: number;
    /**
     * The verdict on the direction of its deltas from the other parties' recorded judgements
     * (`recordedDirections`), when any round of it counted: combined z, rounds, verdict.
     */
    direction?: { z: number; rounds: number; referenceZ: number; verdict: string; flagged: boolean };
  }>;
  readonly anomalies: readonly string[];
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0);

export const summariseCohort = (
  states: ProjectionStates,
  cohortId: string,
  counts: { events: number; lastPosition: number },
): CohortSummary => {
  const heads = Object.values(states.headLifecycle.state.heads).filter((h) => h.cohortId === cohortId);
  const ledger = states.escrowLedger.state.cohorts[cohortId];
  const totals = ledger ? ledgerTotals(ledger) : { deposited: 0n, inEscrow: 0n, paidOut: 0n };
  const rounds = states.trainingHistory.state.cohorts[cohortId]?.rounds ?? [];
  const reputation = Object.values(states.reputation.state.cohorts[cohortId] ?? {});
  const directions = recordedDirections(states.reputation.state.cohorts[cohortId] ?? {});
  return {
    cohortId,
    ...counts,
    heads: heads.map((h) => ({
      headId: h.headId,
      status: h.status,
      parties: h.parties.length,
      validTxs: h.validTxs,
      invalidTxs: h.invalidTxs,
      lastSnapshot: h.lastSnapshot,
      contestations: h.contestations,
    })),
    ledger: {
      outcome: ledger?.outcome ?? 'Unknown',
      balances: ledger ? ledgerBalances(ledger) : true,
      deposited: String(totals.deposited),
      inEscrow: String(totals.inEscrow),
      paidOut: String(totals.paidOut),
      accounts: Object.values(ledger?.accounts ?? {}).map((a) => ({ ...a })),
      slashes: (ledger?.slashes ?? []).map((s) => ({
        accused: s.accused,
        voters: s.voters.length,
        amount: s.amount,
      })),
    },
    training: {
      rounds: rounds.length,
      ...(rounds.at(-1)?.aggregateHash ? { lastAggregateHash: rounds.at(-1)!.aggregateHash! } : {}),
      perRound: rounds.map((r) => {
        const parties = Object.values(r.parties).filter((p) => p.deltaHash !== undefined);
        return {
          epoch: r.epoch,
          round: r.round,
          deltas: parties.length,
          meanLoss: mean(parties.map((p) => p.loss ?? 0)),
          meanAccuracy: mean(parties.map((p) => p.accuracy ?? 0)),
          bytes: parties.reduce((s, p) => s + (p.bytes ?? 0), 0),
        };
      }),
    },
    reputation: reputation.map((r) => ({
      party: r.party,
      contributions: r.contributions,
      meanScore: r.scoreCount ? r.scoreSum / r.scoreCount : 0,
      reputation: reputationScore(r),
      slashed: r.slashed,
      equivocations: r.equivocations,
      ...directionOf(directions, r.party),
    })),
    anomalies: [
      ...states.headLifecycle.state.anomalies.filter((a) => heads.some((h) => a.includes(h.headId))),
      ...(ledger?.anomalies ?? []),
    ],
  };
};

const ada = (lovelace: string) => `${(Number(BigInt(lovelace)) / 1e6).toFixed(6)} ADA`;
const short = (hex: string) => (hex.length > 16 ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : hex);

/** The summary as text for people. */
export const renderCohortSummary = (s: CohortSummary): string => {
  const lines = [`cohort ${s.cohortId}: ${s.events} events replayed (log position ${s.lastPosition})`];
  for (const h of s.heads)
    lines.push(
      `  head ${short(h.headId)}  ${h.status}  ${h.parties} parties  ${h.validTxs} valid / ${h.invalidTxs} invalid txs  snapshot ${h.lastSnapshot}  contested ${h.contestations}x`,
    );
  lines.push(
    `  escrow ${s.ledger.outcome}: deposited ${ada(s.ledger.deposited)}, in escrow ${ada(s.ledger.inEscrow)}, paid out ${ada(s.ledger.paidOut)}  ${s.ledger.balances ? 'balances' : 'DOES NOT BALANCE'}`,
  );
  for (const a of s.ledger.accounts)
    lines.push(
      `    ${short(a.party)}  deposited ${ada(a.deposited)}  claimed ${ada(a.claimed)}  refunded ${ada(a.refunded)}  returned ${ada(a.returned)}  shares ${ada(a.slashShares)}  slashed ${ada(a.slashedAway)}`,
    );
  for (const x of s.ledger.slashes)
    lines.push(`    slash: ${short(x.accused)} lost ${ada(x.amount)} by ${x.voters} votes`);
  lines.push(
    `  training: ${s.training.rounds} rounds${s.training.lastAggregateHash ? `, last aggregate ${short(s.training.lastAggregateHash)}` : ''}`,
  );
  for (const r of s.training.perRound)
    lines.push(
      `    epoch ${r.epoch} round ${r.round}: ${r.deltas} deltas, mean loss ${r.meanLoss.toFixed(4)}, mean accuracy ${r.meanAccuracy.toFixed(4)}, ${r.bytes} bytes`,
    );
  lines.push('  reputation:');
  for (const r of s.reputation)
    lines.push(
      `    ${short(r.party)}  ${r.contributions} deltas  mean score ${r.meanScore.toFixed(4)}  reputation ${r.reputation.toFixed(4)}${r.slashed ? '  SLASHED' : ''}${r.equivocations ? `  ${r.equivocations} equivocations` : ''}${r.direction ? `  direction z ${r.direction.z.toFixed(1)} over ${r.direction.rounds} rounds (${r.direction.verdict})` : ''}`,
    );
  lines.push(s.anomalies.length ? `  anomalies (${s.anomalies.length}):` : '  anomalies: none');
  for (const a of s.anomalies) lines.push(`    ${a}`);
  return lines.join('\n');
};
