import { readFileSync } from 'node:fs';
import { cohortStateValidator } from './cohort-state.js';
import { cohortTokenPolicy } from './cohort-token.js';
import { compileV2 } from './compile-v2.js';
import { escrowValidator } from './escrow.js';
import { membershipPolicy } from './membership.js';
import { slashValidator } from './slash.js';

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

/** Compile every validator (slow: tens of seconds) and assemble the blueprint. */
export const buildBlueprint = (): Blueprint => {
  const token = compileV2(cohortTokenPolicy());
  const state = compileV2(cohortStateValidator());
  const membership = compileV2(membershipPolicy());
  const escrow = compileV2(escrowValidator());
  const slash = compileV2(slashValidator());
  return {
    preamble: {
      title: 'qlora-dml/contracts',
      description:
        'Escrow, membership (join) policy, cohort token and head close validators of a qLoRA-DML cohort',
      version: '0.1.0',
      plutusVersion: 'v2',
      compiler: { name: 'plu-ts', version: '0.9.0' },
      license: 'Apache-2.0',
    },
    validators: [
      {
        title: VALIDATOR_TITLES.cohortToken,
        description: 'One-shot cohort token: minted once, into a valid initial cohort state output',
        redeemer: { title: 'redeemer', schema: ref('Data') },
        parameters: [
          { title: 'seed', schema: ref('OutputReference') },
          { title: 'stateHash', schema: ref('ByteArray') },
        ],
        ...token,
      },
      {
        title: VALIDATOR_TITLES.cohortState,
        description:
          'Head close validator on the cohort state output: join, start epoch, close, contest, finalize',
        datum: { title: 'datum', schema: ref('CohortDatum') },
        redeemer: { title: 'redeemer', schema: ref('CohortRedeemer') },
        ...state,
      },
      {
        title: VALIDATOR_TITLES.membership,
        description: 'Party tokens (signal, claim, kill) and the rules of every deposit leaving escrow',
        redeemer: { title: 'redeemer', schema: ref('MembershipRedeemer') },
        parameters: [
          { title: 'cohortId', schema: ref('ByteArray') },
          { title: 'escrowHash', schema: ref('ByteArray') },
          { title: 'slashHash', schema: ref('ByteArray') },
        ],
        ...membership,
      },
      {
        title: VALIDATOR_TITLES.escrow,
        description: 'Deposit escrow: spendable only when the membership policy of its datum runs',
        datum: { title: 'datum', schema: ref('EscrowDatum') },
        redeemer: { title: 'redeemer', schema: ref('Data') },
        ...escrow,
      },
      {
        title: VALIDATOR_TITLES.slash,
        description:
          'Kill-vote slashing, run by a zero withdrawal: a strict majority of the other parties burn their kill and claim tokens and share the accused deposit',
        redeemer: { title: 'redeemer', schema: ref('KillVote') },
        parameters: [
          { title: 'cohortId', schema: ref('ByteArray') },
          { title: 'escrowHash', schema: ref('ByteArray') },
        ],
        ...slash,
      },
    ].map(({ size: _size, ...v }) => v as BlueprintValidator),
    definitions: DEFINITIONS,
  };
};

export const BLUEPRINT_URL = new URL('./plutus.json', import.meta.url);

/** The committed blueprint (contracts/plutus.json). Tests and builders use this; they never recompile. */
export const loadBlueprint = (): Blueprint => JSON.parse(readFileSync(BLUEPRINT_URL, 'utf8')) as Blueprint;

export const validatorOf = (blueprint: Blueprint, title: string): BlueprintValidator => {
  const v = blueprint.validators.find((x) => x.title === title);
  if (!v) throw new Error(`blueprint has no validator ${title}`);
  return v;
};

export const serializeBlueprint = (blueprint: Blueprint): string => JSON.stringify(blueprint, null, 2) + '\n';
