import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cohortMasterSalt } from './cohort-master-salt.js';
import { EncryptedContentStore } from './encrypted-content-store.js';
import { LocalFolderStore } from './local-folder-store.js';
import { expectDmlError, TEST_SCRYPT } from './object-store.behaviour.js';
import { deriveMasterKey, readSealedHeader, scryptDerivationCount } from './sealed-object.js';

describe('cohortMasterSalt', () => {
  it('is 16 bytes, the same for a cohort id every time, and differs between cohorts', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(cohortMasterSalt(a)).toHaveLength(16);
        expect(Buffer.from(cohortMasterSalt(a))).toEqual(Buffer.from(cohortMasterSalt(a)));
        if (a !== b) expect(Buffer.from(cohortMasterSalt(a))).not.toEqual(Buffer.from(cohortMasterSalt(b)));
      }),
    );
  });

  it('refuses a master salt of another length', async () => {
    await expectDmlError(deriveMasterKey('p', TEST_SCRYPT, new Uint8Array(15)), 'STORAGE_MASTER_SALT');
  });
});

describe("a cohort's delta stores under the cohort's master salt", () => {
  it("seal under it, and a party opens a peer's delta without another scrypt (a store of its own salt costs one)", async () => {
    const root = await mkdtemp(join(tmpdir(), 'dml-cohort-salt-'));
    try {
      const objects = await LocalFolderStore.open(root);
      const passphrase = `cohort-${Math.random()}`; // fresh: nothing of it in this process's cache
      const salt = cohortMasterSalt('cohort-under-test');
      const store = (party: string, masterSalt?: Uint8Array) =>
        new EncryptedContentStore(objects, {
          prefix: `deltas/${party}`,
          passphrase,
          scrypt: TEST_SCRYPT,
          ...(masterSalt ? { masterSalt } : {}),
        });
      const before = scryptDerivationCount();
      const alice = store('alice', salt);
      const bob = store('bob', salt);
      await Promise.all([alice.ready(), bob.ready()]);
      expect(scryptDerivationCount() - before).toBe(1); // one for the cohort in this process

      const fromAlice = await alice.put(Buffer.from('alice delta'));
      const header = readSealedHeader(await objects.get(fromAlice.key), 'alice delta');
      expect(header.masterSalt && Buffer.from(header.masterSalt)).toEqual(Buffer.from(salt));
      expect((await bob.get(fromAlice.key, fromAlice.sha256)).toString()).toBe('alice delta');
      expect(scryptDerivationCount() - before).toBe(1);

      const loner = store('loner'); // a random master salt of its own
      await loner.ready();
      const fromLoner = await loner.put(Buffer.from('loner delta'));
      expect(scryptDerivationCount() - before).toBe(2);
      expect((await bob.get(fromLoner.key, fromLoner.sha256)).toString()).toBe('loner delta');
      expect(scryptDerivationCount() - before).toBe(2); // the loner's key is cached by now
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
