// Building the blueprint: compile every validator with plu-ts (npm run build:contracts).
import { cohortStateValidator } from './cohort-state.js';
import { cohortTokenPolicy } from './cohort-token.js';
import { compileV2 } from './compile-v2.js';
import { escrowValidator } from './escrow.js';
import { membershipPolicy } from './membership.js';
import { slashValidator } from './slash.js';
import {
  DEFINITIONS,
  VALIDATOR_TITLES,
  type Blueprint,
  type BlueprintValidator,
  type Schema,
} from './blueprint-file.js';

const ref = (name: string): Schema => ({ $ref: `#/definitions/${name}` });

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
