import { DmlError } from '../offchain/index.js';
import { gamma, seededRandom, shuffleInPlace } from './random.js';

/**
 * The original experiment's split: the first `parties * shardSize` indices of a random
 * permutation of [0, n), cut into equal shards.
 */
export const iidShards = (n: number, parties: number, shardSize: number, seed: number): Int32Array[] => {
  if (parties * shardSize > n)
    throw new DmlError('SHARDS', `${parties} shards of ${shardSize} exceed ${n} samples`);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  shuffleInPlace(order, seededRandom(seed));
  return Array.from({ length: parties }, (_, p) => order.slice(p * shardSize, (p + 1) * shardSize));
};

/**
 * Non-IID: each party's class proportions drawn from Dirichlet(alpha); each party gets
 * `shardSize` samples drawn without replacement per class following its proportions (a class
 * that runs out is topped up from the classes with samples left).
 */
export const dirichletShards = (
  labels: ArrayLike<number>,
  indices: ArrayLike<number>,
  parties: number,
  shardSize: number,
  alpha: number,
  seed: number,
  classes = 10,
): Int32Array[] => {
  const random = seededRandom(seed);
  const pools: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < indices.length; i++) pools[labels[indices[i]!]!]!.push(indices[i]!);
  for (const pool of pools) shuffleInPlace(pool, random);
  if (parties * shardSize > indices.length)
    throw new DmlError('SHARDS', `${parties} shards of ${shardSize} exceed ${indices.length} samples`);
  return Array.from({ length: parties }, () => {
    const g = Array.from({ length: classes }, () => gamma(random, alpha));
    const total = g.reduce((s, x) => s + x, 0);
    const want = g.map((x) => Math.floor((x / total) * shardSize));
    const out: number[] = [];
    want.forEach((w, c) => out.push(...pools[c]!.splice(0, w)));
    while (out.length < shardSize) {
      const c = want.indexOf(Math.max(...want.map((w, k) => (pools[k]!.length > 0 ? w : -1))));
      out.push(pools[c]!.pop()!);
    }
    return Int32Array.from(out);
  });
};
