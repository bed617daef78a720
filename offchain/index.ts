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
export * from './events/index.js';
export * from './bus/index.js';
