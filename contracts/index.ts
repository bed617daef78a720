// The public face of contracts/: the on-chain validators and their blueprint.
export { compileV2, type CompiledScript } from './compile-v2.js';
