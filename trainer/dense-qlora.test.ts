import { beforeAll, describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { getDeltaTensor } from '../offchain/index.js';
import { selectTrainerBackend } from './backend.js';
import {
  DENSE_TENSOR_PRODUCT_MIN,
  denseQloraLayers,
  denseScratch,
  dequantizeNf4TransposedInto,
  dequantizeNf4WithLevels,
} from './dense-qlora.js';
import { MNIST_PIXELS } from './mnist.js';
import { initAdapters, initMlp, quantizeMlp, type LoraSettings, type QuantizedMlp } from './mlp.js';
import { trainQlora, type LocalTrainingSettings } from './mlp-engine.js';
import { dequantizeNf4, quantizeNf4 } from './nf4.js';
import { gaussian, seededRandom } from './random.js';
import { randomMnistImages as images, withRandomB } from './testing/index.js';

describe('the dense QLoRA engine', () => {
  // 784-64-64-10 with batch 16: the first layer's forward, the second's backward and A's
  // gradient are TensorFlow.js products, the rest plain loops
  let base: QuantizedMlp;
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => {} });
    base = quantizeMlp(initMlp([MNIST_PIXELS, 64, 64, 10], 5));
  });

  it('decodes NF4 as dequantizeNf4 does, bit for bit, in both layouts', () => {
    const random = seededRandom(9);
    const [rows, cols] = [7, 101]; // odd length, blocks straddling rows
    const q = quantizeNf4(
      Float32Array.from({ length: rows * cols }, () => gaussian(random)),
      [rows, cols],
    );
    const expected = dequantizeNf4(q);
    const levels = new Float32Array(16 * q.scaleCodes.length);
    const natural = new Float32Array(rows * cols);
    dequantizeNf4WithLevels(q, natural, levels);
    expect(natural).toEqual(expected);
    const stride = rows + 3;
    const transposed = new Float32Array(cols * stride).fill(42);
    dequantizeNf4TransposedInto(q, cols, transposed, stride, levels);
    for (let j = 0; j < rows; j++)
      for (let k = 0; k < cols; k++) expect(transposed[k * stride + j]).toBe(expected[j * cols + k]);
    expect(transposed[stride - 1]).toBe(42); // the room left for A's columns is untouched
  });

  it('holds one layer of decoded weights, not the whole base', () => {
    const lora: LoraSettings = { rank: 4, alpha: 8, freezeA: true };
    const adapters = initAdapters(base, lora, 1);
    const layers = denseQloraLayers(base.layers, lora, (name) => ({
      A: getDeltaTensor(adapters, `${name}.lora_A`).values,
      B: getDeltaTensor(adapters, `${name}.lora_B`).values,
    }));
    const scratch = denseScratch(layers, 16);
    const total = base.layers.reduce((acc, l) => acc + l.inputs * l.outputs, 0);
    expect(scratch.weight.length).toBe((64 + 4) * MNIST_PIXELS);
    expect(scratch.weight.length).toBeLessThan(total);
    expect(16 * (64 + 4) * MNIST_PIXELS).toBeGreaterThanOrEqual(DENSE_TENSOR_PRODUCT_MIN);
  });

  const cases: Array<{ name: string; lora: LoraSettings; settings: LocalTrainingSettings }> = [
    {
      name: 'FFA-LoRA with SGD and momentum, a short last batch',
      lora: { rank: 4, alpha: 8, freezeA: true },
      settings: {
        steps: 4,
        batchSize: 16,
        learningRate: 0.05,
        weightDecay: 0,
        seed: 2,
        order: 'given',
        optimizer: { kind: 'sgd', momentum: 0.9 },
      },
    },
    {
      name: 'A and B trained with AdamW, shuffled',
      lora: { rank: 4, alpha: 8, freezeA: false },
      settings: { steps: 4, batchSize: 16, learningRate: 1e-2, weightDecay: 0.01, seed: 3 },
    },
  ];
  for (const c of cases)
    it(`trains as the tensor engine does (${c.name}), deterministically`, () => {
      const data = images(56, 4);
      const start = withRandomB(initAdapters(base, c.lora, 7), 8);
      const tensor = trainQlora(base, start, c.lora, data, { ...c.settings, engine: 'tensor' });
      const dense = trainQlora(base, start, c.lora, data, {
        ...c.settings,
        engine: 'dense',
        denseKernel: 'tfjs',
      });
      const again = trainQlora(base, start, c.lora, data, {
        ...c.settings,
        engine: 'dense',
        denseKernel: 'tfjs',
      });
      expect(dense.report.samples).toBe(tensor.report.samples);
      expect(Math.abs(dense.report.loss - tensor.report.loss)).toBeLessThan(1e-5);
      let moved = 0;
      for (const t of tensor.adapters.tensors) {
        const got = getDeltaTensor(dense.adapters, t.name).values;
        expect(getDeltaTensor(again.adapters, t.name).values).toEqual(got);
        const before = getDeltaTensor(start, t.name).values;
        t.values.forEach((v, i) => {
          expect(Math.abs(got[i]! - v)).toBeLessThan(1e-5 + 1e-4 * Math.abs(v));
          if (got[i] !== before[i]) moved++;
        });
        if (c.lora.freezeA && t.name.endsWith('.lora_A')) expect(got).toEqual(before);
      }
      expect(moved).toBeGreaterThan(100);
    });

  it("decodes the base once per run in the 'per-round' mode, with the same bits as per step", () => {
    const { lora, settings } = cases[0]!;
    const data = images(56, 4);
    const start = withRandomB(initAdapters(base, lora, 7), 8);
    const perStep = trainQlora(base, start, lora, data, {
      ...settings,
      engine: 'dense',
      denseKernel: 'tfjs',
    });
    const tensorsBefore = tf.memory().numTensors;
    const perRound = trainQlora(base, start, lora, data, {
      ...settings,
      decodeBase: 'per-round',
      denseKernel: 'tfjs',
    });
    expect(tf.memory().numTensors).toBe(tensorsBefore); // the kept tensors are freed at the end
    expect(perRound.report.loss).toBe(perStep.report.loss);
    for (const t of perStep.adapters.tensors)
      expect(getDeltaTensor(perRound.adapters, t.name).values).toEqual(t.values);
  });
});
