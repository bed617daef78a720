import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createHash, randomBytes } from 'node:crypto';
import { BackgroundSha256 } from './background-sha256.js';

/** Hashes `ranges` of `bytes` (in order) through the hasher. */
const hashRanges = async (
  hasher: BackgroundSha256,
  buffer: SharedArrayBuffer | ArrayBuffer,
  ranges: ReadonlyArray<readonly [number, number]>,
): Promise<string> => {
  hasher.begin(buffer);
  for (const [at, length] of ranges) hasher.update(at, length);
  return hasher.digest();
};

const expected = (bytes: Uint8Array, ranges: ReadonlyArray<readonly [number, number]>): string => {
  const hash = createHash('sha256');
  for (const [at, length] of ranges) hash.update(bytes.subarray(at, at + length));
  return hash.digest('hex');
};

/** Cuts [0, size) into consecutive ranges at the given points. */
const cut = (size: number, points: number[]): Array<[number, number]> => {
  const edges = [0, ...[...new Set(points.map((p) => p % (size + 1)))].sort((a, b) => a - b), size];
  const ranges: Array<[number, number]> = [];
  for (let i = 1; i < edges.length; i++) ranges.push([edges[i - 1]!, edges[i]! - edges[i - 1]!]);
  return ranges;
};

describe('BackgroundSha256', () => {
  it('hashes shared memory on its thread exactly as createHash does, for any cut into ranges', async () => {
    const hasher = new BackgroundSha256();
    const shared = new SharedArrayBuffer(64 * 1024);
    const bytes = new Uint8Array(shared);
    bytes.set(randomBytes(shared.byteLength));
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: shared.byteLength }),
          fc.array(fc.nat(), { maxLength: 12 }),
          async (size, points) => {
            const ranges = cut(size, points);
            expect(await hashRanges(hasher, shared, ranges)).toBe(expected(bytes, ranges));
          },
        ),
        { numRuns: 40 },
      );
    } finally {
      await hasher.close();
    }
  });

  it('hashes ordinary memory on the calling thread, and refuses a second job while one is open', async () => {
    const hasher = new BackgroundSha256();
    const plain = randomBytes(10_000);
    const buffer = plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.byteLength);
    const ranges = cut(plain.length, [17, 4096]);
    hasher.begin(buffer);
    expect(hasher.busy).toBe(true);
    expect(() => hasher.begin(buffer)).toThrow(/already open/);
    for (const [at, length] of ranges) hasher.update(at, length);
    expect(await hasher.digest()).toBe(expected(plain, ranges));
    expect(hasher.busy).toBe(false);
    await hasher.close();
  });

  it('starts a new thread after close', async () => {
    const hasher = new BackgroundSha256();
    const shared = new SharedArrayBuffer(1000);
    new Uint8Array(shared).fill(7);
    const whole: Array<[number, number]> = [[0, 1000]];
    const first = await hashRanges(hasher, shared, whole);
    await hasher.close();
    expect(await hashRanges(hasher, shared, whole)).toBe(first);
    expect(first).toBe(expected(new Uint8Array(shared), whole));
    await hasher.close();
  });
});
