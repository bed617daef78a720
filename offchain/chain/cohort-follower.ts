import { Constr, Data, type UTxO } from 'lucid-cardano';
import { type ChainTx, type ReadChainTx, readChainTx } from './chain-tx.js';
import { type CohortState, parseCohortDatum, parseEscrowDatum } from './cohort-data.js';
import { type CohortTrainingParamsOnChain, readCohortParamsMetadata } from './cohort-params-metadata.js';
import type { CohortScripts } from './cohort-scripts.js';
import { finalizedState, partyTokenUnits } from './cohort-tx.js';

/**
 * A layer-1 transition of one cohort, as the chain shows it (never as a party says it was):
 * what the follower derives from the state output's datum before and after a transaction, the
 * escrow outputs it spends and creates, and the tokens it mints and burns.
 */
export type CohortTransition = { readonly txId: string; readonly slot: number } & (
  | {
      readonly kind: 'created';
      readonly state: CohortState;
      /** Who signed the creation (its first vkey witness: the seed's owner). */
      readonly creator: string | undefined;
      /** The training parameters the creation carried as metadata, if it did. */
      readonly params: CohortTrainingParamsOnChain | undefined;
    }
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
      /** A close at an epoch boundary before the final round (the terms say so). */
      readonly scheduled: boolean;
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
    const transition = classify(tx, scripts, spentState?.state ?? state?.state, after, spentState?.ref, {
      spent: spentEscrows,
      created: newEscrows,
    });
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
  /** The state input's out-ref when the transaction spends it. */
  stateRef: string | undefined,
  escrows: {
    spent: ReadonlyArray<{ ref: string } & Escrow>;
    created: ReadonlyArray<{ ref: string } & Escrow>;
  },
): Body => {
  const unexplained = (reason: string): Body => ({ kind: 'unexplained', reason });
  if (stateRef === undefined) {
    if (after && (tx.minted[scripts.cohortTokenUnit] ?? 0n) === 1n && before === undefined)
      return {
        kind: 'created',
        state: after,
        creator: tx.witnesses[0],
        params: readCohortParamsMetadata(tx.metadata),
      };
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
  const redeemer = stateRedeemerOf(tx, stateRef);
  if (redeemer === undefined) return classifyByDiff(tx, before, after, escrows);
  const epoch = Number(before.epoch);
  const unchanged = (what: string, keys: ReadonlyArray<keyof CohortState>): Body | undefined => {
    const changed = keys.filter((k) => canonical(before[k]) !== canonical(after[k]));
    return changed.length === 0
      ? undefined
      : unexplained(`a ${what} that also changes the cohort's ${changed.join(' and ')}`);
  };
  switch (redeemer.index) {
    case STATE_REDEEMER.join: {
      const wrong = unchanged('Join', ['terms', 'epoch', 'parties', 'phase']);
      if (wrong) return wrong;
      const added = after.members.filter((m) => !before.members.some((b) => b.pkh === m.pkh));
      const kept = before.members.every((b) => after.members.some((m) => canonical(m) === canonical(b)));
      if (added.length !== 1 || !kept || after.members.length !== before.members.length + 1)
        return unexplained(
          `a Join that adds ${added.length} members and keeps ${kept ? 'all' : 'not all'} others`,
        );
      const joined = added[0]!;
      const deposit = escrows.created.find((e) => e.owner === joined.pkh);
      if (!deposit) return unexplained('a member was added without its deposit');
      return { kind: 'joined', party: joined.pkh, hydraKey: joined.hydraVk, deposit: deposit.lovelace };
    }
    case STATE_REDEEMER.startEpoch: {
      const expected: CohortState = { ...before, epoch: before.epoch + 1n, parties: before.members };
      if (canonical(expected) !== canonical(after))
        return unexplained("a StartEpoch whose new state is not the members as the next epoch's parties");
      return { kind: 'epochStarted', epoch: Number(after.epoch), parties: after.parties.map((p) => p.pkh) };
    }
    case STATE_REDEEMER.close:
    case STATE_REDEEMER.contest: {
      const closing = redeemer.index === STATE_REDEEMER.close;
      const name = closing ? 'Close' : 'Contest';
      const wrong = unchanged(name, ['terms', 'epoch', 'members', 'parties']);
      if (wrong) return wrong;
      if (before.phase.kind !== (closing ? 'Open' : 'Closed') || after.phase.kind !== 'Closed')
        return unexplained(
          `a ${name} that takes the cohort from ${before.phase.kind} to ${after.phase.kind}`,
        );
      const round = after.phase.round;
      const common = {
        epoch,
        round: Number(round),
        aggregateHash: after.phase.aggregateHash,
        deadline: Number(after.phase.deadline),
        signatures: redeemer.signatures ?? [],
        scheduled: round % before.terms.epochRounds === 0n && round < before.terms.finalRound,
      };
      return closing
        ? { kind: 'closed', ...common, by: [after.phase.closer] }
        : { kind: 'contested', ...common, by: tx.requiredSigners };
    }
    case STATE_REDEEMER.finalize: {
      if (before.phase.kind !== 'Closed')
        return unexplained(`a Finalize of a cohort that is ${before.phase.kind}, not Closed`);
      if (canonical(finalizedState(before)) !== canonical(after))
        return unexplained(
          `a Finalize whose new state is not what the close decides (${describeChange(before, after)})`,
        );
      return finalizedOf(before, after);
    }
    default:
      return unexplained(`the state was spent with an unknown redeemer (constructor ${redeemer.index})`);
  }
};

/** What a Finalize ended in, and the next epoch it started when it was a scheduled close. */
const finalizedOf = (before: CohortState, after: CohortState): Body => {
  const epoch = Number(before.epoch);
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
};

/**
 * A state spend whose redeemer cannot be read (not a cohort redeemer): classified by what changed
 * in the datum, as the follower did before it read redeemers. Kept so that an odd transaction is
 * still named; a validating ledger only accepts the cohort's own redeemers.
 */
const classifyByDiff = (
  tx: ReadChainTx,
  before: CohortState,
  after: CohortState,
  escrows: { created: ReadonlyArray<{ ref: string } & Escrow> },
): Body => {
  const unexplained = (reason: string): Body => ({ kind: 'unexplained', reason });
  if (after.members.length > before.members.length) {
    const joined = after.members.find((m) => !before.members.some((b) => b.pkh === m.pkh));
    const deposit = escrows.created.find((e) => e.owner === joined?.pkh);
    if (!joined || !deposit) return unexplained('a member was added without its deposit');
    return { kind: 'joined', party: joined.pkh, hydraKey: joined.hydraVk, deposit: deposit.lovelace };
  }
  if (before.phase.kind === 'Closed' && after.phase.kind !== 'Closed') return finalizedOf(before, after);
  if (after.epoch > before.epoch)
    return { kind: 'epochStarted', epoch: Number(after.epoch), parties: after.parties.map((p) => p.pkh) };
  return unexplained(
    `the state went from ${before.phase.kind} to ${after.phase.kind} (redeemer unreadable, ${tx.redeemers.length} redeemers)`,
  );
};

/** Constructor indexes of the cohort state validator's redeemer (cohort-data.ts `CohortRedeemer`). */
const STATE_REDEEMER = { join: 0, startEpoch: 1, close: 2, contest: 3, finalize: 4 } as const;

/**
 * The redeemer of the state input: the spend redeemer whose index is the state input's place in
 * the transaction's (sorted) inputs. Other spend redeemers (escrow inputs) are not the state's,
 * whatever their constructor. Close and Contest carry the snapshot's signatures.
 */
export const stateRedeemerOf = (
  tx: ReadChainTx,
  stateRef: string,
): { index: number; signatures?: string[] } | undefined => {
  const at = tx.inputs.indexOf(stateRef);
  const r = tx.redeemers.find((x) => x.tag === 'spend' && x.index === at);
  if (at < 0 || !r) return undefined;
  try {
    const data = Data.from(r.data);
    if (!(data instanceof Constr)) return undefined;
    if (data.index !== STATE_REDEEMER.close && data.index !== STATE_REDEEMER.contest)
      return { index: data.index };
    const signatures = data.fields[2];
    return Array.isArray(signatures) && signatures.every((s) => typeof s === 'string')
      ? { index: data.index, signatures: signatures as string[] }
      : { index: data.index };
  } catch {
    return undefined;
  }
};

/** A datum value in one comparable string (bigints as decimal). */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

const describeChange = (before: CohortState, after: CohortState): string => {
  const keys = (Object.keys(after) as Array<keyof CohortState>).filter(
    (k) => canonical(before[k]) !== canonical(after[k]),
  );
  return `it changes ${keys.join(', ') || 'nothing'}`;
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
