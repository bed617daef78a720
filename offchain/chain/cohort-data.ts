import { ed25519Sign } from '../ed25519.js';
import { trainingSnapshotMessage } from '../round/index.js';
import { Constr, Data, type OutRef } from 'lucid-cardano';

/** The cohort's agreed terms, recorded in its state datum (times in POSIX milliseconds). */
export interface CohortTerms {
  readonly minDeposit: bigint;
  readonly contestationPeriod: bigint;
  readonly finalRound: bigint;
  readonly epochRounds: bigint;
  readonly votingWindow: bigint;
}

export interface CohortParty {
  readonly pkh: string;
  readonly hydraVk: string;
}

export type CohortPhase =
  | { readonly kind: 'Open'; readonly round: bigint; readonly aggregateHash: string }
  | {
      readonly kind: 'Closed';
      readonly round: bigint;
      readonly aggregateHash: string;
      readonly deadline: bigint;
      readonly closer: string;
    }
  | { readonly kind: 'Completed'; readonly round: bigint; readonly aggregateHash: string }
  | { readonly kind: 'Premature'; readonly votingDeadline: bigint };

export interface CohortState {
  readonly cohortId: string;
  readonly membershipPolicy: string;
  readonly terms: CohortTerms;
  readonly epoch: bigint;
  readonly parties: readonly CohortParty[];
  readonly members: readonly CohortParty[];
  readonly phase: CohortPhase;
}

const partyData = (p: CohortParty) => new Constr(0, [p.pkh, p.hydraVk]);

const phaseData = (phase: CohortPhase): Constr<Data> => {
  switch (phase.kind) {
    case 'Open':
      return new Constr(0, [phase.round, phase.aggregateHash]);
    case 'Closed':
      return new Constr(1, [phase.round, phase.aggregateHash, phase.deadline, phase.closer]);
    case 'Completed':
      return new Constr(2, [phase.round, phase.aggregateHash]);
    case 'Premature':
      return new Constr(3, [phase.votingDeadline]);
  }
};

/** CohortDatum as CBOR hex (see design_docs/contracts.md). */
export const cohortDatum = (s: CohortState): string =>
  Data.to(
    new Constr(0, [
      s.cohortId,
      s.membershipPolicy,
      new Constr(0, [
        s.terms.minDeposit,
        s.terms.contestationPeriod,
        s.terms.finalRound,
        s.terms.epochRounds,
        s.terms.votingWindow,
      ]),
      s.epoch,
      s.parties.map(partyData),
      s.members.map(partyData),
      phaseData(s.phase),
    ]),
  );

const asConstr = (d: Data): Constr<Data> => {
  if (!(d instanceof Constr)) throw new Error('cohort datum: expected a constructor');
  return d;
};
const asParty = (d: Data): CohortParty => {
  const c = asConstr(d);
  return { pkh: c.fields[0] as string, hydraVk: c.fields[1] as string };
};

export const parseCohortDatum = (cbor: string): CohortState => {
  const c = asConstr(Data.from(cbor));
  const [cohortId, membershipPolicy, terms, epoch, parties, members, phase] = c.fields;
  const t = asConstr(terms!).fields as bigint[];
  const p = asConstr(phase!);
  const f = p.fields;
  const parsedPhase: CohortPhase =
    p.index === 0
      ? { kind: 'Open', round: f[0] as bigint, aggregateHash: f[1] as string }
      : p.index === 1
        ? {
            kind: 'Closed',
            round: f[0] as bigint,
            aggregateHash: f[1] as string,
            deadline: f[2] as bigint,
            closer: f[3] as string,
          }
        : p.index === 2
          ? { kind: 'Completed', round: f[0] as bigint, aggregateHash: f[1] as string }
          : { kind: 'Premature', votingDeadline: f[0] as bigint };
  return {
    cohortId: cohortId as string,
    membershipPolicy: membershipPolicy as string,
    terms: {
      minDeposit: t[0]!,
      contestationPeriod: t[1]!,
      finalRound: t[2]!,
      epochRounds: t[3]!,
      votingWindow: t[4]!,
    },
    epoch: epoch as bigint,
    parties: (parties as Data[]).map(asParty),
    members: (members as Data[]).map(asParty),
    phase: parsedPhase,
  };
};

export const escrowDatum = (owner: string, membershipPolicy: string): string =>
  Data.to(new Constr(0, [owner, membershipPolicy]));

export const parseEscrowDatum = (cbor: string): { owner: string; membershipPolicy: string } => {
  const c = asConstr(Data.from(cbor));
  return { owner: c.fields[0] as string, membershipPolicy: c.fields[1] as string };
};

export const outRefData = (ref: OutRef): Constr<Data> =>
  new Constr(0, [new Constr(0, [ref.txHash]), BigInt(ref.outputIndex)]);

/** Membership redeemers. */
export const MembershipRedeemer = {
  join: (pkh: string, hydraVk: string) => Data.to(new Constr(0, [pkh, hydraVk])),
  claim: () => Data.to(new Constr(1, [])),
  refund: () => Data.to(new Constr(2, [])),
  slash: (accused: string) => Data.to(new Constr(3, [accused])),
};

/** Redeemer of the kill-vote withdrawal script: the accused and the membership policy voted with. */
export const KillVoteRedeemer = {
  vote: (accused: string, membershipPolicy: string) => Data.to(new Constr(0, [accused, membershipPolicy])),
};

/** Cohort state redeemers. */
export const CohortRedeemer = {
  join: () => Data.to(new Constr(0, [])),
  startEpoch: () => Data.to(new Constr(1, [])),
  close: (round: bigint, aggregateHash: string, signatures: readonly string[], closer: string) =>
    Data.to(new Constr(2, [round, aggregateHash, [...signatures], closer])),
  contest: (round: bigint, aggregateHash: string, signatures: readonly string[]) =>
    Data.to(new Constr(3, [round, aggregateHash, [...signatures]])),
  finalize: () => Data.to(new Constr(4, [])),
};

/** Ed25519 signature (hex) of a training snapshot with a Hydra signing key seed (32 bytes). */
export const signTrainingSnapshot = (
  hydraSigningKey: Uint8Array,
  s: { cohortId: string; epoch: bigint | number; round: bigint | number; aggregateHash: string },
): string =>
  Buffer.from(
    ed25519Sign(
      hydraSigningKey,
      trainingSnapshotMessage({ ...s, epoch: Number(s.epoch), round: Number(s.round) }),
    ),
  ).toString('hex');
