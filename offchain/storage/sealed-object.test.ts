import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DmlError } from '../errors.js';
import { expectDmlError, TEST_SCRYPT } from './object-store.behaviour.js';
import { createHash, hkdfSync, randomBytes, scryptSync } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import {
  deriveObjectKey,
  openSealedObject,
  deriveMasterKey,
  objectKeyFromMaster,
  readSealedHeader,
  SEALED_OVERHEAD_BYTES,
  SEALED_V2_OVERHEAD_BYTES,
  sealObject,
  sealObjectPipelined,
  sealObjectWithKey,
} from './sealed-object.js';
import { BackgroundSha256 } from './background-sha256.js';

const passphrase = 'a passphrase of the party';

describe('sealObject / openSealedObject', () => {
  it('round-trips any bytes and adds exactly the header and tag', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (plaintext) => {
        const sealed = await sealObject(plaintext, passphrase, { scrypt: TEST_SCRYPT });
        expect(sealed.length).toBe(plaintext.length + SEALED_OVERHEAD_BYTES);
        expect(new Uint8Array(await openSealedObject(sealed, passphrase))).toEqual(plaintext);
      }),
      { numRuns: 25 },
    );
  });

  it('fails with a DmlError, never with output, when any single bit is flipped', async () => {
    const plaintext = Buffer.from('delta bytes '.repeat(20));
    const sealed = await sealObject(plaintext, passphrase, { scrypt: TEST_SCRYPT });
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: sealed.length * 8 - 1 }), async (bit) => {
        const flipped = Buffer.from(sealed);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        const result = await openSealedObject(flipped, passphrase).catch((e: unknown) => e);
        expect(result).toBeInstanceOf(DmlError);
        expect(['STORAGE_DECRYPT_FAILED', 'STORAGE_NOT_SEALED', 'STORAGE_FORMAT_UNSUPPORTED']).toContain(
          (result as DmlError).code,
        );
      }),
      { numRuns: 60 },
    );
  });

  it('uses a fresh salt and nonce per object and records the KDF parameters', async () => {
    const a = await sealObject(Buffer.from('same'), passphrase, { scrypt: TEST_SCRYPT });
    const b = await sealObject(Buffer.from('same'), passphrase, { scrypt: TEST_SCRYPT });
    const ha = readSealedHeader(a);
    const hb = readSealedHeader(b);
    expect(ha.version).toBe(1);
    expect(ha.scrypt).toEqual(TEST_SCRYPT);
    expect(ha.salt.equals(hb.salt)).toBe(false);
    expect(ha.nonce.equals(hb.nonce)).toBe(false);
    expect(a.subarray(SEALED_OVERHEAD_BYTES - 16).equals(b.subarray(SEALED_OVERHEAD_BYTES - 16))).toBe(false);
  });

  it('says clearly what is wrong', async () => {
    const sealed = await sealObject(Buffer.from('x'), passphrase, { scrypt: TEST_SCRYPT });
    await expectDmlError(openSealedObject(sealed, 'wrong'), 'STORAGE_DECRYPT_FAILED', /wrong passphrase/);
    await expectDmlError(
      openSealedObject(Buffer.from('plain text, not sealed'), passphrase),
      'STORAGE_NOT_SEALED',
    );
    const v3 = Buffer.from(sealed);
    v3[4] = 3;
    await expectDmlError(openSealedObject(v3, passphrase), 'STORAGE_FORMAT_UNSUPPORTED', /version 3/);
    // a version-1 object relabelled as version 2 names the wrong key derivation for it
    const relabelled = Buffer.from(sealed);
    relabelled[4] = 2;
    await expectDmlError(
      openSealedObject(relabelled, passphrase),
      'STORAGE_FORMAT_UNSUPPORTED',
      /key derivation/,
    );
    // A forged header cannot ask for an unbounded key derivation.
    const huge = Buffer.from(sealed);
    huge[6] = 40;
    await expectDmlError(openSealedObject(huge, passphrase), 'STORAGE_FORMAT_UNSUPPORTED', /key derivation/);
    await expectDmlError(sealObject(Buffer.from('x'), ''), 'STORAGE_PASSPHRASE_MISSING');
  });

  it('hashes the sealed object in the same pass, across chunk boundaries', async () => {
    const objectKey = await deriveObjectKey(passphrase, TEST_SCRYPT);
    for (const size of [0, 1, 1024 * 1024 - 1, 1024 * 1024, 2.5 * 1024 * 1024]) {
      const plaintext = Buffer.alloc(size, size % 251);
      const { sealed, sha256 } = sealObjectWithKey(plaintext, objectKey);
      expect(sha256).toBe(createHash('sha256').update(sealed).digest('hex'));
      expect((await openSealedObject(sealed, passphrase)).equals(plaintext)).toBe(true);
    }
  });

  it('writes the same bytes into ordinary and shared scratch memory (memcpy into shared memory)', async () => {
    const objectKey = await deriveObjectKey(passphrase, TEST_SCRYPT);
    const capacity = 2.5 * 1024 * 1024 + SEALED_OVERHEAD_BYTES + 7;
    const scratches = {
      ordinary: Buffer.alloc(capacity, 0xa5),
      shared: Buffer.from(new SharedArrayBuffer(capacity)).fill(0x5a),
    };
    for (const size of [0, 15, 1024 * 1024 + 1, 2.5 * 1024 * 1024]) {
      const plaintext = randomBytes(size);
      for (const [kind, scratch] of Object.entries(scratches)) {
        const { sealed, sha256 } = sealObjectWithKey(plaintext, objectKey, scratch);
        expect({ kind, same: sealed.buffer === scratch.buffer }).toEqual({ kind, same: true });
        expect(sealed.length).toBe(size + SEALED_OVERHEAD_BYTES);
        expect(sha256).toBe(createHash('sha256').update(sealed).digest('hex'));
        expect((await openSealedObject(sealed, passphrase)).equals(plaintext)).toBe(true);
      }
    }
  });

  it('frees the cipher outputs once copied, when asked: same bytes, nothing left for the collector', async () => {
    const objectKey = await deriveObjectKey(passphrase, TEST_SCRYPT);
    const size = 16 * 1024 * 1024 + 5;
    const plaintext = randomBytes(size);
    const scratch = Buffer.from(new SharedArrayBuffer(size + SEALED_OVERHEAD_BYTES));
    const external = () => getHeapStatistics().external_memory;
    const settle = () => new Promise((resolve) => setTimeout(resolve, 20)); // the port's close
    await settle();
    const buffersBefore = process.memoryUsage().arrayBuffers;
    const externalBefore = external();
    const { sealed, sha256 } = sealObjectWithKey(plaintext, objectKey, scratch, { releaseOutputs: true });
    // 16 MiB of cipher outputs were made: V8 no longer counts them (no collection to trigger),
    // and once the seal's port has closed they are freed.
    expect(external() - externalBefore).toBeLessThan(2 * 1024 * 1024);
    await settle();
    expect(process.memoryUsage().arrayBuffers - buffersBefore).toBeLessThan(4 * 1024 * 1024);
    expect(sha256).toBe(createHash('sha256').update(sealed).digest('hex'));
    expect((await openSealedObject(sealed, passphrase)).equals(plaintext)).toBe(true);
    const flipped = Buffer.from(sealed);
    flipped[SEALED_OVERHEAD_BYTES + 3 * 1024 * 1024]! ^= 0x10;
    await expectDmlError(openSealedObject(flipped, passphrase), 'STORAGE_DECRYPT_FAILED');
    // Opening frees the decipher's outputs the same way.
    const openedBefore = external();
    const opened = await openSealedObject(sealed, passphrase, 'object', { releaseOutputs: true });
    expect(opened.equals(plaintext)).toBe(true);
    expect(external() - openedBefore).toBeLessThan(size + 2 * 1024 * 1024); // the result only
    // Any size, from none to a chunk and a byte.
    for (const n of [0, 1, 15, 1024 * 1024 + 1]) {
      const small = randomBytes(n);
      const out = sealObjectWithKey(small, objectKey, undefined, { releaseOutputs: true });
      expect(out.sha256).toBe(createHash('sha256').update(out.sealed).digest('hex'));
      const back = await openSealedObject(out.sealed, passphrase, 'object', { releaseOutputs: true });
      expect(back.equals(small)).toBe(true);
    }
    // The same with the hash on a second thread.
    const hasher = new BackgroundSha256();
    try {
      const piped = await sealObjectPipelined(plaintext, objectKey, hasher, scratch, {
        releaseOutputs: true,
      });
      expect(piped.sha256).toBe(createHash('sha256').update(piped.sealed).digest('hex'));
      expect((await openSealedObject(piped.sealed, passphrase)).equals(plaintext)).toBe(true);
    } finally {
      await hasher.close();
    }
  });

  it('seals the same format with the hash computed on a second thread', async () => {
    const objectKey = await deriveObjectKey(passphrase, TEST_SCRYPT);
    const hasher = new BackgroundSha256();
    const scratch = Buffer.from(new SharedArrayBuffer(3 * 1024 * 1024));
    try {
      for (const size of [0, 1, 1024 * 1024 - 1, 1024 * 1024, 2.5 * 1024 * 1024]) {
        const plaintext = randomBytes(size);
        const { sealed, sha256 } = await sealObjectPipelined(plaintext, objectKey, hasher, scratch);
        expect(sealed.buffer).toBe(scratch.buffer);
        expect(sealed.length).toBe(size + SEALED_OVERHEAD_BYTES);
        expect(sha256).toBe(createHash('sha256').update(sealed).digest('hex'));
        expect((await openSealedObject(sealed, passphrase)).equals(plaintext)).toBe(true);
      }
      // Two at once: the second finds the thread busy and hashes inline; both are right.
      const [a, b] = await Promise.all(
        [randomBytes(200_000), randomBytes(300_000)].map(async (plaintext) => {
          const out = await sealObjectPipelined(
            plaintext,
            objectKey,
            hasher,
            Buffer.from(new SharedArrayBuffer(400_000)),
          );
          return { plaintext, ...out };
        }),
      );
      for (const x of [a!, b!]) {
        expect(x.sha256).toBe(createHash('sha256').update(x.sealed).digest('hex'));
        expect((await openSealedObject(x.sealed, passphrase)).equals(x.plaintext)).toBe(true);
      }
      // Without shared memory (or without a thread) it hashes inline, same result.
      const plaintext = randomBytes(5000);
      const inline = await sealObjectPipelined(plaintext, objectKey, hasher);
      expect(inline.sha256).toBe(createHash('sha256').update(inline.sealed).digest('hex'));
      expect(hasher.busy).toBe(false);
    } finally {
      await hasher.close();
    }
  });

  it('uses the strong default key derivation when none is given', async () => {
    const sealed = await sealObject(Buffer.from('x'), passphrase);
    expect(readSealedHeader(sealed).scrypt).toEqual({ log2N: 15, r: 8, p: 1 });
    expect((await openSealedObject(sealed, passphrase)).toString()).toBe('x');
  });
});

describe('format version 2: one scrypt master key per store, HKDF per object', () => {
  it('round-trips, with a fresh object salt, key and nonce per object under one master salt', async () => {
    const master = await deriveMasterKey(passphrase, TEST_SCRYPT);
    const plaintext = randomBytes(3 * 1024 * 1024 + 7);
    const a = sealObjectWithKey(plaintext, objectKeyFromMaster(master)).sealed;
    const b = sealObjectWithKey(plaintext, objectKeyFromMaster(master)).sealed;
    expect(a.length).toBe(plaintext.length + SEALED_V2_OVERHEAD_BYTES);
    const [ha, hb] = [readSealedHeader(a), readSealedHeader(b)];
    expect(ha).toMatchObject({ version: 2, scrypt: TEST_SCRYPT, headerBytes: 53 });
    expect(ha.masterSalt!.equals(master.salt)).toBe(true);
    expect(hb.masterSalt!.equals(master.salt)).toBe(true);
    expect(ha.salt.equals(hb.salt)).toBe(false);
    expect(ha.nonce.equals(hb.nonce)).toBe(false);
    expect(a.subarray(53, 1053).equals(b.subarray(53, 1053))).toBe(false);
    expect((await openSealedObject(a, passphrase)).equals(plaintext)).toBe(true);
    expect((await openSealedObject(b, passphrase)).equals(plaintext)).toBe(true);
    // another store of the same party: another master salt
    expect((await deriveMasterKey(passphrase, TEST_SCRYPT)).salt.equals(master.salt)).toBe(false);
  });

  it('the object key is HKDF-SHA256 of the scrypt master key under the object salt', async () => {
    const master = await deriveMasterKey(passphrase, TEST_SCRYPT);
    const scrypted = scryptSync(passphrase, master.salt, 32, {
      N: 2 ** TEST_SCRYPT.log2N,
      r: TEST_SCRYPT.r,
      p: TEST_SCRYPT.p,
    });
    expect(master.key.equals(scrypted)).toBe(true);
    const objectKey = objectKeyFromMaster(master);
    const expected = Buffer.from(hkdfSync('sha256', scrypted, objectKey.salt, 'dml sealed object v2', 32));
    expect(objectKey.key.equals(expected)).toBe(true);
  });

  it('fails with a DmlError, never with output, when any single bit is flipped', async () => {
    const master = await deriveMasterKey(passphrase, TEST_SCRYPT);
    const sealed = sealObjectWithKey(randomBytes(300), objectKeyFromMaster(master)).sealed;
    for (let index = 0; index < sealed.length; index += 7) {
      const flipped = Buffer.from(sealed);
      flipped[index]! ^= 1 << (index % 8);
      const result = await openSealedObject(flipped, passphrase).then(
        () => 'opened',
        (e: unknown) => e,
      );
      expect(result).toBeInstanceOf(DmlError);
      expect(['STORAGE_DECRYPT_FAILED', 'STORAGE_NOT_SEALED', 'STORAGE_FORMAT_UNSUPPORTED']).toContain(
        (result as DmlError).code,
      );
    }
    await expectDmlError(openSealedObject(sealed, 'wrong'), 'STORAGE_DECRYPT_FAILED', /wrong passphrase/);
    await expectDmlError(
      openSealedObject(sealed.subarray(0, 60), passphrase),
      'STORAGE_NOT_SEALED',
      /version 2/,
    );
  });

  it('still reads version-1 objects (scrypt per object)', async () => {
    const v1 = await sealObject(Buffer.from('an old delta'), passphrase, { scrypt: TEST_SCRYPT });
    expect(readSealedHeader(v1).version).toBe(1);
    expect((await openSealedObject(v1, passphrase)).toString()).toBe('an old delta');
  });
});
