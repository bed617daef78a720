// The public face of contracts/: the on-chain validators and their blueprint. Only plain modules
// load here: the compiler (plu-ts, ~1 s to load) is reached through `loadCompiler` by whoever
// compiles (tests of custom scripts); run time reads the committed blueprint.
export type { CompiledScript } from './compile-v2.js';
export {
  type Blueprint,
  type BlueprintValidator,
  type Schema,
  DEFINITIONS,
  VALIDATOR_TITLES,
  loadBlueprint,
  validatorOf,
  serializeBlueprint,
} from './blueprint-file.js';
export { CLAIM_PREFIX, KILL_PREFIX, SIGNAL_PREFIX } from './token-prefixes.js';

/** plu-ts's V2 compiler (`compileV2(term)`), loaded on first use. */
export const loadCompiler = async () => (await import('./compile-v2.js')).compileV2;
