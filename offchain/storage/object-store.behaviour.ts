/**
 * The behavioural test suite every ObjectStore passes: the local folder store in `npm test`
 * (local-folder-store.test.ts) and the S3 store against OpenStack Swift in `npm run
 * test:services` (s3-object-store.services.test.ts). Not a test file itself: each runs it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DmlError } from '../errors.js';
import { EncryptedContentStore, fetchSharedContent, storageSha256Hex } from './encrypted-content-store.js';
import type { ObjectStore } from './object-store.js';
import { readObjectGrant } from './read-object-grant.js';
import { openSealedObject, type ScryptParameters } from './sealed-object.js';

/** Cheap key derivation for tests (the header records it; production uses DEFAULT_SCRYPT). */
export const TEST_SCRYPT: ScryptParameters = { log2N: 12, r: 8, p: 1 };

export const expectDmlError = async (
  promise: Promise<unknown>,
  code: string,
  message?: RegExp,
): Promise<DmlError> => {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DmlError);
  const error = caught as DmlError;
  expect({ code: error.code, message: error.message }).toEqual({
    code,
    message: message ? expect.stringMatching(message) : expect.any(String),
  });
  return error;
};

export const describeObjectStoreBehaviour = (
  name: string,
  open: () => Promise<ObjectStore>,
  options: { readonly largeObjectBytes: number },
): void => {
  describe(`ObjectStore behaviour: ${name}`, () => {
    let store: ObjectStore;
    const passphrase = 'correct horse battery staple';
    let content: EncryptedContentStore;

    beforeAll(async () => {
      store = await open();
      content = new EncryptedContentStore(store, {
        prefix: 'party-a/round-1',
        passphrase,
        scrypt: TEST_SCRYPT,
      });
    });
    afterAll(async () => {
      await store?.close();
    });

    it('puts, gets, stats, lists by prefix, overwrites and deletes objects', async () => {
      const a = randomBytes(1000);
      const b = randomBytes(10);
      await store.put('crud/x/a.bin', a);
      await store.put('crud/x/b.bin', b);
      await store.put('crud/y.bin', Buffer.from('y'));
      await store.put('crudz', Buffer.alloc(0));
      expect(await store.get('crud/x/a.bin')).toEqual(a);
      expect(await store.stat('crud/x/b.bin')).toEqual({ key: 'crud/x/b.bin', size: 10 });
      expect(await store.stat('crud/none')).toBeUndefined();
      expect(await store.list('crud/x/')).toEqual([
        { key: 'crud/x/a.bin', size: 1000 },
        { key: 'crud/x/b.bin', size: 10 },
      ]);
      expect((await store.list('crud')).map((o) => o.key)).toEqual([
        'crud/x/a.bin',
        'crud/x/b.bin',
        'crud/y.bin',
        'crudz',
      ]);
      expect(await store.get('crudz')).toEqual(Buffer.alloc(0));
      await store.put('crud/x/a.bin', b);
      expect(await store.get('crud/x/a.bin')).toEqual(b);
      await store.delete('crud/x/a.bin');
      await store.delete('crud/x/a.bin');
      await expectDmlError(store.get('crud/x/a.bin'), 'STORAGE_NOT_FOUND', /crud\/x\/a\.bin/);
      expect((await store.list('crud/')).map((o) => o.key)).toEqual(['crud/x/b.bin', 'crud/y.bin']);
      for (const key of ['crud/x/b.bin', 'crud/y.bin', 'crudz']) await store.delete(key);
      expect(await store.list('crud')).toEqual([]);
    });

    it('refuses keys that could escape the store', async () => {
      for (const key of ['../x', 'a/../../x', '/abs', 'a//b', 'a b', ''])
        await expectDmlError(store.put(key, Buffer.from('x')), 'STORAGE_BAD_KEY');
    });

    it('stores encrypted deltas under the SHA-256 of their ciphertext and reads them back', async () => {
      const plaintext = Buffer.from('adapter delta '.repeat(1000));
      const ref = await content.put(plaintext);
      expect(ref.key).toBe(`party-a/round-1/${ref.sha256}`);
      const stored = await store.get(ref.key);
      expect(storageSha256Hex(stored)).toBe(ref.sha256);
      expect(stored.length).toBe(ref.size);
      expect(stored.includes(Buffer.from('adapter delta'))).toBe(false);
      expect(await content.get(ref.key, ref.sha256)).toEqual(plaintext);
      // A fresh salt and nonce per object: the same delta twice is two different objects.
      const again = await content.put(plaintext);
      expect(again.sha256).not.toBe(ref.sha256);
      expect((await store.list('party-a/round-1/')).map((o) => o.key)).toEqual([ref.key, again.key].sort());
    });

    it(`round-trips a ${options.largeObjectBytes / 2 ** 20} MiB object`, async () => {
      const plaintext = randomBytes(options.largeObjectBytes);
      const ref = await content.put(plaintext);
      expect(await store.stat(ref.key)).toEqual({ key: ref.key, size: ref.size });
      const back = await content.get(ref.key, ref.sha256);
      expect(back.equals(plaintext)).toBe(true);
      await store.delete(ref.key);
      expect(await store.stat(ref.key)).toBeUndefined();
    });

    it('shares an object with a peer through a time-limited read link', async () => {
      const plaintext = randomBytes(3000);
      const ref = await content.put(plaintext);
      const grant = await content.share(ref.key, { expiresInSeconds: 600 });
      expect(Date.parse(grant.expiresAt) - Date.now()).toBeGreaterThan(500_000);
      expect(await readObjectGrant(grant)).toEqual(await store.get(ref.key));
      expect(await fetchSharedContent(grant, ref, passphrase)).toEqual(plaintext);
      // A peer checks the link and the bytes against the commitment: a link that does not name
      // the committed key is refused, and so is a commitment to another hash.
      const other = await content.put(randomBytes(10));
      await expectDmlError(
        fetchSharedContent(grant, other, passphrase),
        'STORAGE_LINK_INVALID',
        /does not name/,
      );
      await expectDmlError(
        fetchSharedContent(grant, { key: ref.key, sha256: other.sha256 }, passphrase),
        'STORAGE_HASH_MISMATCH',
      );
      await expectDmlError(fetchSharedContent(grant, ref, 'not the passphrase'), 'STORAGE_DECRYPT_FAILED');
    });

    it('rejects an expired read link with a clear error', async () => {
      const ref = await content.put(randomBytes(100));
      const grant = await content.share(ref.key, {
        expiresInSeconds: 60,
        signedAt: new Date(Date.now() - 3600_000),
      });
      expect(Date.parse(grant.expiresAt)).toBeLessThan(Date.now());
      await expectDmlError(readObjectGrant(grant), 'STORAGE_LINK_EXPIRED', /expired at/);
      await expectDmlError(fetchSharedContent(grant, ref, passphrase), 'STORAGE_LINK_EXPIRED');
    });

    it('rejects a read link altered to live longer', async () => {
      const ref = await content.put(randomBytes(100));
      const grant = await content.share(ref.key, {
        expiresInSeconds: 60,
        signedAt: new Date(Date.now() - 3600_000),
      });
      const url = new URL(grant.url);
      const param = url.searchParams.has('X-Amz-Expires') ? 'X-Amz-Expires' : 'expires';
      url.searchParams.set(param, String(Number(url.searchParams.get(param)) + 7200));
      const error = await readObjectGrant({ url: url.toString(), expiresAt: grant.expiresAt }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DmlError);
      expect(['STORAGE_LINK_INVALID', 'STORAGE_LINK_REJECTED']).toContain((error as DmlError).code);
    });

    it('rejects a truncated object and a wrong passphrase clearly, never with garbage', async () => {
      const plaintext = randomBytes(5000);
      const ref = await content.put(plaintext);
      const stored = await store.get(ref.key);
      for (const length of [stored.length - 1, stored.length - 16, 2500, 40, 0]) {
        const truncated = stored.subarray(0, length);
        // Truncated in place: the content hash catches it...
        await store.put(ref.key, truncated);
        await expectDmlError(content.get(ref.key, ref.sha256), 'STORAGE_HASH_MISMATCH', /hashes to/);
        // ...and stored under its own hash, authentication does (the tag covers the length).
        const forged = await content.putSealed(truncated);
        const error = await content.get(forged.key).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(DmlError);
        expect(['STORAGE_DECRYPT_FAILED', 'STORAGE_NOT_SEALED']).toContain((error as DmlError).code);
        await store.delete(forged.key);
      }
      await store.put(ref.key, stored);
      expect((await content.get(ref.key, ref.sha256)).equals(plaintext)).toBe(true);
      const stranger = new EncryptedContentStore(store, {
        prefix: 'party-a/round-1',
        passphrase: 'not the passphrase',
        scrypt: TEST_SCRYPT,
      });
      await expectDmlError(stranger.get(ref.key, ref.sha256), 'STORAGE_DECRYPT_FAILED', /wrong passphrase/);
    });

    it('fails clearly, never with garbage, when one ciphertext bit is flipped in storage', async () => {
      const plaintext = randomBytes(5000);
      const ref = await content.put(plaintext);
      const stored = await store.get(ref.key);
      for (const index of [0, 4, 20, 100, stored.length - 1]) {
        const flipped = Buffer.from(stored);
        flipped[index]! ^= 0x10;
        // The storage operator rewrites the object in place: the content hash catches it...
        await store.put(ref.key, flipped);
        await expectDmlError(content.get(ref.key, ref.sha256), 'STORAGE_HASH_MISMATCH', /hashes to/);
        // ...and decryption alone catches it too (header, body or tag).
        const error = await openSealedObject(flipped, passphrase).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(DmlError);
        expect(['STORAGE_DECRYPT_FAILED', 'STORAGE_NOT_SEALED', 'STORAGE_FORMAT_UNSUPPORTED']).toContain(
          (error as DmlError).code,
        );
      }
      // A flipped body bit re-stored under its own hash: the key checks out, the commitment and
      // the authentication tag do not.
      const flipped = Buffer.from(stored);
      flipped[200]! ^= 0x01;
      const forged = await content.putSealed(flipped);
      await expectDmlError(content.get(forged.key, ref.sha256), 'STORAGE_HASH_MISMATCH', /commitment/);
      await expectDmlError(content.get(forged.key), 'STORAGE_DECRYPT_FAILED', /failed authentication/);
    });
  });
};
