import { beforeAll, describe, expect, it } from '@jest/globals';
import { type Delta, getDeltaTensor, makeDelta } from '../offchain/index.js';
import { selectTrainerBackend } from './backend.js';
import { WasmConvEngine } from './conv-wasm.js';
import { denseQloraLayers } from './dense-qlora.js';
import { type Examples, fillImageBytes } from './examples.js';
import {
  type ConvFrontEnd,
  type LoraSettings,
  MNIST_CNN,
  initAdapters,
  initCnn,
  quantizeMlp,
} from './mlp.js';
import { evaluateMlp, evaluateQlora, qloraLossAndGradients, trainMlp, trainQlora } from './mlp-engine.js';
import type { LabelledImages } from './mnist.js';
import { gaussian, seededRandom } from './random.js';

/** 6x6 images of 2 channels; a pooled stage then an unpooled one (both paths of the engine). */
const front: ConvFrontEnd = {
  height: 6,
  width: 6,
  channels: 2,
  stages: [
    { kernel: 3, channels: 3, pool: true },
    { kernel: 3, channels: 4, pool: false },
  ],
};
const CLASSES = 4;

/** Random images whose class is the brightest quadrant of channel 0 (learnable in a few steps). */
const quadrants = (count: number, seed: number): Examples => {
  const random = seededRandom(seed);
  const x = new Float32Array(count * 72);
  const y = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    y[n] = n % CLASSES;
    for (let p = 0; p < 72; p++) {
      const pixel = p >> 1;
      const q = (Math.floor(pixel / 6) < 3 ? 0 : 2) + (pixel % 6 < 3 ? 0 : 1);
      x[n * 72 + p] = random() * 0.5 + (q === y[n] && p % 2 === 0 ? 0.5 : 0);
    }
  }
  return {
    inputs: 72,
    classes: CLASSES,
    count,
    fill(indices, xs, labels) {
      for (let i = 0; i < indices.length; i++) {
        xs.set(x.subarray(indices[i]! * 72, (indices[i]! + 1) * 72), i * 72);
        labels[i] = y[indices[i]!]!;
      }
    },
  };
};

/** Random 28x28 pixel images with random labels (the MNIST shapes, the byte path). */
const randomImages = (count: number, seed: number): LabelledImages => {
  const random = seededRandom(seed);
  return {
    images: Uint8Array.from({ length: count * 784 }, () => (random() < 0.7 ? 0 : Math.floor(random() * 256))),
    labels: Uint8Array.from({ length: count }, () => Math.floor(random() * 10)),
    count,
  };
};

/** Adapters with every B nonzero, so every path of the gradients carries signal. */
const busyAdapters = (adapters: Delta, seed: number): Delta => {
  const random = seededRandom(seed);
  return makeDelta(
    adapters.tensors.map((t) =>
      t.name.endsWith('.lora_B') ? { ...t, values: t.values.map(() => gaussian(random) * 0.2) } : t,
    ),
  );
};

const engineFor = (
  conv: ConvFrontEnd,
  base: ReturnType<typeof quantizeMlp>,
  adapters: Delta,
  lora: LoraSettings,
  batch: number,
): WasmConvEngine =>
  new WasmConvEngine(
    conv,
    denseQloraLayers(base.layers, lora, (name) => ({
      A: getDeltaTensor(adapters, `${name}.lora_A`).values,
      B: getDeltaTensor(adapters, `${name}.lora_B`).values,
    })),
    batch,
  );

const expectClose = (got: Float32Array, want: Float32Array, what: string): void => {
  expect(got).toHaveLength(want.length);
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  if (worst > 1e-4 * (1 + scale)) throw new Error(`${what}: max difference ${worst} (scale ${scale})`);
};

describe('the convolutional engine on the wasm kernel (WasmConvEngine)', () => {
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => {} });
  });

  it('gives the tensor engine’s logits, loss and A and B gradients (multi-channel input, pooled and unpooled stages)', () => {
    const lora: LoraSettings = { rank: 3, alpha: 6, freezeA: false };
    const base = quantizeMlp(initCnn(front, [5, CLASSES], 11));
    const adapters = busyAdapters(initAdapters(base, lora, 2), 3);
    const data = quadrants(5, 4);
    const want = qloraLossAndGradients(base, adapters, lora, data);
    const engine = engineFor(front, base, adapters, lora, 8);
    const labels = new Int32Array(5);
    data.fill([0, 1, 2, 3, 4], engine.input, labels);
    expectClose(engine.forward('floats', 5), want.logits, 'logits');
    const got = engine.lossAndGradients('floats', labels, 5, true);
    expect(got.loss).toBeCloseTo(want.loss, 5);
    expect([...got.grads.keys()].sort()).toEqual([...want.grads.keys()].sort());
    for (const [name, g] of want.grads) expectClose(got.grads.get(name)!, g, name);
  });

  it('matches the tensor engine on the MNIST network with pixel bytes, and with A frozen gives B only', () => {
    const lora: LoraSettings = { rank: 4, alpha: 8, freezeA: false };
    const base = quantizeMlp(initCnn(MNIST_CNN, [16, 10], 5));
    const adapters = busyAdapters(initAdapters(base, lora, 6), 7);
    const data = randomImages(3, 8);
    const want = qloraLossAndGradients(base, adapters, lora, data);
    const engine = engineFor(MNIST_CNN, base, adapters, lora, 4);
    const labels = new Int32Array(3);
    fillImageBytes(data, [0, 1, 2], engine.inputBytes, labels);
    const got = engine.lossAndGradients('bytes', labels, 3, true);
    expect(got.loss).toBeCloseTo(want.loss, 5);
    for (const [name, g] of want.grads) expectClose(got.grads.get(name)!, g, name);
    const onlyB = engine.lossAndGradients('bytes', labels, 3, false);
    expect([...onlyB.grads.keys()].sort()).toEqual([
      'conv1.lora_B',
      'conv2.lora_B',
      'fc1.lora_B',
      'fc2.lora_B',
    ]);
    for (const [name, g] of onlyB.grads) expectClose(g, want.grads.get(name)!, name);
  });

  it('trains as the tensor engine does (the same adapters within rounding), bit for bit the same twice, and evaluates alike', () => {
    const lora: LoraSettings = { rank: 2, alpha: 4, freezeA: true };
    const base = quantizeMlp(initCnn(front, [5, CLASSES], 9));
    const start = initAdapters(base, lora, 2);
    const data = quadrants(48, 2);
    const settings = { steps: 30, batchSize: 16, learningRate: 3e-2, weightDecay: 0, seed: 1 };
    const wasm = trainQlora(base, start, lora, data, settings);
    const again = trainQlora(base, start, lora, data, { ...settings, engine: 'dense' });
    const tensor = trainQlora(base, start, lora, data, { ...settings, engine: 'tensor' });
    expect(wasm.report.loss).toBeCloseTo(tensor.report.loss, 3);
    for (const t of wasm.adapters.tensors) {
      expect(getDeltaTensor(again.adapters, t.name).values).toEqual(t.values);
      const other = getDeltaTensor(tensor.adapters, t.name).values;
      t.values.forEach((v, i) => expect(Math.abs(v - other[i]!)).toBeLessThan(1e-3));
    }
    const before = evaluateQlora(base, start, lora, data);
    const after = evaluateQlora(base, wasm.adapters, lora, data);
    const afterTensor = evaluateQlora(base, wasm.adapters, lora, data, 1000, 'tensor');
    expect(after.loss).toBeLessThan(before.loss * 0.9);
    expect(after.accuracy).toBe(afterTensor.accuracy);
    expect(after.loss).toBeCloseTo(afterTensor.loss, 4);
  });

  it('pretrains every weight and bias in FP32 as the tensor engine does (within rounding), the same bits twice', () => {
    const fp = initCnn(front, [5, CLASSES], 12);
    const data = quadrants(48, 5);
    const settings = { steps: 6, batchSize: 16, learningRate: 1e-2, weightDecay: 1e-4, seed: 2 };
    const wasm = trainMlp(fp, data, settings);
    const again = trainMlp(fp, data, { ...settings, engine: 'dense' });
    const tensor = trainMlp(fp, data, { ...settings, engine: 'tensor' });
    expect(wasm.mlp.conv).toEqual(front);
    expect(wasm.report.loss).toBeCloseTo(tensor.report.loss, 3);
    wasm.mlp.layers.forEach((l, i) => {
      expect(again.mlp.layers[i]!.weight).toEqual(l.weight);
      expectClose(l.weight, tensor.mlp.layers[i]!.weight, `${l.name}.weight`);
      expectClose(l.bias, tensor.mlp.layers[i]!.bias, `${l.name}.bias`);
      expect(l.weight).not.toEqual(fp.layers[i]!.weight);
    });
    const longer = trainMlp(fp, data, { ...settings, steps: 60 });
    const trained = evaluateMlp(longer.mlp, data);
    expect(trained.loss).toBeLessThan(evaluateMlp(fp, data).loss * 0.7);
    const byTensors = evaluateMlp(longer.mlp, data, 1000, 'tensor');
    expect(trained.accuracy).toBe(byTensors.accuracy);
    expect(trained.loss).toBeCloseTo(byTensors.loss, 4);
  });
});
