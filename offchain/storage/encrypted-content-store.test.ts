import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  hashOfStorageKey,
  storageKeyForHash,
  storageSha256Hex,
  verifyStoredContent,
} from './encrypted-content-store.js';
import { expectDmlError } from './object-store.behaviour.js';

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
