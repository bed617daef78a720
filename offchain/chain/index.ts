// Layer 1 for the protocol: the validating emulator, script failures, transaction builders.
export { ValidatingEmulator, type RedeemerBudget } from './validating-emulator.js';
export {
  ScriptFailure,
  isScriptFailure,
  toScriptFailure,
  type ScriptFailureDetails,
  type ScriptNames,
} from './script-failure.js';
