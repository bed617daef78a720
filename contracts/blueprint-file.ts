// The blueprint as a file: its shape, its definitions and reading it. No compiler here (plu-ts is
// slow to load and nothing at run time needs it): building it is blueprint.ts.
import { readFileSync } from 'node:fs';

/** A CIP-57 blueprint (the subset we write): https://cips.cardano.org/cip/CIP-0057 */
export interface Blueprint {
  readonly preamble: {
    readonly title: string;
    readonly description: string;
    readonly version: string;
    readonly plutusVersion: 'v2';
    readonly compiler: { readonly name: string; readonly version: string };
    readonly license: string;
  };
  readonly validators: readonly BlueprintValidator[];
  readonly definitions: Readonly<Record<string, Schema>>;
}

export interface BlueprintValidator {
  readonly title: string;
  readonly description: string;
  readonly datum?: { readonly title: string; readonly schema: Schema };
  readonly redeemer: { readonly title: string; readonly schema: Schema };
  readonly parameters?: readonly { readonly title: string; readonly schema: Schema }[];
  readonly compiledCode: string;
  readonly hash: string;
}

export type Schema = Readonly<Record<string, unknown>>;

const ref = (name: string): Schema => ({ $ref: `#/definitions/${name}` });
const bytes = (title: string): Schema => ({ title, dataType: 'bytes' });
const integer = (title: string): Schema => ({ title, dataType: 'integer' });
const constr = (title: string, index: number, fields: Schema[]): Schema => ({
  title,
  dataType: 'constructor',
  index,
  fields,
});
const anyOf = (title: string, options: Schema[]): Schema => ({ title, anyOf: options });

/** Datum and redeemer shapes, one definition each (see design_docs/contracts.md). */
export const DEFINITIONS: Readonly<Record<string, Schema>> = {
  ByteArray: { dataType: 'bytes' },
  Int: { dataType: 'integer' },
  Data: { title: 'Data', description: 'Any Plutus data' },
  OutputReference: constr('OutputReference', 0, [
    { title: 'transactionId', ...constr('TransactionId', 0, [bytes('hash')]) },
    integer('outputIndex'),
  ]),
  Party: constr('Party', 0, [bytes('pkh'), bytes('hydraVk')]),
  Terms: constr('Terms', 0, [
    integer('minDeposit'),
    integer('contestationPeriod'),
    integer('finalRound'),
    integer('epochRounds'),
    integer('votingWindow'),
  ]),
  Phase: anyOf('Phase', [
    constr('Open', 0, [integer('round'), bytes('aggregateHash')]),
    constr('Closed', 1, [integer('round'), bytes('aggregateHash'), integer('deadline'), bytes('closer')]),
    constr('Completed', 2, [integer('round'), bytes('aggregateHash')]),
    constr('Premature', 3, [integer('votingDeadline')]),
  ]),
  CohortDatum: constr('CohortDatum', 0, [
    bytes('cohortId'),
    bytes('membershipPolicy'),
    { title: 'terms', ...ref('Terms') },
    integer('epoch'),
    { title: 'parties', dataType: 'list', items: ref('Party') },
    { title: 'members', dataType: 'list', items: ref('Party') },
    { title: 'phase', ...ref('Phase') },
  ]),
  CohortRedeemer: anyOf('CohortRedeemer', [
    constr('Join', 0, []),
    constr('StartEpoch', 1, []),
    constr('Close', 2, [
      integer('round'),
      bytes('aggregateHash'),
      { title: 'signatures', dataType: 'list', items: ref('ByteArray') },
      bytes('closer'),
    ]),
    constr('Contest', 3, [
      integer('round'),
      bytes('aggregateHash'),
      { title: 'signatures', dataType: 'list', items: ref('ByteArray') },
    ]),
    constr('Finalize', 4, []),
  ]),
  EscrowDatum: constr('EscrowDatum', 0, [bytes('owner'), bytes('membershipPolicy')]),
  MembershipRedeemer: anyOf('MembershipRedeemer', [
    constr('Join', 0, [bytes('pkh'), bytes('hydraVk')]),
    constr('Claim', 1, []),
    constr('Refund', 2, []),
    constr('Slash', 3, [bytes('accused')]),
  ]),
  KillVote: constr('KillVote', 0, [bytes('accused'), bytes('membershipPolicy')]),
  TrainingSnapshot: constr('TrainingSnapshot', 0, [
    bytes('cohortId'),
    integer('epoch'),
    integer('round'),
    bytes('aggregateHash'),
  ]),
};

export const VALIDATOR_TITLES = {
  cohortToken: 'cohort_token.mint',
  cohortState: 'cohort_state.spend',
  membership: 'membership.mint',
  escrow: 'escrow.spend',
  slash: 'slash.withdraw',
} as const;

export const BLUEPRINT_URL = new URL('./plutus.json', import.meta.url);

/** The committed blueprint (contracts/plutus.json). Tests and builders use this; they never recompile. */
export const loadBlueprint = (): Blueprint => JSON.parse(readFileSync(BLUEPRINT_URL, 'utf8')) as Blueprint;

export const validatorOf = (blueprint: Blueprint, title: string): BlueprintValidator => {
  const v = blueprint.validators.find((x) => x.title === title);
  if (!v) throw new Error(`blueprint has no validator ${title}`);
  return v;
};

export const serializeBlueprint = (blueprint: Blueprint): string => JSON.stringify(blueprint, null, 2) + '\n';
