import { beforeAll, describe, expect, it } from '@jest/globals';
import { encodeDelta, hashDelta } from '../offchain/index.js';
import { selectTrainerBackend } from './backend.js';
import { MNIST_PIXELS, type LabelledImages } from './mnist.js';
import { initAdapters, initCnn, quantizeMlp, type LoraSettings } from './mlp.js';
import { trainPartiesInOrder, trainPartiesInWorkers, type PartyJob } from './party-pool.js';
import { seededRandom } from './random.js';

const images = (count: number, seed: number): LabelledImages => {
  const random = seededRandom(seed);
  return {
    images: Uint8Array.from({ length: count * MNIST_PIXELS }, () => Math.floor(random() * 256)),
    labels: Uint8Array.from({ length: count }, (_, i) => (i * 7 + seed) % 10),
    count,
  };
};

describe('parties in worker threads', () => {
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm'], log: () => {} });
  });

  it('give the same deltas, bit for bit, as training one after another (CNN base)', async () => {
    const lora: LoraSettings = { rank: 2, alpha: 4, freezeA: false };
    // one pool (a worker loads offchain/ and TensorFlow.js: seconds), a CNN base; the MLP is the same engine
    for (const base of [
      quantizeMlp(
        initCnn(
          { height: 28, width: 28, channels: 1, stages: [{ kernel: 3, channels: 2, pool: true }] },
          [6, 10],
          2,
        ),
      ),
    ]) {
      const adapters = initAdapters(base, lora, 3);
      const jobs: PartyJob[] = [0, 1, 2].map((p) => ({
        partyId: `party-${p}`,
        shard: images(24, 10 + p),
        settings: { steps: 3, batchSize: 8, learningRate: 1e-2, weightDecay: 1e-3, seed: p },
      }));
      const lines: string[] = [];
      const parallel = await trainPartiesInWorkers(base, adapters, lora, jobs, {
        workers: 2,
        prefer: ['wasm'],
        log: (line) => lines.push(line),
      });
      const serial = trainPartiesInOrder(base, adapters, lora, jobs);
      expect(lines).toEqual(['trainer: 2 party worker threads, TensorFlow.js backend wasm']);
      expect(parallel.map((r) => r.partyId)).toEqual(['party-0', 'party-1', 'party-2']);
      expect(parallel.map((r) => hashDelta(r.delta))).toEqual(serial.map((r) => hashDelta(r.delta)));
      expect(encodeDelta(parallel[2]!.delta)).toEqual(encodeDelta(serial[2]!.delta));
      expect(new Set(parallel.map((r) => hashDelta(r.delta))).size).toBe(3);
    }
  }, 300_000); // a worker imports offchain/ and TensorFlow.js through tsx: slow on a loaded machine
});
