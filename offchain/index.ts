// The public face of offchain/: the protocol off the chain.
export { DmlError, isDmlError } from './errors.js';
export {
  type PartyKeys,
  type TextEnvelope,
  KEY_FILES,
  ed25519PublicKey,
  generatePartyKeys,
  readPartyKeys,
  writePartyKeys,
  toTextEnvelope,
  fromTextEnvelope,
} from './party-keys.js';
export * from './storage/index.js';
export * from './events/index.js';
export * from './delta/index.js';
export * from './hydra/index.js';
export * from './chain/index.js';
export * from './round/index.js';
export { ed25519PublicKeyOfSeed, ed25519Sign, ed25519Verify } from './ed25519.js';
export * from './cohort/index.js';
export * from './bus/index.js';
export * from './node/index.js';
export * from './devnet/index.js';
export * from './l1log/index.js';
