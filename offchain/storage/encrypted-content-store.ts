import { createHash } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { DmlError } from '../errors.js';
import { normaliseKeyPrefix } from './object-key.js';
import type { GrantOptions, ObjectGrant, ObjectStore } from './object-store.js';
import { sharedBackgroundSha256 } from './background-sha256.js';
import { type ReadGrantOptions, grantNamesKey, readObjectGrant } from './read-object-grant.js';
import {
  type MasterKey,
  type ScryptParameters,
  deriveMasterKey,
  objectKeyFromMaster,
  openSealedObject,
  sealedLength,
  sealObjectPipelined,
  sealObjectWithKey,
} from './sealed-object.js';

/**
 * Encrypted, content-addressed objects on top of any `ObjectStore`.
 *
 * `put(plaintext)` seals the bytes (AES-256-GCM; format version 2: the store's scrypt master key,
 * HKDF per object under a fresh salt), hashes
 * the ciphertext with SHA-256 and stores it under `prefix + hex(sha256)`. That hash is what a
 * party commits in the head (`deltaHash`) next to the key (`storageKey`). Every read checks that
 * the bytes hash to the hash in the key AND to the committed hash before decrypting: a swapped,
 * truncated or altered object is rejected with `STORAGE_HASH_MISMATCH`, and a wrong passphrase
 * with `STORAGE_DECRYPT_FAILED`.
 */
export interface ContentReference {
  /** `prefix + sha256`, the object's key in its owner's bucket. */
  readonly key: string;
  /** Lower-case hex SHA-256 of the stored (encrypted) bytes. */
  readonly sha256: string;
  /** Stored (encrypted) size in bytes. */
  readonly size: number;
}

const HEX64 = /^[0-9a-f]{64}$/;

export const storageSha256Hex = (bytes: Uint8Array): string =>
  createHash('sha256').update(bytes).digest('hex');

/** The key of content with hash `sha256` under `prefix`. */
export const storageKeyForHash = (prefix: string, sha256: string): string => {
  if (!HEX64.test(sha256))
    throw new DmlError('STORAGE_BAD_HASH', `${JSON.stringify(sha256)} is not a hex SHA-256`);
  return `${normaliseKeyPrefix(prefix)}${sha256}`;
};

/** The hash a content key names (its last path segment). */
export const hashOfStorageKey = (key: string): string => {
  const last = key.slice(key.lastIndexOf('/') + 1);
  if (!HEX64.test(last))
    throw new DmlError('STORAGE_BAD_KEY', `${key} is not a content key (it does not end in a hex SHA-256)`);
  return last;
};

/**
 * Checks fetched bytes against their key and the committed hash; returns nothing, throws
 * `STORAGE_HASH_MISMATCH` naming what differs.
 */
export const verifyStoredContent = (bytes: Uint8Array, key: string, committedSha256: string): void => {
  const actual = storageSha256Hex(bytes);
  const named = hashOfStorageKey(key);
  if (named !== committedSha256.toLowerCase())
    throw new DmlError(
      'STORAGE_HASH_MISMATCH',
      `key ${key} names hash ${named} but the commitment says ${committedSha256}`,
      { hint: 'the commitment and the storage key disagree: treat the party as faulty' },
    );
  if (actual !== named)
    throw new DmlError(
      'STORAGE_HASH_MISMATCH',
      `object ${key} hashes to ${actual}, not to the committed ${named} (${bytes.length} bytes)`,
      { hint: 'the stored bytes were altered or replaced' },
    );
};

export interface EncryptedContentStoreOptions {
  /** Key prefix, e.g. MY_STORJ_UPLOAD_PATH (a `/` is added when missing). */
  readonly prefix: string;
  readonly passphrase: string;
  /** Key derivation cost for new objects (default `DEFAULT_SCRYPT`). */
  readonly scrypt?: ScryptParameters;
  /**
   * The salt of the store's scrypt master key (16 bytes; default: random per store). A cohort's
   * parties pass `cohortMasterSalt(cohortId)`: they share the passphrase, so a per-store salt buys
   * nothing against a guesser (one store's objects suffice to test a guess), while a shared one
   * lets a party open its peers' deltas with the one scrypt it pays for its own store.
   */
  readonly masterSalt?: Uint8Array;
  /**
   * Hash the ciphertext on a second thread while encrypting (`sealObjectPipelined`): with a core
   * free, the put's critical path holds about max(encrypt, hash) instead of their sum; with none,
   * the hashing thread waits for a core and the put takes longer than inline. Default:
   * `hashesOnSecondThreadByDefault()`; `true`/`false` force a mode.
   */
  readonly hashOnSecondThread?: boolean;
}

/**
 * The default hashing mode: a second thread when the machine has two cores or more and the
 * 1-minute load average is below the number of cores (so a core is probably free: the average
 * counts this process's own work, e.g. the training that just ran, and the put's own). Measured on
 * 2 cores (design_docs/storage.md, "The hash on the second core"): at load 1.3-1.9 a 64 MiB
 * encrypted put costs 1-2% more wall time than a plain one with it, ~10% inline; at load 4-24 the
 * second thread is ~5 points worse than inline.
 */
export const hashesOnSecondThreadByDefault = (): boolean => {
  const cores = availableParallelism();
  return cores > 1 && loadavg()[0]! < cores;
};

export class EncryptedContentStore {
  readonly prefix: string;
  /**
   * The store's master key (sealed-object format version 2): one scrypt per store, started at
   * construction so that it is ready by the first put; each object's key is then an HKDF of it
   * under a fresh object salt (microseconds, not an scrypt per object).
   */
  private master: Promise<MasterKey> | undefined;
  /**
   * The buffer the last put sealed into, reused by the next one: filling a fresh 64 MiB buffer
   * costs about as much CPU as encrypting into it (page faults). A put in flight owns it; a
   * concurrent put gets its own. The object stores keep no reference once `put` settles. It
   * lives in shared memory so that the hashing thread reads the ciphertext in place; one buffer
   * serves both hashing modes (the seal writes into shared memory by memcpy, as fast as into
   * ordinary memory: see `copyChunk` in sealed-object.ts), so a change of mode costs no new
   * 64 MiB of pages.
   */
  private scratch: Buffer | undefined;

  constructor(
    readonly objects: ObjectStore,
    private readonly options: EncryptedContentStoreOptions,
  ) {
    this.prefix = normaliseKeyPrefix(options.prefix);
    this.master = this.deriveMaster();
  }

  private deriveMaster(): Promise<MasterKey> {
    const derived = deriveMasterKey(this.options.passphrase, this.options.scrypt, this.options.masterSalt);
    // reported by the put that awaits it; the next put derives again
    derived.catch(() => {
      if (this.master === derived) this.master = undefined;
    });
    return derived;
  }

  /** Resolves once the store's master key is derived (benchmarks wait for it). */
  async ready(): Promise<void> {
    this.master ??= this.deriveMaster();
    await this.master;
  }

  /** Encrypts and stores `plaintext` under a fresh object salt (hence key) and nonce. */
  async put(plaintext: Uint8Array): Promise<ContentReference> {
    this.master ??= this.deriveMaster();
    const objectKey = this.master.then(objectKeyFromMaster); // each key seals one object only
    const needed = sealedLength(plaintext.length, 2);
    const backing =
      this.scratch && this.scratch.length >= needed
        ? this.scratch
        : Buffer.from(new SharedArrayBuffer(needed));
    if (backing === this.scratch) this.scratch = undefined;
    try {
      const { sealed, sha256 } =
        (this.options.hashOnSecondThread ?? hashesOnSecondThreadByDefault())
          ? await sealObjectPipelined(plaintext, await objectKey, sharedBackgroundSha256, backing)
          : sealObjectWithKey(plaintext, await objectKey, backing);
      // A fresh salt and nonce make a new key: no need to look for an existing object first.
      return await this.store(sealed, sha256, false);
    } finally {
      if (!this.scratch || this.scratch.length < backing.length) this.scratch = backing;
    }
  }

  /** Stores bytes sealed already (e.g. by `sealObject`); storing them twice writes them once. */
  putSealed(sealed: Uint8Array): Promise<ContentReference> {
    return this.store(sealed, storageSha256Hex(sealed), true);
  }

  private async store(sealed: Uint8Array, sha256: string, checkExisting: boolean): Promise<ContentReference> {
    const key = storageKeyForHash(this.prefix, sha256);
    const reference = { key, sha256, size: sealed.length };
    if (checkExisting && (await this.objects.stat(key))?.size === sealed.length) return reference;
    try {
      await this.objects.put(key, sealed, { sha256 });
    } catch (error) {
      // A put is atomic: if the object is visible now, the upload did complete (e.g. only its
      // acknowledgement was lost), and under a content key it can only be these bytes.
      const after = await this.objects.stat(key).catch(() => undefined);
      if (after?.size === sealed.length) return reference;
      throw error;
    }
    return reference;
  }

  /** Downloads, checks against the key and `committedSha256` (default: the key's), decrypts. */
  async get(key: string, committedSha256: string = hashOfStorageKey(key)): Promise<Buffer> {
    const sealed = await this.objects.get(key);
    verifyStoredContent(sealed, key, committedSha256);
    return openSealedObject(sealed, this.options.passphrase, `object ${key}`);
  }

  /** A time-limited read link for a peer. */
  share(key: string, options: GrantOptions): Promise<ObjectGrant> {
    return this.objects.grantRead(key, options);
  }

  /**
   * A peer's object through the read grant it published (`fetchSharedContent` with this store's
   * passphrase, the cohort's): the link must name the committed key, the bytes must hash to the
   * key and the commitment, and they must open.
   */
  getShared(
    grant: ObjectGrant,
    commitment: { readonly key: string; readonly sha256: string },
    options: ReadGrantOptions = {},
  ): Promise<Buffer> {
    return fetchSharedContent(grant, commitment, this.options.passphrase, options);
  }

  /** Drops the buffer reused between puts (the object store is the caller's to close). */
  releaseBuffers(): void {
    this.scratch = undefined;
  }
}

/**
 * A peer's read: follows the owner's grant, checks the bytes against the committed key and hash,
 * and decrypts them with the passphrase the cohort shares for deltas.
 */
export const fetchSharedContent = async (
  grant: ObjectGrant,
  commitment: { readonly key: string; readonly sha256: string },
  passphrase: string,
  options: ReadGrantOptions = {},
): Promise<Buffer> => {
  if (!grantNamesKey(grant, commitment.key))
    throw new DmlError(
      'STORAGE_LINK_INVALID',
      `the read link ${grant.url.split('?')[0]} does not name the committed key ${commitment.key}`,
      { hint: 'the commitment and its read grant disagree: treat the party as faulty' },
    );
  const sealed = await readObjectGrant(grant, options);
  verifyStoredContent(sealed, commitment.key, commitment.sha256);
  return openSealedObject(sealed, passphrase, `object ${commitment.key}`);
};
