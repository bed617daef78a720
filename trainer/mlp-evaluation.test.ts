import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { selectTrainerBackend } from './backend.js';
import { WasmDenseEngine } from './dense-wasm.js';
import { imageExamples } from './examples.js';
import { initAdapters, initMlp, quantizeMlp, type LoraSettings } from './mlp.js';
import { evaluateQlora } from './mlp-engine.js';
import { randomMnistImages, withRandomB } from './testing/index.js';

beforeAll(async () => {
  await selectTrainerBackend({ log: () => {} });
});

describe("an MLP's evaluation on the dense kernel (what scoring runs)", () => {
  const lora: LoraSettings = { rank: 4, alpha: 8, freezeA: true };
  const base = quantizeMlp(initMlp([784, 37, 10], 11));
  const adapters = withRandomB(initAdapters(base, lora, 12), 13, 0.3);

  it("gives the TensorFlow.js path's loss and accuracy, in batches with a short last one, on images and on examples", () => {
    const images = randomMnistImages(253, 14);
    for (const data of [images, imageExamples(images)])
      for (const batch of [1000, 64, 7]) {
        const kernel = evaluateQlora(base, adapters, lora, data, batch);
        const tensor = evaluateQlora(base, adapters, lora, data, batch, 'tensor');
        expect(kernel.count).toBe(253);
        expect(kernel.loss).toBeCloseTo(tensor.loss, 4);
        // a logit tie broken the other way by float rounding may move one image at most
        expect(Math.abs(kernel.accuracy - tensor.accuracy)).toBeLessThanOrEqual(1 / 253);
      }
  });

  it('runs on the dense kernel by default, and on TensorFlow.js with DML_DENSE_KERNEL=tfjs', () => {
    const forward = jest.spyOn(WasmDenseEngine.prototype, 'forward');
    const saved = process.env.DML_DENSE_KERNEL;
    try {
      delete process.env.DML_DENSE_KERNEL;
      evaluateQlora(base, adapters, lora, randomMnistImages(20, 17));
      expect(forward).toHaveBeenCalledTimes(1);
      process.env.DML_DENSE_KERNEL = 'tfjs';
      evaluateQlora(base, adapters, lora, randomMnistImages(20, 17));
      expect(forward).toHaveBeenCalledTimes(1);
    } finally {
      forward.mockRestore();
      if (saved === undefined) delete process.env.DML_DENSE_KERNEL;
      else process.env.DML_DENSE_KERNEL = saved;
    }
  });

  it('follows the adapters: a different B gives a different loss', () => {
    const images = randomMnistImages(100, 15);
    const other = withRandomB(adapters, 16, 0.3);
    expect(evaluateQlora(base, other, lora, images).loss).not.toBeCloseTo(
      evaluateQlora(base, adapters, lora, images).loss,
      3,
    );
  });
});
