// Layer 1 for the protocol: the validating emulator, script failures, transaction builders.
export { ValidatingEmulator, type RedeemerBudget } from './validating-emulator.js';
export {
  ScriptFailure,
  isScriptFailure,
  toScriptFailure,
  type ScriptFailureDetails,
  type ScriptNames,
} from './script-failure.js';
export { cohortScripts, type CohortScripts } from './cohort-scripts.js';
export {
  cohortDatum,
  parseCohortDatum,
  escrowDatum,
  parseEscrowDatum,
  signTrainingSnapshot,
  CohortRedeemer,
  MembershipRedeemer,
  KillVoteRedeemer,
  type CohortTerms,
  type CohortParty,
  type CohortPhase,
  type CohortState,
} from './cohort-data.js';
export {
  createCohortTx,
  joinTx,
  startEpochTx,
  closeTx,
  contestTx,
  finalizeTx,
  finalizedState,
  claimTx,
  refundTx,
  slashTx,
  findCohortState,
  readCohortState,
  partyTokenUnits,
  ownerAddress,
  type SignedTrainingSnapshot,
} from './cohort-tx.js';
export { measureContractPaths, type PathBudget } from './contracts-budget.js';
export {
  cohortKit,
  runningCohortGenesis,
  DEFAULT_TERMS,
  type CohortKit,
  type KitParty,
} from './cohort-kit.js';
export { type ChainTx, type ReadChainTx, readChainTx } from './chain-tx.js';
export { type CohortTransition, followCohort, stateRedeemerOf } from './cohort-follower.js';
export {
  COHORT_PARAMS_METADATA_LABEL,
  cohortParamsMetadata,
  readCohortParamsMetadata,
  type CohortDeltaEncoding,
  type CohortTrainingParamsOnChain,
} from './cohort-params-metadata.js';
