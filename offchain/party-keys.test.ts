import { describe, expect, it } from '@jest/globals';
import { sign, verify, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DmlError } from './errors.js';
import { ed25519PublicKey, generatePartyKeys, readPartyKeys, writePartyKeys } from './party-keys.js';

describe('party keys', () => {
  it('derives the RFC 8032 public key of a seed (test vector 1)', () => {
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    expect(Buffer.from(ed25519PublicKey(seed)).toString('hex')).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
  });

  it('writes keys that read back equal and sign verifiably', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-keys-'));
    const keys = generatePartyKeys();
    await writePartyKeys(dir, keys);
    const loaded = await readPartyKeys(dir);
    expect(loaded).toEqual(keys);
    const privateKey = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), loaded.hydraSigningKey]),
      format: 'der',
      type: 'pkcs8',
    });
    const message = Buffer.from('training snapshot');
    const signature = sign(null, message, privateKey);
    const publicKey = createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), loaded.hydraVerificationKey]),
      format: 'der',
      type: 'spki',
    });
    expect(verify(null, message, publicKey, signature)).toBe(true);
  });

  it('rejects a malformed key file with a clear error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-keys-'));
    await writePartyKeys(dir, generatePartyKeys());
    await writeFile(join(dir, 'hydra.sk'), '{"type":"HydraSigningKey_ed25519","cborHex":"5820zz"}');
    await expect(readPartyKeys(dir)).rejects.toThrow(DmlError);
    await expect(readPartyKeys(dir)).rejects.toThrow(/hydra\.sk does not hold a 32-byte key/);
  });

  it('rejects a verification key that does not match its signing key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-keys-'));
    const keys = generatePartyKeys();
    await writePartyKeys(dir, { ...keys, hydraVerificationKey: generatePartyKeys().hydraVerificationKey });
    await expect(readPartyKeys(dir)).rejects.toThrow(/does not match the Hydra signing key/);
  });

  it('names the missing file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-keys-'));
    await expect(readPartyKeys(dir)).rejects.toThrow(/payment\.sk is missing/);
  });
});
