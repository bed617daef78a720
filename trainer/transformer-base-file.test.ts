import { describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initTransformer, quantizeTransformer } from './transformer.js';
import {
  decodeQuantizedTransformer,
  encodeQuantizedTransformer,
  loadQuantizedTransformer,
  saveQuantizedTransformer,
} from './transformer-base-file.js';

const base = quantizeTransformer(
  initTransformer({ dModel: 16, layers: 1, heads: 2, context: 8, mlpRatio: 2, activation: 'relu' }, 4),
);

describe('transformer base files', () => {
  it('round-trips a base bit for bit, with the same hash', () => {
    const decoded = decodeQuantizedTransformer(encodeQuantizedTransformer(base));
    expect(decoded.hash).toBe(base.hash);
    expect(decoded.shape).toEqual(base.shape);
    expect(decoded.layers.map((l) => l.name)).toEqual(base.layers.map((l) => l.name));
    expect(encodeQuantizedTransformer(decoded)).toEqual(encodeQuantizedTransformer(base));
  });

  it('the hash covers the shape and every parameter', () => {
    const other = quantizeTransformer(
      initTransformer({ dModel: 16, layers: 1, heads: 2, context: 8, mlpRatio: 2, activation: 'relu' }, 5),
    );
    expect(other.hash).not.toBe(base.hash);
    const bytes = encodeQuantizedTransformer(base);
    bytes[bytes.length - 1] ^= 1; // the head's bias
    expect(decodeQuantizedTransformer(bytes).hash).not.toBe(base.hash);
  });

  it('saves by hash, refuses a file that does not hash as agreed, a truncated one, a wrong magic', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dml-lm-base-'));
    try {
      const path = await saveQuantizedTransformer(dir, 'lm-test', base);
      expect(path).toContain(base.hash);
      expect((await loadQuantizedTransformer(path, base.hash)).hash).toBe(base.hash);
      await expect(loadQuantizedTransformer(path, '00'.repeat(32))).rejects.toThrow('expected');
      const bytes = encodeQuantizedTransformer(base);
      await writeFile(join(dir, 'cut'), bytes.subarray(0, bytes.length - 3));
      await expect(loadQuantizedTransformer(join(dir, 'cut'))).rejects.toThrow('truncated');
      const wrong = Uint8Array.from(bytes);
      wrong[3] = 0x42;
      expect(() => decodeQuantizedTransformer(wrong)).toThrow('bad magic');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
