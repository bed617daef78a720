import { applyParamsToScript, type Lucid, type OutRef, type Script } from 'lucid-cardano';
import { VALIDATOR_TITLES, validatorOf, type Blueprint } from '../../contracts/index.js';
import { outRefData } from './cohort-data.js';

/**
 * The four scripts of one cohort, from the committed blueprint (never recompiled here):
 * the cohort token applied to its seed and the state validator's hash, the membership policy
 * applied to the cohort id and the escrow's hash; the state and escrow validators take no
 * parameters (their datums name the cohort and policy).
 */
export interface CohortScripts {
  readonly cohortId: string;
  readonly cohortTokenUnit: string;
  readonly cohortToken: Script;
  readonly state: Script;
  readonly stateHash: string;
  readonly stateAddress: string;
  readonly membership: Script;
  readonly membershipPolicy: string;
  readonly escrow: Script;
  readonly escrowHash: string;
  readonly escrowAddress: string;
  /** Script hash -> blueprint title, for error messages. */
  readonly names: Readonly<Record<string, string>>;
}

const v2 = (script: string): Script => ({ type: 'PlutusV2', script });

export const cohortScripts = (lucid: Lucid, blueprint: Blueprint, seed: OutRef): CohortScripts => {
  const state = v2(validatorOf(blueprint, VALIDATOR_TITLES.cohortState).compiledCode);
  const escrow = v2(validatorOf(blueprint, VALIDATOR_TITLES.escrow).compiledCode);
  const stateHash = lucid.utils.validatorToScriptHash(state);
  const escrowHash = lucid.utils.validatorToScriptHash(escrow);
  const cohortToken = v2(
    applyParamsToScript(validatorOf(blueprint, VALIDATOR_TITLES.cohortToken).compiledCode, [
      outRefData(seed),
      stateHash,
    ]),
  );
  const cohortId = lucid.utils.mintingPolicyToId(cohortToken);
  const membership = v2(
    applyParamsToScript(validatorOf(blueprint, VALIDATOR_TITLES.membership).compiledCode, [
      cohortId,
      escrowHash,
    ]),
  );
  const membershipPolicy = lucid.utils.mintingPolicyToId(membership);
  return {
    cohortId,
    cohortTokenUnit: cohortId,
    cohortToken,
    state,
    stateHash,
    stateAddress: lucid.utils.validatorToAddress(state),
    membership,
    membershipPolicy,
    escrow,
    escrowHash,
    escrowAddress: lucid.utils.validatorToAddress(escrow),
    names: {
      [cohortId]: VALIDATOR_TITLES.cohortToken,
      [stateHash]: VALIDATOR_TITLES.cohortState,
      [membershipPolicy]: VALIDATOR_TITLES.membership,
      [escrowHash]: VALIDATOR_TITLES.escrow,
    },
  };
};
