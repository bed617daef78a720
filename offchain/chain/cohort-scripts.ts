import { applyParamsToScript, type Lucid, type OutRef, type Script } from 'lucid-cardano';
import { VALIDATOR_TITLES, validatorOf, type Blueprint } from '../../contracts/index.js';
import { outRefData } from './cohort-data.js';

/**
 * The five scripts of one cohort, from the committed blueprint (never recompiled here):
 * the cohort token applied to its seed and the state validator's hash, the kill-vote script
 * applied to the cohort id and the escrow's hash, the membership policy applied to the cohort id,
 * the escrow's hash and the kill-vote script's hash; the state and escrow validators take no
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
  /** The kill-vote withdrawal script (Slash), applied to the cohort id and the escrow's hash. */
  readonly slash: Script;
  readonly slashHash: string;
  /** Its reward account: registered when the cohort is created, withdrawn from (0) by every slash. */
  readonly slashRewardAddress: string;
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
  const slash = v2(
    applyParamsToScript(validatorOf(blueprint, VALIDATOR_TITLES.slash).compiledCode, [cohortId, escrowHash]),
  );
  const slashHash = lucid.utils.validatorToScriptHash(slash);
  const membership = v2(
    applyParamsToScript(validatorOf(blueprint, VALIDATOR_TITLES.membership).compiledCode, [
      cohortId,
      escrowHash,
      slashHash,
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
    slash,
    slashHash,
    slashRewardAddress: lucid.utils.validatorToRewardAddress(slash),
    names: {
      [cohortId]: VALIDATOR_TITLES.cohortToken,
      [stateHash]: VALIDATOR_TITLES.cohortState,
      [membershipPolicy]: VALIDATOR_TITLES.membership,
      [escrowHash]: VALIDATOR_TITLES.escrow,
      [slashHash]: VALIDATOR_TITLES.slash,
    },
  };
};
