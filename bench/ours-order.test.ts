import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { epochSteps, parseDataOrder, partyIndices, publicIndices } from './ours-order.js';

const orderJson = (train: number[], partySize: number, publicStart: number): string =>
  JSON.stringify({ version: 1, train, partySize, publicStart });

describe('the shared data order', () => {
  it('cuts party shards and the public part in the file order', () => {
    const train = [7, 3, 9, 0, 1, 8, 2, 6, 4, 5];
    const order = parseDataOrder(orderJson(train, 3, 7), 10);
    expect(Array.from(partyIndices(order, 0))).toEqual([7, 3, 9]);
    expect(Array.from(partyIndices(order, 1))).toEqual([0, 1, 8]);
    expect(Array.from(publicIndices(order))).toEqual([6, 4, 5]);
    expect(() => partyIndices(order, 2)).toThrow(/no shard 2/);
    expect(() => partyIndices(order, -1)).toThrow(/no shard/);
  });

  it('rejects a train list that is not a permutation', () => {
    expect(() => parseDataOrder(orderJson([0, 1, 1], 1, 2), 3)).toThrow(/permutation/);
    expect(() => parseDataOrder(orderJson([0, 1, 3], 1, 2), 3)).toThrow(/permutation/);
    expect(() => parseDataOrder(orderJson([0, 1], 1, 2), 3)).toThrow(/3 indices/);
    expect(() => parseDataOrder(orderJson([0, 1, 2], 0, 2), 3)).toThrow(/partySize/);
    expect(() => parseDataOrder(orderJson([0, 1, 2], 1, 4), 3)).toThrow(/publicStart/);
  });

  it('counts the steps of an epoch with a short last batch', () => {
    expect(epochSteps(5500, 32)).toBe(172);
    expect(epochSteps(5000, 32, 5)).toBe(5 * 157);
    expect(epochSteps(64, 32)).toBe(2);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10000 }), fc.integer({ min: 1, max: 512 }), (n, b) => {
        const steps = epochSteps(n, b);
        // every example is covered once: steps - 1 full batches, then a non-empty last one
        expect((steps - 1) * b).toBeLessThan(n);
        expect(steps * b).toBeGreaterThanOrEqual(n);
      }),
    );
  });
});
