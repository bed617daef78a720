import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt } from 'node:crypto';
import { DmlError } from '../errors.js';

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
 * Encrypts with a derived object key and hashes the result (SHA-256 of the whole sealed
 * object) in the same pass. A key must seal one object only (its salt is the object's salt).
 */
export const sealObjectWithKey = (
  plaintext: Uint8Array,
  objectKey: ObjectKey,
  /** Where to write the sealed bytes when large enough (reused between puts); else a new buffer. */
  scratch?: Buffer,
): { sealed: Buffer; sha256: string } => {
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
  const hash = createHash('sha256');
  const length = SEALED_HEADER_BYTES + plaintext.length + TAG_BYTES;
  const out = scratch && scratch.length >= length ? scratch.subarray(0, length) : Buffer.allocUnsafe(length);
  header.copy(out, 0);
  hash.update(header);
  let offset = SEALED_HEADER_BYTES;
  for (let at = 0; at < plaintext.length; at += CHUNK) {
    const piece = cipher.update(plaintext.subarray(at, at + CHUNK));
    piece.copy(out, offset);
    hash.update(piece);
    offset += piece.length;
  }
  const rest = cipher.final();
  rest.copy(out, offset);
  hash.update(rest);
  offset += rest.length;
  const tag = cipher.getAuthTag();
  tag.copy(out, offset);
  hash.update(tag);
  return { sealed: out, sha256: hash.digest('hex') };
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
