import { Data, type Lucid, type Tx, type UTxO } from 'lucid-cardano';
import { DmlError } from '../errors.js';
import {
  CohortRedeemer,
  KillVoteRedeemer,
  MembershipRedeemer,
  cohortDatum,
  escrowDatum,
  parseCohortDatum,
  parseEscrowDatum,
  type CohortPhase,
  type CohortState,
  type CohortTerms,
} from './cohort-data.js';
import type { CohortScripts } from './cohort-scripts.js';

/**
 * Transaction builders for every path of a cohort. Each returns an unbalanced lucid `Tx`; the
 * caller completes, signs and submits it (so that a caller can add to it, and tests can attack it).
 * The datums they write are exactly the ones the validators compute.
 */

const CLAIM = 0x63;
const KILL = 0x6b;
const SIGNAL = 0x73;
const tokenName = (prefix: number, pkh: string) => prefix.toString(16) + pkh;
export const partyTokenUnits = (s: CohortScripts, pkh: string) => ({
  claim: s.membershipPolicy + tokenName(CLAIM, pkh),
  kill: s.membershipPolicy + tokenName(KILL, pkh),
  signal: s.membershipPolicy + tokenName(SIGNAL, pkh),
});

export const readCohortState = (utxo: UTxO): CohortState => {
  if (!utxo.datum) throw new DmlError('NO_COHORT_DATUM', 'the cohort state output has no inline datum');
  return parseCohortDatum(utxo.datum);
};

export const findCohortState = async (lucid: Lucid, s: CohortScripts): Promise<UTxO> => {
  const utxos = await lucid.utxosAtWithUnit(s.stateAddress, s.cohortTokenUnit);
  const utxo = utxos[0];
  if (!utxo) throw new DmlError('NO_COHORT', `no cohort state output holds ${s.cohortTokenUnit}`);
  return utxo;
};

/**
 * Create a cohort: spend the seed, mint the cohort token into the initial state output, and
 * register the kill-vote script's reward account (a slash withdraws 0 from it, which the ledger
 * only allows from a registered account; the registration deposit stays with the account).
 */
export const createCohortTx = (lucid: Lucid, s: CohortScripts, seed: UTxO, terms: CohortTerms): Tx =>
  lucid
    .newTx()
    .collectFrom([seed])
    .registerStake(s.slashRewardAddress)
    .mintAssets({ [s.cohortTokenUnit]: 1n }, Data.void())
    .attachMintingPolicy(s.cohortToken)
    .payToContract(
      s.stateAddress,
      {
        inline: cohortDatum({
          cohortId: s.cohortId,
          membershipPolicy: s.membershipPolicy,
          terms,
          epoch: 0n,
          parties: [],
          members: [],
          phase: { kind: 'Open', round: 0n, aggregateHash: '' },
        }),
      },
      { [s.cohortTokenUnit]: 1n },
    );

/** Join: pay the deposit (with the new claim token) into escrow; the party's kill and signal tokens go to its wallet. */
export const joinTx = (
  lucid: Lucid,
  s: CohortScripts,
  stateUtxo: UTxO,
  party: { pkh: string; hydraVk: string; deposit: bigint },
): Tx => {
  const state = readCohortState(stateUtxo);
  const units = partyTokenUnits(s, party.pkh);
  const next: CohortState = {
    ...state,
    members: [{ pkh: party.pkh, hydraVk: party.hydraVk }, ...state.members],
  };
  return lucid
    .newTx()
    .collectFrom([stateUtxo], CohortRedeemer.join())
    .attachSpendingValidator(s.state)
    .mintAssets(
      { [units.claim]: 1n, [units.kill]: 1n, [units.signal]: 1n },
      MembershipRedeemer.join(party.pkh, party.hydraVk),
    )
    .attachMintingPolicy(s.membership)
    .payToContract(
      s.escrowAddress,
      { inline: escrowDatum(party.pkh, s.membershipPolicy) },
      { lovelace: party.deposit, [units.claim]: 1n },
    )
    .payToContract(s.stateAddress, { inline: cohortDatum(next) }, stateUtxo.assets)
    .addSignerKey(party.pkh);
};

/** First epoch: the members become the epoch's parties (signed by a member). */
export const startEpochTx = (lucid: Lucid, s: CohortScripts, stateUtxo: UTxO, signer: string): Tx => {
  const state = readCohortState(stateUtxo);
  const next: CohortState = { ...state, epoch: state.epoch + 1n, parties: state.members };
  return lucid
    .newTx()
    .collectFrom([stateUtxo], CohortRedeemer.startEpoch())
    .attachSpendingValidator(s.state)
    .payToContract(s.stateAddress, { inline: cohortDatum(next) }, stateUtxo.assets)
    .addSignerKey(signer);
};

/** The POSIX time a script sees as the upper bound of a transaction valid to `unixTime`. */
const scriptUpperBound = (lucid: Lucid, unixTime: number): bigint =>
  BigInt(lucid.utils.slotToUnixTime(lucid.utils.unixTimeToSlot(unixTime)));

export interface SignedTrainingSnapshot {
  readonly round: bigint;
  readonly aggregateHash: string;
  /** One Hydra-key signature per party of the epoch, in the order of the datum's parties. */
  readonly signatures: readonly string[];
}

/** Close with a training snapshot signed by every party; the deadline is validTo + contestation period. */
export const closeTx = (
  lucid: Lucid,
  s: CohortScripts,
  stateUtxo: UTxO,
  snapshot: SignedTrainingSnapshot,
  closer: string,
  validTo: number,
): Tx => {
  const state = readCohortState(stateUtxo);
  const deadline = scriptUpperBound(lucid, validTo) + state.terms.contestationPeriod;
  const next: CohortState = {
    ...state,
    phase: { kind: 'Closed', round: snapshot.round, aggregateHash: snapshot.aggregateHash, deadline, closer },
  };
  return lucid
    .newTx()
    .collectFrom(
      [stateUtxo],
      CohortRedeemer.close(snapshot.round, snapshot.aggregateHash, snapshot.signatures, closer),
    )
    .attachSpendingValidator(s.state)
    .payToContract(s.stateAddress, { inline: cohortDatum(next) }, stateUtxo.assets)
    .addSignerKey(closer)
    .validTo(validTo);
};

/** Contest with a newer snapshot before the deadline. */
export const contestTx = (
  lucid: Lucid,
  s: CohortScripts,
  stateUtxo: UTxO,
  snapshot: SignedTrainingSnapshot,
  validTo: number,
): Tx => {
  const state = readCohortState(stateUtxo);
  if (state.phase.kind !== 'Closed')
    throw new DmlError('NOT_CLOSED', 'only a closed cohort can be contested');
  const next: CohortState = {
    ...state,
    phase: { ...state.phase, round: snapshot.round, aggregateHash: snapshot.aggregateHash },
  };
  return lucid
    .newTx()
    .collectFrom(
      [stateUtxo],
      CohortRedeemer.contest(snapshot.round, snapshot.aggregateHash, snapshot.signatures),
    )
    .attachSpendingValidator(s.state)
    .payToContract(s.stateAddress, { inline: cohortDatum(next) }, stateUtxo.assets)
    .validTo(validTo);
};

/** The state after Finalize: Completed, the next epoch, or Premature (mirrors the validator). */
export const finalizedState = (state: CohortState): CohortState => {
  const phase = state.phase;
  if (phase.kind !== 'Closed') throw new DmlError('NOT_CLOSED', 'only a closed cohort can be finalized');
  if (phase.round >= state.terms.finalRound) {
    return { ...state, phase: { kind: 'Completed', round: phase.round, aggregateHash: phase.aggregateHash } };
  }
  if (phase.round % state.terms.epochRounds === 0n) {
    const open: CohortPhase = { kind: 'Open', round: phase.round, aggregateHash: phase.aggregateHash };
    return { ...state, epoch: state.epoch + 1n, parties: state.members, phase: open };
  }
  return {
    ...state,
    phase: { kind: 'Premature', votingDeadline: phase.deadline + state.terms.votingWindow },
  };
};

/** Finalize after the deadline (validFrom must be after it). */
export const finalizeTx = (lucid: Lucid, s: CohortScripts, stateUtxo: UTxO, validFrom: number): Tx =>
  lucid
    .newTx()
    .collectFrom([stateUtxo], CohortRedeemer.finalize())
    .attachSpendingValidator(s.state)
    .payToContract(
      s.stateAddress,
      { inline: cohortDatum(finalizedState(readCohortState(stateUtxo))) },
      stateUtxo.assets,
    )
    .validFrom(validFrom);

/** Claim (Completed): the owner takes its deposit back and burns its claim token. */
export const claimTx = (lucid: Lucid, s: CohortScripts, stateUtxo: UTxO, escrow: UTxO): Tx =>
  withdrawTx(lucid, s, stateUtxo, escrow, MembershipRedeemer.claim());

/** Refund (Premature, voting window over): the owner takes its deposit back and burns its claim token. */
export const refundTx = (
  lucid: Lucid,
  s: CohortScripts,
  stateUtxo: UTxO,
  escrow: UTxO,
  validFrom: number,
): Tx => withdrawTx(lucid, s, stateUtxo, escrow, MembershipRedeemer.refund()).validFrom(validFrom);

const withdrawTx = (lucid: Lucid, s: CohortScripts, stateUtxo: UTxO, escrow: UTxO, redeemer: string): Tx => {
  const { owner } = parseEscrowDatum(escrow.datum ?? '');
  const units = partyTokenUnits(s, owner);
  return lucid
    .newTx()
    .readFrom([stateUtxo])
    .collectFrom([escrow], Data.void())
    .attachSpendingValidator(s.escrow)
    .mintAssets({ [units.claim]: -1n }, redeemer)
    .attachMintingPolicy(s.membership)
    .payToAddress(ownerAddress(lucid, owner), { lovelace: escrow.assets['lovelace'] ?? 0n })
    .addSignerKey(owner);
};

export const ownerAddress = (lucid: Lucid, pkh: string): string =>
  lucid.utils.credentialToAddress({ type: 'Key', hash: pkh });

/**
 * Vote and slash (Premature, within the voting window): every voter burns its kill and claim
 * tokens and signs; the accused's claim token is burnt; each voter gets its deposit back plus an
 * equal share of the accused's deposit. The vote is checked by the kill-vote script, run by a zero
 * withdrawal from its reward account (registered by `createCohortTx`).
 */
export const slashTx = (
  lucid: Lucid,
  s: CohortScripts,
  stateUtxo: UTxO,
  accusedEscrow: UTxO,
  voterEscrows: readonly UTxO[],
  killInputs: readonly UTxO[],
  validTo: number,
): Tx => {
  const accused = parseEscrowDatum(accusedEscrow.datum ?? '').owner;
  const share = (accusedEscrow.assets['lovelace'] ?? 0n) / BigInt(voterEscrows.length);
  const burn: Record<string, bigint> = { [partyTokenUnits(s, accused).claim]: -1n };
  let tx = lucid
    .newTx()
    .readFrom([stateUtxo])
    .collectFrom([accusedEscrow, ...voterEscrows], Data.void())
    .collectFrom([...killInputs])
    .attachSpendingValidator(s.escrow);
  for (const escrow of voterEscrows) {
    const voter = parseEscrowDatum(escrow.datum ?? '').owner;
    const units = partyTokenUnits(s, voter);
    burn[units.claim] = -1n;
    burn[units.kill] = -1n;
    tx = tx
      .payToAddress(ownerAddress(lucid, voter), { lovelace: (escrow.assets['lovelace'] ?? 0n) + share })
      .addSignerKey(voter);
  }
  return tx
    .mintAssets(burn, MembershipRedeemer.slash(accused))
    .attachMintingPolicy(s.membership)
    .withdraw(s.slashRewardAddress, 0n, KillVoteRedeemer.vote(accused, s.membershipPolicy))
    .attachWithdrawalValidator(s.slash)
    .validTo(validTo);
};
