import { Constr, Data, type UTxO } from 'lucid-cardano';
import { type ChainTx, type ReadChainTx, readChainTx } from './chain-tx.js';
import { type CohortState, parseCohortDatum, parseEscrowDatum } from './cohort-data.js';
import type { CohortScripts } from './cohort-scripts.js';
import { partyTokenUnits } from './cohort-tx.js';

/**
 * A layer-1 transition of one cohort, as the chain shows it (never as a party says it was):
 * what the follower derives from the state output's datum before and after a transaction, the
 * escrow outputs it spends and creates, and the tokens it mints and burns.
 */
export type CohortTransition = { readonly txId: string; readonly slot: number } & (
  | { readonly kind: 'created'; readonly state: CohortState }
  | { readonly kind: 'joined'; readonly party: string; readonly hydraKey: string; readonly deposit: bigint }
  | { readonly kind: 'epochStarted'; readonly epoch: number; readonly parties: readonly string[] }
  | {
      readonly kind: 'closed' | 'contested';
      readonly epoch: number;
      readonly round: number;
      readonly aggregateHash: string;
      /** The closer the datum records (close), or the required signers (contest). */
      readonly by: readonly string[];
      readonly deadline: number;
      /** The training snapshot's signatures the redeemer carried. */
      readonly signatures: readonly string[];
    }
  | {
      readonly kind: 'finalized';
      readonly epoch: number;
      readonly outcome: 'Completed' | 'NextEpoch' | 'Premature';
      /** A scheduled close finalized into the next epoch starts it: its number and parties. */
      readonly next?: { readonly epoch: number; readonly parties: readonly string[] };
    }
  | {
      readonly kind: 'slashed';
      readonly accused: string;
      readonly voters: readonly string[];
      readonly amount: bigint;
      /** Each voter's own deposit, spent from escrow by the same transaction. */
      readonly returned: ReadonlyArray<{ party: string; amount: bigint }>;
    }
  | { readonly kind: 'claimed' | 'refunded'; readonly party: string; readonly amount: bigint }
  | { readonly kind: 'unexplained'; readonly reason: string }
);

interface Escrow {
  readonly owner: string;
  readonly lovelace: bigint;
}

/**
 * Follows one cohort through a chain's transactions in block order (a pure fold over them):
 * each transaction that spends or creates the cohort's state output or one of its escrow outputs
 * becomes one `CohortTransition`. A transaction that touches them in a way the contracts do not
 * allow (which a validating ledger would never have accepted) becomes `unexplained`.
 */
export const followCohort = (history: Iterable<ChainTx>, scripts: CohortScripts): CohortTransition[] => {
  const transitions: CohortTransition[] = [];
  let state: { ref: string; state: CohortState } | undefined;
  const escrows = new Map<string, Escrow>();
  for (const chainTx of history) {
    const tx = readChainTx(chainTx);
    const spentState = state !== undefined && tx.inputs.includes(state.ref) ? state : undefined;
    const spentEscrows = tx.inputs.flatMap((ref) => {
      const e = escrows.get(ref);
      return e ? [{ ref, ...e }] : [];
    });
    const newStateOut = tx.outputs.find(
      (o) => o.address === scripts.stateAddress && (o.assets[scripts.cohortTokenUnit] ?? 0n) > 0n,
    );
    const newEscrows = tx.outputs.flatMap((o) => {
      const escrow = escrowOf(o, scripts);
      return escrow ? [{ ref: `${o.txHash}#${o.outputIndex}`, ...escrow }] : [];
    });
    if (!spentState && !newStateOut && spentEscrows.length === 0 && newEscrows.length === 0) continue;
    const at = { txId: tx.txId, slot: tx.slot };
    const after = newStateOut?.datum ? safeParse(newStateOut.datum) : undefined;
    const transition = classify(
      tx,
      scripts,
      spentState?.state ?? state?.state,
      after,
      spentState !== undefined,
      {
        spent: spentEscrows,
        created: newEscrows,
      },
    );
    transitions.push({ ...at, ...transition } as CohortTransition);
    if (newStateOut && after)
      state = { ref: `${newStateOut.txHash}#${newStateOut.outputIndex}`, state: after };
    for (const e of spentEscrows) escrows.delete(e.ref);
    for (const e of newEscrows) escrows.set(e.ref, { owner: e.owner, lovelace: e.lovelace });
  }
  return transitions;
};

type Body = DistributiveOmit<CohortTransition, 'txId' | 'slot'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

const classify = (
  tx: ReadChainTx,
  scripts: CohortScripts,
  before: CohortState | undefined,
  after: CohortState | undefined,
  spentState: boolean,
  escrows: {
    spent: ReadonlyArray<{ ref: string } & Escrow>;
    created: ReadonlyArray<{ ref: string } & Escrow>;
  },
): Body => {
  const unexplained = (reason: string): Body => ({ kind: 'unexplained', reason });
  if (!spentState) {
    if (after && (tx.minted[scripts.cohortTokenUnit] ?? 0n) === 1n && before === undefined)
      return { kind: 'created', state: after };
    if (after) return unexplained('a cohort state output appeared without its creation');
    if (escrows.created.length > 0) return unexplained('a deposit reached escrow without a join');
    // Escrow spends without the state output: slash, claim or refund.
    if (!before) return unexplained('escrow spent before the cohort exists');
    const burntKill = (pkh: string) => (tx.minted[partyTokenUnits(scripts, pkh).kill] ?? 0n) < 0n;
    const voters = escrows.spent.filter((e) => burntKill(e.owner));
    if (voters.length > 0) {
      const accused = escrows.spent.filter((e) => !burntKill(e.owner));
      if (accused.length !== 1) return unexplained(`a kill vote spends ${accused.length} accused deposits`);
      return {
        kind: 'slashed',
        accused: accused[0]!.owner,
        voters: voters.map((v) => v.owner),
        amount: accused[0]!.lovelace,
        returned: voters.map((v) => ({ party: v.owner, amount: v.lovelace })),
      };
    }
    if (escrows.spent.length !== 1)
      return unexplained(`${escrows.spent.length} deposits leave escrow at once`);
    const [e] = escrows.spent;
    if (before.phase.kind === 'Completed') return { kind: 'claimed', party: e!.owner, amount: e!.lovelace };
    if (before.phase.kind === 'Premature') return { kind: 'refunded', party: e!.owner, amount: e!.lovelace };
    return unexplained(`a deposit left escrow while the cohort is ${before.phase.kind}`);
  }
  if (!before || !after) return unexplained('the cohort state output was spent without a successor');
  const epoch = Number(before.epoch);
  if (after.members.length > before.members.length) {
    const joined = after.members.find((m) => !before.members.some((b) => b.pkh === m.pkh));
    const deposit = escrows.created.find((e) => e.owner === joined?.pkh);
    if (!joined || !deposit) return unexplained('a member was added without its deposit');
    return { kind: 'joined', party: joined.pkh, hydraKey: joined.hydraVk, deposit: deposit.lovelace };
  }
  if (before.phase.kind === 'Open' && after.phase.kind === 'Closed') {
    const close = closeRedeemerOf(tx);
    return {
      kind: 'closed',
      epoch,
      round: Number(after.phase.round),
      aggregateHash: after.phase.aggregateHash,
      by: [after.phase.closer],
      deadline: Number(after.phase.deadline),
      signatures: close?.signatures ?? [],
    };
  }
  if (before.phase.kind === 'Closed' && after.phase.kind === 'Closed') {
    const contest = closeRedeemerOf(tx);
    return {
      kind: 'contested',
      epoch,
      round: Number(after.phase.round),
      aggregateHash: after.phase.aggregateHash,
      by: tx.requiredSigners,
      deadline: Number(after.phase.deadline),
      signatures: contest?.signatures ?? [],
    };
  }
  if (before.phase.kind === 'Closed') {
    const outcome =
      after.phase.kind === 'Completed'
        ? 'Completed'
        : after.phase.kind === 'Premature'
          ? 'Premature'
          : 'NextEpoch';
    return outcome === 'NextEpoch'
      ? {
          kind: 'finalized',
          epoch,
          outcome,
          next: { epoch: Number(after.epoch), parties: after.parties.map((p) => p.pkh) },
        }
      : { kind: 'finalized', epoch, outcome };
  }
  if (after.epoch > before.epoch)
    return { kind: 'epochStarted', epoch: Number(after.epoch), parties: after.parties.map((p) => p.pkh) };
  return unexplained(
    `the state went from ${before.phase.kind} to ${after.phase.kind} with nothing to show for it`,
  );
};

/** The signatures in the Close or Contest redeemer of the state input (empty when unreadable). */
const closeRedeemerOf = (tx: ReadChainTx): { signatures: string[] } | undefined => {
  for (const r of tx.redeemers) {
    if (r.tag !== 'spend') continue;
    try {
      const data = Data.from(r.data);
      if (!(data instanceof Constr) || (data.index !== 2 && data.index !== 3)) continue;
      const signatures = data.fields[2];
      if (Array.isArray(signatures) && signatures.every((s) => typeof s === 'string'))
        return { signatures: signatures as string[] };
    } catch {
      // not a cohort redeemer
    }
  }
  return undefined;
};

const escrowOf = (o: UTxO, scripts: CohortScripts): Escrow | undefined => {
  if (o.address !== scripts.escrowAddress || !o.datum) return undefined;
  try {
    const d = parseEscrowDatum(o.datum);
    return d.membershipPolicy === scripts.membershipPolicy
      ? { owner: d.owner, lovelace: o.assets['lovelace'] ?? 0n }
      : undefined;
  } catch {
    return undefined;
  }
};

const safeParse = (datum: string): CohortState | undefined => {
  try {
    return parseCohortDatum(datum);
  } catch {
    return undefined;
  }
};
