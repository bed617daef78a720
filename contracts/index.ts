// The public face of contracts/: the on-chain validators and their blueprint.
export { compileV2, type CompiledScript } from './compile-v2.js';
export {
  type Blueprint,
  type BlueprintValidator,
  type Schema,
  DEFINITIONS,
  VALIDATOR_TITLES,
  buildBlueprint,
  loadBlueprint,
  validatorOf,
  serializeBlueprint,
} from './blueprint.js';
export { CLAIM_PREFIX, KILL_PREFIX, SIGNAL_PREFIX } from './membership.js';
