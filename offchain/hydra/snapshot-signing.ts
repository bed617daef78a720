import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { ed25519PrivateKey, ed25519PublicKeyObject } from '../ed25519.js';
import type { HeadUTxO } from './head-ledger.js';

/**
 * Ed25519 multi-signature of snapshots, as in the Head protocol: every party signs the same
 * message naming the head, the snapshot's version and number and a hash of its UTxO; a snapshot
 * is confirmed (and enforceable on layer 1) only with the signatures of all parties.
 */
export interface SnapshotContent {
  readonly headId: string;
  readonly version: number;
  readonly number: number;
  readonly utxo: HeadUTxO;
}

const DOMAIN = Buffer.from('qlora-dml/hydra-snapshot/v1', 'utf8');

/** Hash of a UTxO: SHA-256 over its entries in key order, so every party computes the same. */
export const utxoHash = (utxo: HeadUTxO): Buffer => {
  const hash = createHash('sha256');
  for (const key of Object.keys(utxo).sort()) hash.update(key).update('\0').update(utxo[key]!).update('\n');
  return hash.digest();
};

const u64 = (value: number): Buffer => {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64BE(BigInt(value));
  return buffer;
};

export const snapshotSigningMessage = (snapshot: SnapshotContent): Buffer =>
  Buffer.concat([
    DOMAIN,
    Buffer.from(snapshot.headId, 'hex'),
    u64(snapshot.version),
    u64(snapshot.number),
    utxoHash(snapshot.utxo),
  ]);

export const hydraSigningKeyFromSeed = (seed: Uint8Array): KeyObject => ed25519PrivateKey(seed);

const verificationKeys = new Map<string, KeyObject>();
export const hydraVerificationKey = (vkeyHex: string): KeyObject => {
  let key = verificationKeys.get(vkeyHex);
  if (!key) {
    key = ed25519PublicKeyObject(Buffer.from(vkeyHex, 'hex'));
    verificationKeys.set(vkeyHex, key);
  }
  return key;
};

export const vkeyOf = (signingKey: KeyObject): string => {
  const spki = createPublicKey(signingKey).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(spki.length - 32)).toString('hex');
};

export const signSnapshot = (signingKey: KeyObject, snapshot: SnapshotContent): string =>
  sign(null, snapshotSigningMessage(snapshot), signingKey).toString('hex');

export const verifySnapshotSignature = (
  vkeyHex: string,
  snapshot: SnapshotContent,
  signatureHex: string,
): boolean => {
  if (!/^[0-9a-f]{128}$/.test(signatureHex) || !/^[0-9a-f]{64}$/.test(vkeyHex)) return false;
  try {
    return verify(
      null,
      snapshotSigningMessage(snapshot),
      hydraVerificationKey(vkeyHex),
      Buffer.from(signatureHex, 'hex'),
    );
  } catch {
    return false;
  }
};

/** True when `signatures` holds, in party order, a valid signature of every party. */
export const verifyMultiSignature = (
  parties: readonly string[],
  snapshot: SnapshotContent,
  signatures: readonly string[],
): boolean =>
  signatures.length === parties.length &&
  parties.every((party, i) => verifySnapshotSignature(party, snapshot, signatures[i]!));
