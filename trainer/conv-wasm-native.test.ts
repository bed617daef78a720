import { beforeAll, describe, expect, it } from '@jest/globals';
import { type Delta, getDeltaTensor } from '../offchain/index.js';
import { selectTrainerBackend } from './backend.js';
import { WasmConvEngine } from './conv-wasm.js';
import { type DenseKernelChoice } from './dense-kernel.js';
import { denseQloraLayers } from './dense-qlora.js';
import { fillImageBytes } from './examples.js';
import {
  type ConvFrontEnd,
  type LoraSettings,
  type QuantizedMlp,
  MNIST_CNN,
  initAdapters,
  initCnn,
  quantizeMlp,
} from './mlp.js';
import { trainMlp, trainQlora } from './mlp-engine.js';
import {
  machineHasAvx2Fma,
  nativeAddonBuilt,
  nativeAddonRequired,
  randomMnistImages as images,
  withRandomB,
  describeNativeDense,
  nativeDenseAvailable,
  expectNativeCloseToWasm,
  restoreDenseNativeAfterEach,
} from './testing/index.js';

/** MNIST_CNN with odd widths (13 and 18 channels, 37 hidden): tails in every product. */
const oddCnn: ConvFrontEnd = {
  ...MNIST_CNN,
  stages: [
    { kernel: 3, channels: 13, pool: true },
    { kernel: 5, channels: 18, pool: false },
  ],
};

const engineOf = (
  products: DenseKernelChoice,
  base: QuantizedMlp,
  adapters: Delta,
  lora: LoraSettings,
  batch: number,
): WasmConvEngine =>
  new WasmConvEngine(
    base.conv!,
    denseQloraLayers(base.layers, lora, (name) => ({
      A: getDeltaTensor(adapters, `${name}.lora_A`).values,
      B: getDeltaTensor(adapters, `${name}.lora_B`).values,
    })),
    batch,
    { products },
  );

describe('the conv engine’s choice of products', () => {
  restoreDenseNativeAfterEach();

  it('is native wherever the addon is built on a CPU with AVX2 + FMA, and must be in CI', () => {
    if (nativeAddonBuilt && machineHasAvx2Fma()) expect(nativeDenseAvailable).toBe(true);
    if (nativeAddonRequired && machineHasAvx2Fma()) expect(nativeDenseAvailable).toBe(true);
  });

  it('follows DML_DENSE_NATIVE by default: =0 the wasm products, =1 the native ones (the same bits as naming them)', () => {
    const base = quantizeMlp(initCnn(MNIST_CNN, [16, 10], 3));
    const lora: LoraSettings = { rank: 2, alpha: 4, freezeA: true };
    const adapters = withRandomB(initAdapters(base, lora, 4), 5);
    const data = images(10, 6);
    const gradients = (products?: DenseKernelChoice): Map<string, Float32Array> => {
      const engine = products
        ? engineOf(products, base, adapters, lora, 10)
        : new WasmConvEngine(
            base.conv!,
            denseQloraLayers(base.layers, lora, (name) => ({
              A: getDeltaTensor(adapters, `${name}.lora_A`).values,
              B: getDeltaTensor(adapters, `${name}.lora_B`).values,
            })),
            10,
          );
      const labels = new Int32Array(10);
      fillImageBytes(data, [...Array(10).keys()], engine.inputBytes, labels);
      const { grads } = engine.lossAndGradients('bytes', labels, 10, false);
      return new Map([...grads].map(([k, v]) => [k, Float32Array.from(v)]));
    };
    process.env.DML_DENSE_NATIVE = '0';
    expect(gradients()).toEqual(gradients('wasm'));
    if (!nativeDenseAvailable) return;
    process.env.DML_DENSE_NATIVE = '1';
    const native = gradients('native');
    expect(gradients()).toEqual(native);
    // the two kernels' bits differ (the products are fused), so the above tells which one ran
    expect(native).not.toEqual(gradients('wasm'));
  });
});

describeNativeDense('the conv engine with the native products and conv planes', () => {
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => {} });
  });
  restoreDenseNativeAfterEach();

  for (const [label, front, hidden] of [
    ['MNIST_CNN', MNIST_CNN, 16],
    ['odd widths, a 5x5 unpooled stage', oddCnn, 37],
  ] as const)
    for (const trainA of [false, true])
      it(`gives the wasm engine’s logits, loss and gradients within float32 rounding (${label}, ${trainA ? 'A and B' : 'FFA-LoRA'})`, () => {
        const lora: LoraSettings = { rank: 3, alpha: 6, freezeA: !trainA };
        const base = quantizeMlp(initCnn(front, [hidden, 10], 11));
        const adapters = withRandomB(initAdapters(base, lora, 2), 3, 0.2);
        const data = images(21, 4);
        const labels = new Int32Array(21);
        const run = (products: DenseKernelChoice) => {
          const engine = engineOf(products, base, adapters, lora, 21);
          fillImageBytes(data, [...Array(21).keys()], engine.inputBytes, labels);
          const logits = engine.forward('bytes', 21);
          const { loss, grads } = engine.lossAndGradients('bytes', labels, 21, trainA);
          return { logits, loss, grads: new Map([...grads].map(([k, v]) => [k, Float32Array.from(v)])) };
        };
        const native = run('native');
        const wasm = run('wasm');
        expectNativeCloseToWasm(native.logits, wasm.logits, 'logits');
        expect(Math.abs(native.loss - wasm.loss)).toBeLessThan(1e-5 * Math.abs(wasm.loss));
        expect([...native.grads.keys()].sort()).toEqual([...wasm.grads.keys()].sort());
        expect(native.grads.size).toBe(trainA ? 8 : 4);
        for (const [name, g] of wasm.grads) {
          expect(g.some((v) => v !== 0)).toBe(true);
          expectNativeCloseToWasm(native.grads.get(name)!, g, name);
        }
        // not bit for bit: the products are fused (else this test would not need a tolerance)
        const again = run('native');
        expect(again.loss).toBe(native.loss);
        for (const [name, g] of native.grads) expect(again.grads.get(name)).toEqual(g);
      });

  it('trains and pretrains as the wasm engine does within float tolerance, the same bits twice', () => {
    const lora: LoraSettings = { rank: 4, alpha: 8, freezeA: false };
    const base = quantizeMlp(initCnn(oddCnn, [37, 10], 7));
    const start = withRandomB(initAdapters(base, lora, 8), 9);
    const data = images(40, 10);
    const settings = { steps: 3, batchSize: 13, learningRate: 1e-3, weightDecay: 0.01, seed: 2 };
    process.env.DML_DENSE_NATIVE = '1';
    const native = trainQlora(base, start, lora, data, settings);
    const nativeAgain = trainQlora(base, start, lora, data, settings);
    const fpNative = trainMlp(initCnn(oddCnn, [37, 10], 7), data, settings);
    process.env.DML_DENSE_NATIVE = '0';
    const wasm = trainQlora(base, start, lora, data, settings);
    const fpWasm = trainMlp(initCnn(oddCnn, [37, 10], 7), data, settings);
    expect(Math.abs(native.report.loss - wasm.report.loss)).toBeLessThan(1e-5);
    expect(Math.abs(fpNative.report.loss - fpWasm.report.loss)).toBeLessThan(1e-5);
    let differ = false; // the native products ran (their bits are not the wasm ones)
    for (const t of wasm.adapters.tensors) {
      const got = getDeltaTensor(native.adapters, t.name).values;
      expectNativeCloseToWasm(got, t.values, t.name);
      differ ||= got.some((v, i) => v !== t.values[i]);
      expect(getDeltaTensor(nativeAgain.adapters, t.name).values).toEqual(
        getDeltaTensor(native.adapters, t.name).values,
      );
    }
    expect(differ).toBe(true);
    fpWasm.mlp.layers.forEach((l, i) => {
      expectNativeCloseToWasm(fpNative.mlp.layers[i]!.weight, l.weight, `${l.name}.weight`);
      expectNativeCloseToWasm(fpNative.mlp.layers[i]!.bias, l.bias, `${l.name}.bias`);
    });
  });
});
