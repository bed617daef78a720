import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** Ed25519 with raw 32-byte seeds and keys, as Cardano and Hydra keep them, on node:crypto. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export const ed25519PrivateKey = (seed: Uint8Array): KeyObject =>
  createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });

export const ed25519PublicKeyObject = (publicKey: Uint8Array): KeyObject =>
  createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });

/** The 32-byte public key of a 32-byte seed. */
export const ed25519PublicKeyOfSeed = (seed: Uint8Array): Uint8Array => {
  const spki = createPublicKey(ed25519PrivateKey(seed)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(spki.length - 32));
};

export const ed25519Sign = (seed: Uint8Array, message: Uint8Array): Uint8Array =>
  new Uint8Array(sign(null, message, ed25519PrivateKey(seed)));

/** False (never a throw) for a malformed key or signature. */
export const ed25519Verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, message, ed25519PublicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
};
