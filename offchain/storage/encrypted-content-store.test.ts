import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  hashOfStorageKey,
  storageKeyForHash,
  storageSha256Hex,
  verifyStoredContent,
} from './encrypted-content-store.js';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EncryptedContentStore } from './encrypted-content-store.js';
import { LocalFolderStore } from './local-folder-store.js';
import { expectDmlError, TEST_SCRYPT } from './object-store.behaviour.js';
import type { ObjectStore } from './object-store.js';
import { readSealedHeader, sealObject } from './sealed-object.js';

const check = (f: () => void): Promise<void> => Promise.resolve().then(f);

describe('content addressing', () => {
  it('derives the key from the hash under the prefix, and back', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.constantFrom('', 'dml', 'dml/', 'a/b/c/'),
        (bytes, prefix) => {
          const hash = storageSha256Hex(bytes);
          const key = storageKeyForHash(prefix, hash);
          expect(key.endsWith(hash)).toBe(true);
          expect(hashOfStorageKey(key)).toBe(hash);
          expect(() => verifyStoredContent(bytes, key, hash)).not.toThrow();
        },
      ),
    );
    expect(storageKeyForHash('dml', 'ab'.repeat(32))).toBe(`dml/${'ab'.repeat(32)}`);
  });

  it('rejects bytes that do not match the key or the commitment', async () => {
    const bytes = Buffer.from('sealed delta');
    const hash = storageSha256Hex(bytes);
    const key = storageKeyForHash('p', hash);
    const other = storageSha256Hex(Buffer.from('other'));
    await expectDmlError(
      check(() => verifyStoredContent(Buffer.from('sealed deltA'), key, hash)),
      'STORAGE_HASH_MISMATCH',
      /hashes to/,
    );
    await expectDmlError(
      check(() => verifyStoredContent(bytes, key, other)),
      'STORAGE_HASH_MISMATCH',
      /commitment says/,
    );
    await expectDmlError(
      check(() => hashOfStorageKey('p/not-a-hash')),
      'STORAGE_BAD_KEY',
    );
    await expectDmlError(
      check(() => storageKeyForHash('p', 'XYZ')),
      'STORAGE_BAD_HASH',
    );
  });
});

describe('EncryptedContentStore', () => {
  /** A local store whose puts complete but whose acknowledgement is lost the first `lost` times. */
  const flakyStore = async (lost: number) => {
    const root = await mkdtemp(join(tmpdir(), 'dml-content-'));
    const inner = await LocalFolderStore.open(root);
    let puts = 0;
    const declared: Array<string | undefined> = [];
    const store: ObjectStore = {
      kind: inner.kind,
      location: inner.location,
      put: async (key, body, options) => {
        puts += 1;
        declared.push(options?.sha256);
        await inner.put(key, body);
        if (puts <= lost) throw new Error('connection reset after the object was stored');
      },
      get: (key) => inner.get(key),
      stat: (key) => inner.stat(key),
      list: (prefix) => inner.list(prefix),
      delete: (key) => inner.delete(key),
      grantRead: (key, options) => inner.grantRead(key, options),
      close: async () => rm(root, { recursive: true, force: true }),
    };
    return { store, puts: () => puts, declared };
  };

  it('treats a put whose acknowledgement was lost as done: the object is visible and whole', async () => {
    const { store, puts } = await flakyStore(1);
    const content = new EncryptedContentStore(store, { prefix: 'd', passphrase: 'p', scrypt: TEST_SCRYPT });
    const plaintext = Buffer.from('delta');
    const ref = await content.put(plaintext);
    expect(puts()).toBe(1);
    expect(await content.get(ref.key, ref.sha256)).toEqual(plaintext);
    await store.close();
  });

  it('hands the object store the hash it computed, so that S3 signs with it instead of hashing again', async () => {
    const { store, declared } = await flakyStore(0);
    const content = new EncryptedContentStore(store, { prefix: 'd', passphrase: 'p', scrypt: TEST_SCRYPT });
    const a = await content.put(randomBytes(3 * 1024 * 1024 + 5));
    const b = await content.putSealed(await sealObject(Buffer.from('delta'), 'p', { scrypt: TEST_SCRYPT }));
    expect(declared).toEqual([a.sha256, b.sha256]);
    for (const ref of [a, b]) expect(storageSha256Hex(await store.get(ref.key))).toBe(ref.sha256);
    await store.close();
  });

  it('writes the same sealed bytes once', async () => {
    const { store, puts } = await flakyStore(0);
    const content = new EncryptedContentStore(store, { prefix: 'd', passphrase: 'p', scrypt: TEST_SCRYPT });
    const sealed = await sealObject(Buffer.from('delta'), 'p', { scrypt: TEST_SCRYPT });
    const a = await content.putSealed(sealed);
    const b = await content.putSealed(sealed);
    expect(b).toEqual(a);
    expect(puts()).toBe(1);
    await store.close();
  });

  it('reuses its sealing buffer without corrupting objects stored before', async () => {
    const { store } = await flakyStore(0);
    const content = new EncryptedContentStore(store, { prefix: 'd', passphrase: 'p', scrypt: TEST_SCRYPT });
    const plaintexts = [3000, 1000, 5000, 5000, 0].map((n, i) => Buffer.alloc(n, i + 1));
    const refs = [];
    for (const p of plaintexts) refs.push(await content.put(p));
    refs.push(...(await Promise.all(plaintexts.slice(0, 2).map((p) => content.put(p)))));
    const expected = [...plaintexts, ...plaintexts.slice(0, 2)];
    for (const [i, ref] of refs.entries())
      expect((await content.get(ref.key, ref.sha256)).equals(expected[i]!)).toBe(true);
    await store.close();
  });

  it('reports a put that failed for good, and derives a fresh key for every object', async () => {
    const root = await mkdtemp(join(tmpdir(), 'dml-content-'));
    const inner = await LocalFolderStore.open(root);
    const failing: ObjectStore = Object.assign(Object.create(inner) as LocalFolderStore, {
      put: async () => {
        throw new Error('gateway gone');
      },
    });
    const content = new EncryptedContentStore(failing, { prefix: 'd', passphrase: 'p', scrypt: TEST_SCRYPT });
    await expect(content.put(Buffer.from('x'))).rejects.toThrow('gateway gone');
    expect(await inner.list('')).toEqual([]);
    const ok = new EncryptedContentStore(inner, { prefix: 'd', passphrase: 'p', scrypt: TEST_SCRYPT });
    const [r1, r2] = await Promise.all([ok.put(Buffer.from('x')), ok.put(Buffer.from('x'))]);
    const salts = await Promise.all(
      [r1!, r2!].map(async (r) => readSealedHeader(await inner.get(r.key)).salt.toString('hex')),
    );
    expect(salts[0]).not.toBe(salts[1]);
    // format version 2: both under the store's one master salt
    const headers = await Promise.all([r1!, r2!].map(async (r) => readSealedHeader(await inner.get(r.key))));
    expect(headers.map((h) => h.version)).toEqual([2, 2]);
    expect(headers[0]!.masterSalt!.equals(headers[1]!.masterSalt!)).toBe(true);
    await rm(root, { recursive: true, force: true });
  });

  it('seals the same readable objects with the hash inline or on a second thread', async () => {
    const { store } = await flakyStore(0);
    const plaintext = randomBytes(2 * 1024 * 1024 + 3);
    for (const hashOnSecondThread of [false, true]) {
      const content = new EncryptedContentStore(store, {
        prefix: 'd',
        passphrase: 'p',
        scrypt: TEST_SCRYPT,
        hashOnSecondThread,
      });
      const ref = await content.put(plaintext);
      const stored = await store.get(ref.key);
      expect(storageSha256Hex(stored)).toBe(ref.sha256);
      expect(readSealedHeader(stored).version).toBe(2);
      expect((await content.get(ref.key, ref.sha256)).equals(plaintext)).toBe(true);
    }
    // One store switching modes: its one reused buffer serves both.
    const switching = new EncryptedContentStore(store, { prefix: 's', passphrase: 'p', scrypt: TEST_SCRYPT });
    const modes = switching as unknown as { options: { hashOnSecondThread?: boolean } };
    for (const [i, mode] of [false, true, true, false, false, true].entries()) {
      modes.options = { ...modes.options, hashOnSecondThread: mode };
      const body = Buffer.alloc(100_000 + i, i);
      const ref = await switching.put(body);
      expect((await switching.get(ref.key, ref.sha256)).equals(body)).toBe(true);
    }
    await store.close();
  });
});
