import type { ReplayedDmlEvent } from '../offchain/index.js';
import { type Projection, put } from './projection.js';

/** One party's money in one cohort, in lovelace (decimal strings). */
export interface EscrowAccount {
  readonly party: string;
  /** Paid into escrow when joining. */
  readonly deposited: string;
  /** Still held by the escrow validator. */
  readonly inEscrow: string;
  readonly claimed: string;
  readonly refunded: string;
  /** Own deposit given back by a slash transaction this party voted in. */
  readonly returned: string;
  /** Share of a slashed party's deposit received. */
  readonly slashShares: string;
  /** Own deposit taken by a slash. */
  readonly slashedAway: string;
}

export type CohortOutcome = 'Running' | 'Completed' | 'Premature';

export interface CohortLedger {
  readonly cohortId: string;
  readonly minDeposit?: string;
  readonly outcome: CohortOutcome;
  readonly accounts: Readonly<Record<string, EscrowAccount>>;
  readonly slashes: ReadonlyArray<{
    accused: string;
    voters: readonly string[];
    amount: string;
    txId: string;
  }>;
  /** Observed transitions that break the contract rules; refused if applying them would create or lose money. */
  readonly anomalies: readonly string[];
}

export interface EscrowLedgerState {
  readonly cohorts: Readonly<Record<string, CohortLedger>>;
}

const ZERO = '0';
const add = (a: string, b: string | bigint) => String(BigInt(a) + BigInt(b));
const sub = (a: string, b: string | bigint) => String(BigInt(a) - BigInt(b));

const emptyCohort = (cohortId: string): CohortLedger => ({
  cohortId,
  outcome: 'Running',
  accounts: {},
  slashes: [],
  anomalies: [],
});

const withAnomaly = (ledger: CohortLedger, event: ReplayedDmlEvent, text: string): CohortLedger => ({
  ...ledger,
  anomalies: [...ledger.anomalies, `#${event.position} ${event.type}: ${text}`],
});

/** A payout of a party's whole deposit (claim or refund): refused unless the escrow holds exactly it. */
const payout = (
  ledger: CohortLedger,
  event: ReplayedDmlEvent,
  party: string,
  amount: string,
  field: 'claimed' | 'refunded',
  allowedWhen: CohortOutcome,
): CohortLedger => {
  const account = ledger.accounts[party];
  if (!account) return withAnomaly(ledger, event, `${party} has no deposit`);
  if (BigInt(amount) === 0n || account.inEscrow !== amount)
    return withAnomaly(
      ledger,
      event,
      `${party} takes ${amount} but the escrow holds ${account.inEscrow} for it`,
    );
  const next = {
    ...ledger,
    accounts: put(ledger.accounts, party, {
      ...account,
      inEscrow: ZERO,
      [field]: add(account[field], amount),
    }),
  };
  return ledger.outcome === allowedWhen
    ? next
    : withAnomaly(next, event, `cohort is ${ledger.outcome}, not ${allowedWhen}`);
};

const evolveCohort = (ledger: CohortLedger, event: ReplayedDmlEvent): CohortLedger => {
  switch (event.type) {
    case 'l1.CohortCreated':
      return { ...ledger, minDeposit: event.data.params.minDeposit };
    case 'l1.PartyJoined': {
      const { party, deposit } = event.data;
      if (ledger.accounts[party]) return withAnomaly(ledger, event, `${party} joined twice`);
      const account: EscrowAccount = {
        party,
        deposited: deposit,
        inEscrow: deposit,
        claimed: ZERO,
        refunded: ZERO,
        returned: ZERO,
        slashShares: ZERO,
        slashedAway: ZERO,
      };
      const next = { ...ledger, accounts: put(ledger.accounts, party, account) };
      return ledger.minDeposit !== undefined && BigInt(deposit) < BigInt(ledger.minDeposit)
        ? withAnomaly(next, event, `${party} deposited ${deposit} < minimum ${ledger.minDeposit}`)
        : next;
    }
    case 'l1.HeadFinalized':
      return event.data.outcome === 'NextEpoch' ? ledger : { ...ledger, outcome: event.data.outcome };
    case 'l1.DepositClaimed':
      return payout(ledger, event, event.data.party, event.data.amount, 'claimed', 'Completed');
    case 'l1.DepositRefunded':
      return payout(ledger, event, event.data.party, event.data.amount, 'refunded', 'Premature');
    case 'l1.PartySlashed': {
      const { accused, voters, amount, shares, returned, txId } = event.data;
      const accounts = { ...ledger.accounts };
      const problems: string[] = [];
      const victim = accounts[accused];
      if (!victim || victim.inEscrow !== amount || amount === ZERO)
        problems.push(
          `accused ${accused} holds ${victim?.inEscrow ?? 'nothing'} in escrow, slash takes ${amount}`,
        );
      const shareSum = shares.reduce((s, x) => s + BigInt(x.amount), 0n);
      if (shareSum !== BigInt(amount)) problems.push(`shares add up to ${shareSum}, not ${amount}`);
      if (new Set(voters).size !== voters.length) problems.push('a voter is named twice');
      if (new Set(returned.map((r) => r.party)).size !== returned.length)
        problems.push('a deposit is returned twice');
      for (const s of shares) {
        if (!voters.includes(s.party)) problems.push(`${s.party} gets a share but did not vote`);
        if (!accounts[s.party]) problems.push(`${s.party} gets a share but is not a member`);
      }
      for (const r of returned) {
        const voter = accounts[r.party];
        if (!voters.includes(r.party) || !voter || voter.inEscrow !== r.amount)
          problems.push(
            `${r.party} is given back ${r.amount} but holds ${voter?.inEscrow ?? 'nothing'} as a voter`,
          );
      }
      if (voters.includes(accused)) problems.push('the accused votes');
      if (problems.length) return withAnomaly(ledger, event, problems.join('; '));
      accounts[accused] = { ...victim!, inEscrow: ZERO, slashedAway: add(victim!.slashedAway, amount) };
      for (const s of shares)
        accounts[s.party] = {
          ...accounts[s.party]!,
          slashShares: add(accounts[s.party]!.slashShares, s.amount),
        };
      for (const r of returned)
        accounts[r.party] = {
          ...accounts[r.party]!,
          inEscrow: sub(accounts[r.party]!.inEscrow, r.amount),
          returned: add(accounts[r.party]!.returned, r.amount),
        };
      const next = { ...ledger, accounts, slashes: [...ledger.slashes, { accused, voters, amount, txId }] };
      return ledger.outcome === 'Premature'
        ? next
        : withAnomaly(next, event, `cohort is ${ledger.outcome}, not Premature`);
    }
    default:
      return ledger;
  }
};

/** Deposits, slashes, claims and refunds per cohort and party. */
export const escrowLedgerProjection: Projection<EscrowLedgerState> = {
  name: 'escrow-ledger',
  initial: { cohorts: {} },
  evolve(state, event) {
    if (!event.type.startsWith('l1.')) return state;
    const cohortId = (event.data as { cohortId: string }).cohortId;
    const before = state.cohorts[cohortId] ?? emptyCohort(cohortId);
    const after = evolveCohort(before, event);
    return after === before ? state : { cohorts: put(state.cohorts, cohortId, after) };
  },
};

export interface LedgerTotals {
  readonly deposited: bigint;
  readonly inEscrow: bigint;
  /** Everything that left escrow: claims, refunds, returned deposits and slash shares. */
  readonly paidOut: bigint;
}

export const ledgerTotals = (ledger: CohortLedger): LedgerTotals => {
  let deposited = 0n;
  let inEscrow = 0n;
  let paidOut = 0n;
  for (const a of Object.values(ledger.accounts)) {
    deposited += BigInt(a.deposited);
    inEscrow += BigInt(a.inEscrow);
    paidOut += BigInt(a.claimed) + BigInt(a.refunded) + BigInt(a.returned) + BigInt(a.slashShares);
  }
  return { deposited, inEscrow, paidOut };
};

/** The ledger balances: every lovelace deposited is either still in escrow or was paid out. */
export const ledgerBalances = (ledger: CohortLedger): boolean => {
  const t = ledgerTotals(ledger);
  return t.deposited === t.inEscrow + t.paidOut && t.inEscrow >= 0n;
};
