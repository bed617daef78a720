import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt } from 'node:crypto';
import { DmlError } from '../errors.js';
import type { BackgroundSha256 } from './background-sha256.js';

/**
 * Client-side encryption of a stored object: AES-256-GCM under a key derived from a passphrase by
 * scrypt with a fresh random salt per object. The object carries a versioned header that is
 * authenticated as GCM's additional data, so a flipped bit anywhere (header, ciphertext or tag)
 * fails authentication instead of decrypting to garbage:
 *
 *   offset  size  field
 *        0     4  magic "DMLE"
 *        4     1  format version (1)
 *        5     1  KDF id (1 = scrypt)
 *        6     1  scrypt log2(N)
 *        7     1  scrypt r
 *        8     1  scrypt p
 *        9    16  salt
 *       25    12  GCM nonce
 *       37     n  ciphertext (same length as the plaintext)
 *     37+n    16  GCM tag
 *
 * The storage operator and anyone without the passphrase learn the plaintext's length only.
 */
export interface ScryptParameters {
  readonly log2N: number;
  readonly r: number;
  readonly p: number;
}

/** About 32 MiB of memory and tens of milliseconds per object. */
export const DEFAULT_SCRYPT: ScryptParameters = { log2N: 15, r: 8, p: 1 };

const MAGIC = Buffer.from('DMLE', 'ascii');
const FORMAT_VERSION = 1;
const KDF_SCRYPT = 1;
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SEALED_HEADER_BYTES = 4 + 1 + 1 + 3 + SALT_BYTES + NONCE_BYTES;
/** Bytes that encryption adds to an object. */
export const SEALED_OVERHEAD_BYTES = SEALED_HEADER_BYTES + TAG_BYTES;

/** Bounds a header must respect: a forged header cannot make us spend unbounded memory or time. */
const SCRYPT_BOUNDS = { log2N: [10, 20], r: [1, 32], p: [1, 16] } as const;

const deriveKey = (passphrase: string, salt: Uint8Array, params: ScryptParameters): Promise<Buffer> => {
  const N = 2 ** params.log2N;
  return new Promise((resolve, reject) =>
    scrypt(
      passphrase.normalize('NFC'),
      salt,
      32,
      { N, r: params.r, p: params.p, maxmem: 256 * N * params.r * params.p },
      (error, key) => (error ? reject(error) : resolve(key)),
    ),
  );
};

const checkPassphrase = (passphrase: string): void => {
  if (passphrase.length === 0)
    throw new DmlError('STORAGE_PASSPHRASE_MISSING', 'the encryption passphrase is empty', {
      hint: 'set MY_ENCRYPTION_PASSPHRASE or create a key folder with `dml keys new`',
    });
};

const inBounds = (params: ScryptParameters): boolean =>
  params.log2N >= SCRYPT_BOUNDS.log2N[0] &&
  params.log2N <= SCRYPT_BOUNDS.log2N[1] &&
  params.r >= SCRYPT_BOUNDS.r[0] &&
  params.r <= SCRYPT_BOUNDS.r[1] &&
  params.p >= SCRYPT_BOUNDS.p[0] &&
  params.p <= SCRYPT_BOUNDS.p[1];

/** A key derived for one new object: its random salt and the scrypt output. */
export interface ObjectKey {
  readonly scrypt: ScryptParameters;
  readonly salt: Buffer;
  readonly key: Buffer;
}

/**
 * Derives the key of one new object (fresh random salt). `EncryptedContentStore` derives the
 * next object's key in the background, so scrypt is off the upload's critical path.
 */
export const deriveObjectKey = async (
  passphrase: string,
  params: ScryptParameters = DEFAULT_SCRYPT,
): Promise<ObjectKey> => {
  checkPassphrase(passphrase);
  if (!inBounds(params))
    throw new DmlError(
      'STORAGE_KDF_PARAMETERS',
      `scrypt parameters out of bounds: ${JSON.stringify(params)}`,
    );
  const salt = randomBytes(SALT_BYTES);
  return { scrypt: params, salt, key: await deriveKey(passphrase, salt, params) };
};

/** Work in cache-sized chunks: one 64 MiB update is ~2.5x slower than 1 MiB ones here. */
const CHUNK = 1024 * 1024;

/**
 * Writes the sealed object (header, ciphertext, tag) into `out` in 1 MiB chunks, calling
 * `written(at, length)` after each range is final, in order: the caller hashes as it goes.
 */
const sealInto = (
  plaintext: Uint8Array,
  objectKey: ObjectKey,
  out: Buffer,
  written: (at: number, length: number) => void,
): void => {
  const nonce = randomBytes(NONCE_BYTES);
  const { log2N, r, p } = objectKey.scrypt;
  const header = Buffer.concat([
    MAGIC,
    Buffer.from([FORMAT_VERSION, KDF_SCRYPT, log2N, r, p]),
    objectKey.salt,
    nonce,
  ]);
  const cipher = createCipheriv('aes-256-gcm', objectKey.key, nonce);
  cipher.setAAD(header);
  header.copy(out, 0);
  written(0, SEALED_HEADER_BYTES);
  let offset = SEALED_HEADER_BYTES;
  for (let at = 0; at < plaintext.length; at += CHUNK) {
    const length = cipher.update(plaintext.subarray(at, at + CHUNK)).copy(out, offset);
    written(offset, length);
    offset += length;
  }
  const rest = cipher.final().copy(out, offset);
  const tag = cipher.getAuthTag().copy(out, offset + rest);
  written(offset, rest + tag);
};

/** Bytes of the sealed form of `plaintextBytes` bytes. */
export const sealedLength = (plaintextBytes: number): number => plaintextBytes + SEALED_OVERHEAD_BYTES;

const outputFor = (length: number, scratch?: Buffer): Buffer =>
  scratch && scratch.length >= length ? scratch.subarray(0, length) : Buffer.allocUnsafe(length);

/**
 * Encrypts with a derived object key and hashes the result (SHA-256 of the whole sealed
 * object) in the same pass. A key must seal one object only (its salt is the object's salt).
 */
export const sealObjectWithKey = (
  plaintext: Uint8Array,
  objectKey: ObjectKey,
  /** Where to write the sealed bytes when large enough (reused between puts); else a new buffer. */
  scratch?: Buffer,
): { sealed: Buffer; sha256: string } => {
  const out = outputFor(sealedLength(plaintext.length), scratch);
  const hash = createHash('sha256');
  sealInto(plaintext, objectKey, out, (at, length) => hash.update(out.subarray(at, at + length)));
  return { sealed: out, sha256: hash.digest('hex') };
};

/**
 * `sealObjectWithKey` with the SHA-256 computed on a second core while encryption goes on
 * (`BackgroundSha256`): about max(encrypt, hash) instead of their sum when a core is free. The
 * bytes are the same format (version 1). `scratch` should live in a `SharedArrayBuffer` (the
 * hashing thread reads it in place); otherwise, or when no thread can run, this hashes inline.
 */
export const sealObjectPipelined = async (
  plaintext: Uint8Array,
  objectKey: ObjectKey,
  hasher: BackgroundSha256,
  scratch?: Buffer,
): Promise<{ sealed: Buffer; sha256: string }> => {
  const out = outputFor(sealedLength(plaintext.length), scratch);
  if (hasher.busy) return sealObjectWithKey(plaintext, objectKey, out);
  hasher.begin(out.buffer as SharedArrayBuffer | ArrayBuffer);
  const base = out.byteOffset;
  try {
    sealInto(plaintext, objectKey, out, (at, length) => hasher.update(base + at, length));
  } catch (error) {
    await hasher.digest().catch(() => undefined); // close the job: the next put may use the hasher
    throw error;
  }
  // If the hashing thread died, hash here: the bytes are complete.
  const sha256 = await hasher.digest().catch(() => createHash('sha256').update(out).digest('hex'));
  return { sealed: out, sha256 };
};

/** Encrypts `plaintext` under `passphrase`; returns header, ciphertext and tag in one buffer. */
export const sealObject = async (
  plaintext: Uint8Array,
  passphrase: string,
  options: { readonly scrypt?: ScryptParameters } = {},
): Promise<Buffer> => sealObjectWithKey(plaintext, await deriveObjectKey(passphrase, options.scrypt)).sealed;

/** The header fields of a sealed object, without decrypting it. */
export const readSealedHeader = (
  sealed: Uint8Array,
  what = 'object',
): { version: number; scrypt: ScryptParameters; salt: Buffer; nonce: Buffer } => {
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (bytes.length < SEALED_OVERHEAD_BYTES || !bytes.subarray(0, 4).equals(MAGIC))
    throw new DmlError(
      'STORAGE_NOT_SEALED',
      `${what} is not an encrypted dml object (no DMLE header${bytes.length < SEALED_OVERHEAD_BYTES ? `, only ${bytes.length} bytes` : ''})`,
    );
  const version = bytes[4]!;
  if (version !== FORMAT_VERSION)
    throw new DmlError(
      'STORAGE_FORMAT_UNSUPPORTED',
      `${what} has encryption format version ${version}; this dml reads version ${FORMAT_VERSION}`,
      { hint: 'the object was altered, or written by a newer dml' },
    );
  const kdf = bytes[5]!;
  const params = { log2N: bytes[6]!, r: bytes[7]!, p: bytes[8]! };
  if (kdf !== KDF_SCRYPT || !inBounds(params))
    throw new DmlError(
      'STORAGE_FORMAT_UNSUPPORTED',
      `${what} names an unsupported key derivation (id ${kdf}, ${JSON.stringify(params)})`,
      { hint: 'the object header was altered' },
    );
  return {
    version,
    scrypt: params,
    salt: bytes.subarray(9, 9 + SALT_BYTES),
    nonce: bytes.subarray(9 + SALT_BYTES, SEALED_HEADER_BYTES),
  };
};

/**
 * Decrypts a sealed object. A wrong passphrase or any altered bit fails with
 * `STORAGE_DECRYPT_FAILED`; nothing unauthenticated is ever returned.
 */
export const openSealedObject = async (
  sealed: Uint8Array,
  passphrase: string,
  what = 'object',
): Promise<Buffer> => {
  checkPassphrase(passphrase);
  const header = readSealedHeader(sealed, what);
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const key = await deriveKey(passphrase, header.salt, header.scrypt);
  const decipher = createDecipheriv('aes-256-gcm', key, header.nonce);
  decipher.setAAD(bytes.subarray(0, SEALED_HEADER_BYTES));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  const ciphertext = bytes.subarray(SEALED_HEADER_BYTES, bytes.length - TAG_BYTES);
  const body = Buffer.allocUnsafe(ciphertext.length);
  let offset = 0;
  for (let at = 0; at < ciphertext.length; at += CHUNK)
    offset += decipher.update(ciphertext.subarray(at, at + CHUNK)).copy(body, offset);
  try {
    decipher.final();
  } catch (cause) {
    body.fill(0);
    throw new DmlError(
      'STORAGE_DECRYPT_FAILED',
      `${what} failed authentication: wrong passphrase, or the stored bytes were altered`,
      { hint: 'check MY_ENCRYPTION_PASSPHRASE; if it is right, the object is corrupt', cause },
    );
  }
  return body;
};
