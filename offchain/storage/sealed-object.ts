import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, scrypt } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import { DmlError } from '../errors.js';
import { mallocKeepsFreedBuffers } from './malloc-tunables.js';
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
 * Format version 2 (what `EncryptedContentStore` writes since version 2 exists) keeps one scrypt
 * per store instead of one per object: the store derives a master key once, scrypt(passphrase,
 * master salt), and each object's key is HKDF-SHA256(master key, a fresh random object salt,
 * "dml sealed object v2"). Still a fresh random salt and nonce per object, hence a fresh key per
 * object; a passphrase guess still costs one scrypt per master salt. The master salt is random per
 * store unless the store is given one: a cohort's parties, who share the passphrase, share the
 * cohort's (`cohortMasterSalt`), so that a party opens every peer's objects with the one scrypt it
 * paid for its own store instead of one more per peer.
 *
 *   offset  size  field
 *        0     4  magic "DMLE"
 *        4     1  format version (2)
 *        5     1  KDF id (2 = scrypt master key + HKDF-SHA256 per object)
 *        6     3  scrypt log2(N), r, p (of the master key)
 *        9    16  master salt (the store's scrypt salt: random, or its cohort's)
 *       25    16  object salt (HKDF salt)
 *       41    12  GCM nonce
 *       53     n  ciphertext
 *     53+n    16  GCM tag
 *
 * Version 1 objects stay readable. The storage operator and anyone without the passphrase learn
 * the plaintext's length only.
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
const FORMAT_VERSION_2 = 2;
const KDF_SCRYPT = 1;
const KDF_SCRYPT_HKDF = 2;
const HKDF_INFO = Buffer.from('dml sealed object v2', 'ascii');
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SEALED_HEADER_BYTES = 4 + 1 + 1 + 3 + SALT_BYTES + NONCE_BYTES;
/** Bytes that encryption adds to an object (format version 1). */
export const SEALED_OVERHEAD_BYTES = SEALED_HEADER_BYTES + TAG_BYTES;
/** Header bytes of format version 2 (a master salt and an object salt). */
export const SEALED_V2_HEADER_BYTES = SEALED_HEADER_BYTES + SALT_BYTES;
/** Bytes that encryption adds to an object (format version 2). */
export const SEALED_V2_OVERHEAD_BYTES = SEALED_V2_HEADER_BYTES + TAG_BYTES;

/** Bounds a header must respect: a forged header cannot make us spend unbounded memory or time. */
const SCRYPT_BOUNDS = { log2N: [10, 20], r: [1, 32], p: [1, 16] } as const;

let scryptRuns = 0;

/** How many scrypt derivations this process has started (each costs ~0.1 s at the default). */
export const scryptDerivationCount = (): number => scryptRuns;

const deriveKey = (passphrase: string, salt: Uint8Array, params: ScryptParameters): Promise<Buffer> => {
  const N = 2 ** params.log2N;
  scryptRuns += 1;
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

/**
 * A key derived for one new object. Version 1: `key` = scrypt(passphrase, `salt`). Version 2
 * (`masterSalt` set): `key` = HKDF-SHA256(scrypt(passphrase, `masterSalt`), `salt`).
 */
export interface ObjectKey {
  readonly scrypt: ScryptParameters;
  readonly salt: Buffer;
  readonly key: Buffer;
  readonly masterSalt?: Buffer;
}

/** A store's master key (format version 2): scrypt of the passphrase under its master salt. */
export interface MasterKey {
  readonly scrypt: ScryptParameters;
  readonly salt: Buffer;
  readonly key: Buffer;
}

const checkScrypt = (params: ScryptParameters): void => {
  if (!inBounds(params))
    throw new DmlError(
      'STORAGE_KDF_PARAMETERS',
      `scrypt parameters out of bounds: ${JSON.stringify(params)}`,
    );
};

/** Derived master keys by passphrase digest, master salt and parameters (readers meet few stores). */
const masterKeys = new Map<string, Promise<Buffer>>();
const MASTER_KEYS_KEPT = 64;
const masterCacheKey = (passphrase: string, salt: Uint8Array, params: ScryptParameters): string =>
  `${createHash('sha256').update(passphrase.normalize('NFC')).digest('hex')}:${Buffer.from(salt).toString('hex')}:${params.log2N}:${params.r}:${params.p}`;

const cachedMasterKey = (passphrase: string, salt: Buffer, params: ScryptParameters): Promise<Buffer> => {
  const id = masterCacheKey(passphrase, salt, params);
  let key = masterKeys.get(id);
  if (key === undefined) {
    key = deriveKey(passphrase, salt, params);
    key.catch(() => masterKeys.delete(id));
    if (masterKeys.size >= MASTER_KEYS_KEPT) masterKeys.delete(masterKeys.keys().next().value!);
    masterKeys.set(id, key);
  }
  return key;
};

/**
 * Derives a store's master key (format version 2) under `masterSalt` (16 bytes), or a fresh random
 * one: the one scrypt a store pays, however many objects it seals. Kept in this process's cache of
 * master keys, so that reading back the store's own objects derives nothing, nor reading the
 * objects of another store under the same passphrase and master salt (a cohort's parties, see
 * `cohortMasterSalt`).
 */
export const deriveMasterKey = async (
  passphrase: string,
  params: ScryptParameters = DEFAULT_SCRYPT,
  masterSalt?: Uint8Array,
): Promise<MasterKey> => {
  checkPassphrase(passphrase);
  checkScrypt(params);
  if (masterSalt !== undefined && masterSalt.length !== SALT_BYTES)
    throw new DmlError(
      'STORAGE_MASTER_SALT',
      `a master salt is ${SALT_BYTES} bytes, not ${masterSalt.length}`,
    );
  const salt = masterSalt === undefined ? randomBytes(SALT_BYTES) : Buffer.from(masterSalt);
  return { scrypt: params, salt, key: await cachedMasterKey(passphrase, salt, params) };
};

const hkdfObjectKey = (master: Buffer, objectSalt: Buffer): Buffer =>
  Buffer.from(hkdfSync('sha256', master, objectSalt, HKDF_INFO, 32));

/** The key of one new object under a master key (format version 2): a fresh object salt, HKDF. */
export const objectKeyFromMaster = (master: MasterKey): ObjectKey => {
  const salt = randomBytes(SALT_BYTES);
  return { scrypt: master.scrypt, masterSalt: master.salt, salt, key: hkdfObjectKey(master.key, salt) };
};

/**
 * Derives the key of one new object (fresh random salt). `EncryptedContentStore` derives the
 * next object's key in the background, so scrypt is off the upload's critical path.
 */
export const deriveObjectKey = async (
  passphrase: string,
  params: ScryptParameters = DEFAULT_SCRYPT,
): Promise<ObjectKey> => {
  checkPassphrase(passphrase);
  checkScrypt(params);
  const salt = randomBytes(SALT_BYTES);
  return { scrypt: params, salt, key: await deriveKey(passphrase, salt, params) };
};

/** Work in cache-sized chunks: one 64 MiB update is ~2.5x slower than 1 MiB ones here. */
const CHUNK = 1024 * 1024;

/**
 * Copies `chunk` into `out` at `offset`; returns its length. `Buffer#copy` is a `TypedArray#set`,
 * which V8 performs with relaxed atomics when either side lives in a `SharedArrayBuffer`, byte
 * by byte when the two are not equally aligned - and the ciphertext starts at offset 53 (37 in
 * format 1). Measured: 37-52 ms against 12-14 ms for 64 MiB. `Buffer#fill` with a buffer as
 * long as the range is one C++ `memcpy` whatever the memory.
 */
const copyChunk = (out: Buffer, chunk: Buffer, offset: number): number => {
  if (chunk.length === 0) return 0;
  if (out.buffer instanceof SharedArrayBuffer) out.fill(chunk, offset, offset + chunk.length);
  else chunk.copy(out, offset);
  return chunk.length;
};

/**
 * Frees the cipher's output buffers once copied, instead of leaving them to V8's collector.
 *
 * Node 20's `cipher.update` returns a fresh buffer per call (there is no update-into API), which
 * V8 counts as external memory: 64 MiB of it per 64 MiB seal, and V8 starts a full collection
 * whenever external memory has grown by ~64 MiB since the last one ("external memory pressure":
 * 2 collections per encrypted put, measured; each costs what the process's heap costs to mark,
 * a few ms in a small process, 20-40 ms in a party's, which holds tfjs and lucid). Transferring
 * an output into a `MessagePort` detaches it: V8 forgets its bytes at once (no pressure), and
 * the message that now owns them is dropped, freeing them, when the port is closed at the end
 * of the seal. Measured: 0 collections per seal instead of 2, RSS steady.
 *
 * Only when glibc keeps freed memory (`bin/dml.js`'s settings, `mallocKeepsFreedBuffers`): under
 * glibc's defaults the 64 MiB freed at once is given back to the kernel and the next seal faults
 * it in again (16,000 page faults, +50 ms per seal, measured), which costs more than the
 * collections.
 */
class OutputRelease {
  private readonly channel = new MessageChannel();
  free(chunk: Buffer): void {
    const buffer = chunk.buffer;
    // Only a buffer that is this output alone (not a slice of a pool, not shared memory).
    if (buffer instanceof SharedArrayBuffer || chunk.byteOffset !== 0 || buffer.byteLength !== chunk.length)
      return;
    this.channel.port1.postMessage(null, [buffer]);
  }
  close(): void {
    this.channel.port1.close();
    this.channel.port2.close();
  }
}

export interface SealOptions {
  /**
   * Free each of the cipher's output buffers once copied (`OutputRelease`). Default: when glibc
   * keeps freed memory in this process (`bin/dml.js`'s allocator settings).
   */
  readonly releaseOutputs?: boolean;
}

/** Free the cipher's outputs at once (see `OutputRelease`)? Decided once per process. */
const RELEASE_OUTPUTS_BY_DEFAULT = mallocKeepsFreedBuffers(process.env.GLIBC_TUNABLES, CHUNK);

/**
 * Writes the sealed object (header, ciphertext, tag) into `out` in 1 MiB chunks, calling
 * `written(at, length)` after each range is final, in order: the caller hashes as it goes.
 */
const sealInto = (
  plaintext: Uint8Array,
  objectKey: ObjectKey,
  out: Buffer,
  written: (at: number, length: number) => void,
  releaseOutputs: boolean,
): void => {
  const nonce = randomBytes(NONCE_BYTES);
  const { log2N, r, p } = objectKey.scrypt;
  const header = objectKey.masterSalt
    ? Buffer.concat([
        MAGIC,
        Buffer.from([FORMAT_VERSION_2, KDF_SCRYPT_HKDF, log2N, r, p]),
        objectKey.masterSalt,
        objectKey.salt,
        nonce,
      ])
    : Buffer.concat([MAGIC, Buffer.from([FORMAT_VERSION, KDF_SCRYPT, log2N, r, p]), objectKey.salt, nonce]);
  const cipher = createCipheriv('aes-256-gcm', objectKey.key, nonce);
  cipher.setAAD(header);
  header.copy(out, 0);
  written(0, header.length);
  let offset = header.length;
  const release = releaseOutputs ? new OutputRelease() : undefined;
  try {
    for (let at = 0; at < plaintext.length; at += CHUNK) {
      const chunk = cipher.update(plaintext.subarray(at, at + CHUNK));
      const length = copyChunk(out, chunk, offset);
      release?.free(chunk);
      written(offset, length);
      offset += length;
    }
  } finally {
    release?.close();
  }
  const rest = copyChunk(out, cipher.final(), offset);
  const tag = copyChunk(out, cipher.getAuthTag(), offset + rest);
  written(offset, rest + tag);
};

/** Bytes of the sealed form of `plaintextBytes` bytes (in format `version`). */
export const sealedLength = (plaintextBytes: number, version: 1 | 2 = 1): number =>
  plaintextBytes + (version === 2 ? SEALED_V2_OVERHEAD_BYTES : SEALED_OVERHEAD_BYTES);

const versionOf = (objectKey: ObjectKey): 1 | 2 => (objectKey.masterSalt ? 2 : 1);

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
  options: SealOptions = {},
): { sealed: Buffer; sha256: string } => {
  const out = outputFor(sealedLength(plaintext.length, versionOf(objectKey)), scratch);
  const hash = createHash('sha256');
  sealInto(
    plaintext,
    objectKey,
    out,
    (at, length) => hash.update(out.subarray(at, at + length)),
    options.releaseOutputs ?? RELEASE_OUTPUTS_BY_DEFAULT,
  );
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
  options: SealOptions = {},
): Promise<{ sealed: Buffer; sha256: string }> => {
  const out = outputFor(sealedLength(plaintext.length, versionOf(objectKey)), scratch);
  if (hasher.busy) return sealObjectWithKey(plaintext, objectKey, out, options);
  hasher.begin(out.buffer as SharedArrayBuffer | ArrayBuffer);
  const base = out.byteOffset;
  try {
    sealInto(
      plaintext,
      objectKey,
      out,
      (at, length) => hasher.update(base + at, length),
      options.releaseOutputs ?? RELEASE_OUTPUTS_BY_DEFAULT,
    );
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
): {
  version: number;
  scrypt: ScryptParameters;
  /** The object's own salt (scrypt's in version 1, HKDF's in version 2). */
  salt: Buffer;
  nonce: Buffer;
  /** Version 2: the store's master salt. */
  masterSalt?: Buffer;
  /** Bytes of the header (authenticated as GCM's additional data). */
  headerBytes: number;
} => {
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (bytes.length < SEALED_OVERHEAD_BYTES || !bytes.subarray(0, 4).equals(MAGIC))
    throw new DmlError(
      'STORAGE_NOT_SEALED',
      `${what} is not an encrypted dml object (no DMLE header${bytes.length < SEALED_OVERHEAD_BYTES ? `, only ${bytes.length} bytes` : ''})`,
    );
  const version = bytes[4]!;
  if (version !== FORMAT_VERSION && version !== FORMAT_VERSION_2)
    throw new DmlError(
      'STORAGE_FORMAT_UNSUPPORTED',
      `${what} has encryption format version ${version}; this dml reads versions ${FORMAT_VERSION} and ${FORMAT_VERSION_2}`,
      { hint: 'the object was altered, or written by a newer dml' },
    );
  const kdf = bytes[5]!;
  const params = { log2N: bytes[6]!, r: bytes[7]!, p: bytes[8]! };
  const expectedKdf = version === FORMAT_VERSION ? KDF_SCRYPT : KDF_SCRYPT_HKDF;
  if (kdf !== expectedKdf || !inBounds(params))
    throw new DmlError(
      'STORAGE_FORMAT_UNSUPPORTED',
      `${what} names an unsupported key derivation (id ${kdf}, ${JSON.stringify(params)})`,
      { hint: 'the object header was altered' },
    );
  if (version === FORMAT_VERSION)
    return {
      version,
      scrypt: params,
      salt: bytes.subarray(9, 9 + SALT_BYTES),
      nonce: bytes.subarray(9 + SALT_BYTES, SEALED_HEADER_BYTES),
      headerBytes: SEALED_HEADER_BYTES,
    };
  if (bytes.length < SEALED_V2_OVERHEAD_BYTES)
    throw new DmlError(
      'STORAGE_NOT_SEALED',
      `${what} is too short for an encrypted dml object of version 2 (${bytes.length} bytes)`,
    );
  return {
    version,
    scrypt: params,
    masterSalt: bytes.subarray(9, 9 + SALT_BYTES),
    salt: bytes.subarray(9 + SALT_BYTES, 9 + 2 * SALT_BYTES),
    nonce: bytes.subarray(9 + 2 * SALT_BYTES, SEALED_V2_HEADER_BYTES),
    headerBytes: SEALED_V2_HEADER_BYTES,
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
  /** `releaseOutputs`: free the decipher's outputs once copied (default as for sealing). */
  options: SealOptions = {},
): Promise<Buffer> => {
  checkPassphrase(passphrase);
  const header = readSealedHeader(sealed, what);
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const key = header.masterSalt
    ? hkdfObjectKey(await cachedMasterKey(passphrase, header.masterSalt, header.scrypt), header.salt)
    : await deriveKey(passphrase, header.salt, header.scrypt);
  const decipher = createDecipheriv('aes-256-gcm', key, header.nonce);
  decipher.setAAD(bytes.subarray(0, header.headerBytes));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  const ciphertext = bytes.subarray(header.headerBytes, bytes.length - TAG_BYTES);
  const body = Buffer.allocUnsafe(ciphertext.length);
  let offset = 0;
  // The decipher's outputs, like the cipher's, are freed once copied (see `OutputRelease`).
  const release = (options.releaseOutputs ?? RELEASE_OUTPUTS_BY_DEFAULT) ? new OutputRelease() : undefined;
  try {
    for (let at = 0; at < ciphertext.length; at += CHUNK) {
      const chunk = decipher.update(ciphertext.subarray(at, at + CHUNK));
      offset += chunk.copy(body, offset);
      release?.free(chunk);
    }
  } finally {
    release?.close();
  }
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
