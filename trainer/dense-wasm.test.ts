import { beforeAll, describe, expect, it } from '@jest/globals';
import { DmlError, getDeltaTensor } from '../offchain/index.js';
import { selectTrainerBackend } from './backend.js';
import { denseLossAndGradients, denseQloraLayers, denseScratch } from './dense-qlora.js';
import { WasmDenseEngine } from './dense-wasm.js';
import { asExamples } from './examples.js';
import { loadMnist, MNIST_PIXELS, selectImages } from './mnist.js';
import { initAdapters, initMlp, quantizeMlp, type LoraSettings, type QuantizedMlp } from './mlp.js';
import { denseKernelOf, evaluateQlora, trainQlora, type LocalTrainingSettings } from './mlp-engine.js';
import { randomMnistImages as images, withRandomB } from './testing/index.js';

const close = (actual: Float32Array, expected: Float32Array, what: string): void => {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < actual.length; i++)
    if (!(Math.abs(actual[i]! - expected[i]!) <= 1e-5 * scale + 1e-7))
      throw new Error(`${what}[${i}]: wasm ${actual[i]} tfjs path ${expected[i]} (largest ${scale})`);
};

describe('the dense engine on the WebAssembly SIMD kernel', () => {
  // 784-64-48-10: two ReLU layers, so the input gradient goes through a hidden layer and a mask
  let base: QuantizedMlp;
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => {} });
    base = quantizeMlp(initMlp([MNIST_PIXELS, 64, 48, 10], 5));
  });

  for (const [name, freezeA, n] of [
    ['FFA-LoRA, a full batch of 16', true, 16],
    ['A and B trained, a short batch of 13', false, 13],
    ['A and B trained, batch of 37 (32-, 4- and 1-sample paths)', false, 37],
  ] as const)
    it(`computes the loss and gradients of the plain-JS/TensorFlow.js path (${name})`, () => {
      const lora: LoraSettings = { rank: 6, alpha: 12, freezeA };
      const adapters = withRandomB(initAdapters(base, lora, 3), 4);
      const layers = denseQloraLayers(base.layers, lora, (l) => ({
        A: getDeltaTensor(adapters, `${l}.lora_A`).values,
        B: getDeltaTensor(adapters, `${l}.lora_B`).values,
      }));
      const data = asExamples(images(n, 6));
      const x = new Float32Array(n * MNIST_PIXELS);
      const labels = new Int32Array(n);
      data.fill(
        Int32Array.from({ length: n }, (_, i) => i),
        x,
        labels,
      );
      const expected = denseLossAndGradients(layers, x, labels, n, denseScratch(layers, 40), !freezeA);
      const expectedGrads = new Map([...expected.grads].map(([k, v]) => [k, Float32Array.from(v)]));
      const engine = new WasmDenseEngine(layers, 40);
      const got = engine.lossAndGradients(x, labels, n, !freezeA);
      expect(Math.abs(got.loss - expected.loss)).toBeLessThan(1e-5);
      expect([...got.grads.keys()].sort()).toEqual([...expectedGrads.keys()].sort());
      for (const [k, v] of expectedGrads) close(got.grads.get(k)!, v, k);
      // same inputs, same bits; and the input view gives what a copied batch gives
      engine.input.set(x);
      const again = engine.lossAndGradients(engine.input, labels, n, !freezeA);
      expect(again.loss).toBe(got.loss);
      for (const [k, v] of expectedGrads) close(again.grads.get(k)!, v, k);
    });

  it('trains as the TensorFlow.js path does, deterministically (SGD, a short last batch)', () => {
    const lora: LoraSettings = { rank: 4, alpha: 8, freezeA: true };
    const settings: LocalTrainingSettings = {
      steps: 4,
      batchSize: 16,
      learningRate: 0.05,
      weightDecay: 0,
      seed: 2,
      order: 'given',
      optimizer: { kind: 'sgd', momentum: 0.9 },
    };
    const data = images(56, 4);
    const start = withRandomB(initAdapters(base, lora, 7), 8);
    const tfjs = trainQlora(base, start, lora, data, { ...settings, denseKernel: 'tfjs' });
    const wasm = trainQlora(base, start, lora, data, { ...settings, denseKernel: 'wasm' });
    const again = trainQlora(base, start, lora, data, { ...settings, denseKernel: 'wasm' });
    // images go in as bytes (mapped and transposed by the kernel), examples as floats: same bits
    const floats = trainQlora(base, start, lora, asExamples(data), { ...settings, denseKernel: 'wasm' });
    expect(floats.report.loss).toBe(wasm.report.loss);
    expect(wasm.report.samples).toBe(tfjs.report.samples);
    expect(Math.abs(wasm.report.loss - tfjs.report.loss)).toBeLessThan(1e-5);
    expect(again.report.loss).toBe(wasm.report.loss);
    for (const t of tfjs.adapters.tensors) {
      const got = getDeltaTensor(wasm.adapters, t.name).values;
      expect(getDeltaTensor(again.adapters, t.name).values).toEqual(got);
      expect(getDeltaTensor(floats.adapters, t.name).values).toEqual(got);
      close(got, t.values, t.name);
    }
  });

  it('reaches the accuracy of the TensorFlow.js path on real MNIST (a small run)', async () => {
    const { train, test } = await loadMnist();
    const small = quantizeMlp(initMlp([MNIST_PIXELS, 64, 10], 11));
    const lora: LoraSettings = { rank: 8, alpha: 16, freezeA: false };
    const start = initAdapters(small, lora, 12);
    const shard = selectImages(
      train,
      Int32Array.from({ length: 3200 }, (_, i) => i),
    );
    const held = selectImages(
      test,
      Int32Array.from({ length: 2000 }, (_, i) => i),
    );
    const settings: LocalTrainingSettings = {
      steps: 200,
      batchSize: 32,
      learningRate: 1e-2,
      weightDecay: 0,
      seed: 13,
    };
    const before = evaluateQlora(small, start, lora, held).accuracy;
    const accuracy = (denseKernel: 'tfjs' | 'wasm') =>
      evaluateQlora(
        small,
        trainQlora(small, start, lora, shard, { ...settings, denseKernel }).adapters,
        lora,
        held,
      ).accuracy;
    const [tfjs, wasm] = [accuracy('tfjs'), accuracy('wasm')];
    expect(wasm).toBeGreaterThan(before + 0.3);
    expect(Math.abs(wasm - tfjs)).toBeLessThanOrEqual(0.01);
  });

  it('is chosen by the settings, then DML_DENSE_KERNEL; a wrong value is a DmlError', () => {
    const saved = process.env.DML_DENSE_KERNEL;
    try {
      process.env.DML_DENSE_KERNEL = 'wasm';
      expect(denseKernelOf({})).toBe('wasm');
      expect(denseKernelOf({ denseKernel: 'tfjs' })).toBe('tfjs');
      process.env.DML_DENSE_KERNEL = 'tfjs';
      expect(denseKernelOf({})).toBe('tfjs');
      process.env.DML_DENSE_KERNEL = 'gpu';
      expect(() => denseKernelOf({})).toThrow(DmlError);
    } finally {
      if (saved === undefined) delete process.env.DML_DENSE_KERNEL;
      else process.env.DML_DENSE_KERNEL = saved;
    }
  });
});
