import { DmlError } from '../errors.js';

/**
 * The training snapshot `(cohortId, epoch, round, aggregateHash)`: what every party of an epoch
 * signs with its Hydra key at the end of a round, and what Close and Contest carry to layer 1.
 *
 * The signed message is the Plutus Data `Constr 0 [B cohortId, I epoch, I round, B aggregateHash]`
 * serialised exactly as the ledger's `serialiseData` builtin does (tag 121, indefinite-length
 * field list), so that the head-close validator can rebuild it on chain from its redeemer.
 */
export interface TrainingSnapshot {
  /** Hex of the cohort token's policy id. */
  readonly cohortId: string;
  readonly epoch: number;
  readonly round: number;
  /** Hex SHA-256 of the aggregate adapter. */
  readonly aggregateHash: string;
}

/** A CBOR head for values below 2^32 (ours never exceed it; cborUnsigned handles the rest). */
const cborHead = (major: number, value: number): number[] => {
  if (value < 24) return [(major << 5) | value];
  if (value < 0x100) return [(major << 5) | 24, value];
  if (value < 0x10000) return [(major << 5) | 25, value >> 8, value & 0xff];
  return [(major << 5) | 26, value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
};

const cborUnsigned = (value: number): number[] => {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new DmlError('BAD_SNAPSHOT', `${value} is not a natural number`);
  if (value >= 0x100000000) {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(BigInt(value));
    return [0x1b, ...bytes];
  }
  return cborHead(0, value);
};

/** Plutus bytestrings longer than 64 bytes are chunked; ours are at most 64 bytes. */
const cborBytes = (hex: string, what: string): number[] => {
  if (!/^([0-9a-f]{2})*$/.test(hex)) throw new DmlError('BAD_SNAPSHOT', `${what} must be lowercase hex`);
  const bytes = Buffer.from(hex, 'hex');
  if (bytes.length > 64) throw new DmlError('BAD_SNAPSHOT', `${what} must be at most 64 bytes`);
  return [...cborHead(2, bytes.length), ...bytes];
};

/** The bytes every party signs for a training snapshot. */
export const trainingSnapshotMessage = (snapshot: TrainingSnapshot): Uint8Array => {
  if (!/^[0-9a-f]{64}$/.test(snapshot.aggregateHash)) {
    throw new DmlError('BAD_SNAPSHOT', 'aggregateHash must be 32 bytes of lowercase hex');
  }
  return Uint8Array.from([
    0xd8,
    0x79, // tag 121: Constr 0
    0x9f, // indefinite-length list of fields
    ...cborBytes(snapshot.cohortId, 'cohortId'),
    ...cborUnsigned(snapshot.epoch),
    ...cborUnsigned(snapshot.round),
    ...cborBytes(snapshot.aggregateHash, 'aggregateHash'),
    0xff,
  ]);
};
