import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type Delta, makeDelta } from '../offchain/index.js';
import { selectTrainerBackend } from './backend.js';
import { bitsPerByte } from './byte-text.js';
import { initAdapters, type LoraSettings } from './mlp.js';
import { gaussian, seededRandom } from './random.js';
import { initTransformer, quantizeTransformer, type TransformerShape } from './transformer.js';
import {
  DEFAULT_LM_KERNEL,
  evaluateQloraTransformer,
  lmKernelOf,
  qloraTransformerLogits,
  qloraTransformerLossAndGradients,
  trainQloraTransformer,
  trainTransformer,
  transformerLossAndGradients,
} from './transformer-engine.js';
import {
  WasmTransformerEngine,
  wasmQloraTransformerLossAndGradients,
  wasmTransformerLossAndGradients,
} from './transformer-wasm.js';

const gelu: TransformerShape = {
  dModel: 16,
  layers: 2,
  heads: 2,
  context: 12,
  mlpRatio: 2,
  activation: 'gelu',
};
const relu: TransformerShape = { ...gelu, layers: 1, heads: 4, activation: 'relu' };

/** Adapters with random B (B = 0 would make A's gradients 0). */
const randomB = (adapters: Delta, seed: number, std = 0.3): Delta => {
  const random = seededRandom(seed);
  return makeDelta(
    adapters.tensors.map((t) =>
      t.name.endsWith('.lora_B') ? { ...t, values: t.values.map(() => gaussian(random) * std) } : t,
    ),
  );
};

/** Text that is not random (a model can learn it) and covers many byte values. */
const text = (length: number, seed: number): Uint8Array => {
  const words = ['the ', 'whale ', 'sea ', 'ship ', 'Ahab ', 'white ', 'and ', 'of ', 'call me ', '.\n'];
  const random = seededRandom(seed);
  let s = '';
  while (s.length < length) s += words[Math.floor(random() * words.length)];
  return new Uint8Array(Buffer.from(s.slice(0, length)));
};

/** |a - b| <= tolerance * max |b| + 1e-7, elementwise. */
const close = (name: string, a: Float32Array, b: Float32Array, tolerance: number): void => {
  expect(a.length).toBe(b.length);
  const scale = b.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  for (let i = 0; i < a.length; i++)
    if (!(Math.abs(a[i]! - b[i]!) <= tolerance * scale + 1e-7))
      throw new Error(`${name}[${i}]: wasm ${a[i]} tfjs ${b[i]} (max |g| ${scale})`);
};

describe('the transformer step on the wasm kernel (trainer/transformer-wasm.ts)', () => {
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => undefined });
  });

  const saved = process.env.DML_LM_KERNEL;
  afterEach(() => {
    if (saved === undefined) delete process.env.DML_LM_KERNEL;
    else process.env.DML_LM_KERNEL = saved;
  });

  const bytes = text(3000, 1);
  const cases: Array<[string, TransformerShape, LoraSettings, number[], number]> = [
    ['GELU, 2 layers, A and B trained', gelu, { rank: 3, alpha: 6, freezeA: false }, [0, 17, 400, 1203], 12],
    ['ReLU, 4 heads, FFA-LoRA (B alone)', relu, { rank: 2, alpha: 2, freezeA: true }, [5, 900], 12],
    ['a window shorter than the context', gelu, { rank: 2, alpha: 4, freezeA: false }, [3, 77, 1500], 9],
  ];
  for (const [label, shape, lora, starts, window] of cases)
    it(`loss and gradients equal TensorFlow.js autodiff's within float tolerance: ${label}`, () => {
      const base = quantizeTransformer(initTransformer(shape, 7));
      const adapters = randomB(initAdapters(base, lora, 8), 9);
      const want = qloraTransformerLossAndGradients(base, adapters, lora, bytes, starts, window);
      const got = wasmQloraTransformerLossAndGradients(base, adapters, lora, bytes, starts, window);
      expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-5 * want.loss);
      expect([...got.grads.keys()].sort()).toEqual([...want.grads.keys()].sort());
      for (const [name, g] of want.grads) close(name, got.grads.get(name)!, g, 1e-4);
    });

  it('full precision: the loss and every parameter gradient (embedding, positions, norms, weights, biases) equal autodiff', () => {
    for (const shape of [gelu, relu]) {
      const model = initTransformer(shape, 17);
      const starts = [2, 310, 2000];
      const want = transformerLossAndGradients(model, bytes, starts, 10);
      const got = wasmTransformerLossAndGradients(model, bytes, starts, 10);
      expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-5 * want.loss);
      expect([...got.grads.keys()].sort()).toEqual([...want.grads.keys()].sort());
      for (const [name, g] of want.grads) close(name, got.grads.get(name)!, g, 1e-4);
    }
  });

  it('full precision: a short training run lowers the loss as the TensorFlow.js engine does', () => {
    const shape: TransformerShape = {
      dModel: 16,
      layers: 1,
      heads: 2,
      context: 16,
      mlpRatio: 2,
      activation: 'gelu',
    };
    const model = initTransformer(shape, 31);
    const train = text(20_000, 4);
    const settings = { steps: 30, batchSize: 8, learningRate: 3e-3, weightDecay: 0.01, seed: 7 };
    const tfjs = trainTransformer(model, train, { ...settings, lmKernel: 'tfjs' });
    const wasm = trainTransformer(model, train, { ...settings, lmKernel: 'wasm' });
    expect(wasm.report.loss).toBeLessThan(Math.log(256) - 0.5);
    expect(Math.abs(wasm.report.loss - tfjs.report.loss)).toBeLessThan(0.01);
    close('h0.up.weight', wasm.model.linears[4]!.weight, tfjs.model.linears[4]!.weight, 1e-2);
  });

  it('computes the logits of the TensorFlow.js forward pass', () => {
    const lora: LoraSettings = { rank: 2, alpha: 4, freezeA: true };
    const base = quantizeTransformer(initTransformer(gelu, 3));
    const adapters = randomB(initAdapters(base, lora, 4), 5);
    const engine = new WasmTransformerEngine({ kind: 'qlora', base, lora }, 2, gelu.context);
    engine.setAdapters(adapters);
    engine.loadWindows(bytes, [10, 20]);
    const tokens = Int32Array.from([...bytes.subarray(10, 22), ...bytes.subarray(20, 32)]);
    close('logits', engine.logitsOfWindows(), qloraTransformerLogits(base, adapters, lora, tokens, 2), 1e-5);
  });

  it('is deterministic: the same inputs give the same bits', () => {
    const lora: LoraSettings = { rank: 2, alpha: 4, freezeA: false };
    const base = quantizeTransformer(initTransformer(gelu, 11));
    const adapters = randomB(initAdapters(base, lora, 12), 13);
    const settings = {
      steps: 3,
      batchSize: 3,
      learningRate: 1e-2,
      weightDecay: 0.01,
      seed: 5,
      lmKernel: 'wasm' as const,
    };
    const a = trainQloraTransformer(base, adapters, lora, bytes, settings);
    const b = trainQloraTransformer(base, adapters, lora, bytes, settings);
    expect(a.report.loss).toBe(b.report.loss);
    for (const [i, t] of a.adapters.tensors.entries())
      expect(Buffer.from(t.values.buffer).equals(Buffer.from(b.adapters.tensors[i]!.values.buffer))).toBe(
        true,
      );
  });

  it('a short training run reaches the bits per byte of the TensorFlow.js engine (within noise)', () => {
    const shape: TransformerShape = {
      dModel: 32,
      layers: 1,
      heads: 2,
      context: 16,
      mlpRatio: 2,
      activation: 'gelu',
    };
    const lora: LoraSettings = { rank: 4, alpha: 8, freezeA: false };
    const base = quantizeTransformer(initTransformer(shape, 21));
    const start = initAdapters(base, lora, 22);
    const train = text(20_000, 2);
    const heldOut = text(3000, 3);
    const settings = { steps: 40, batchSize: 8, learningRate: 1e-2, weightDecay: 0.01, seed: 6 };
    const before = bitsPerByte(evaluateQloraTransformer(base, start, lora, heldOut).loss);
    const held = (kernel: 'tfjs' | 'wasm') => {
      const { adapters, report } = trainQloraTransformer(base, start, lora, train, {
        ...settings,
        lmKernel: kernel,
      });
      return {
        training: report.loss,
        heldOut: bitsPerByte(evaluateQloraTransformer(base, adapters, lora, heldOut).loss),
      };
    };
    const tfjs = held('tfjs');
    const wasm = held('wasm');
    expect(wasm.heldOut).toBeLessThan(before - 0.5); // it learnt
    expect(Math.abs(wasm.heldOut - tfjs.heldOut)).toBeLessThan(0.02);
    expect(Math.abs(wasm.training - tfjs.training)).toBeLessThan(0.01);
  });

  it('DML_LM_KERNEL selects the engine; the settings override it; a wrong name is a DmlError', () => {
    delete process.env.DML_LM_KERNEL;
    expect(lmKernelOf({})).toBe(DEFAULT_LM_KERNEL);
    process.env.DML_LM_KERNEL = 'tfjs';
    expect(lmKernelOf({})).toBe('tfjs');
    process.env.DML_LM_KERNEL = 'wasm';
    expect(lmKernelOf({})).toBe('wasm');
    expect(lmKernelOf({ lmKernel: 'tfjs' })).toBe('tfjs');
    process.env.DML_LM_KERNEL = 'gpu';
    expect(() => lmKernelOf({})).toThrow(/DML_LM_KERNEL=gpu/);
  });

  it('refuses a batch of the wrong size and a window longer than the context', () => {
    const lora: LoraSettings = { rank: 1, alpha: 1, freezeA: true };
    const base = quantizeTransformer(initTransformer(relu, 1));
    expect(() => new WasmTransformerEngine({ kind: 'qlora', base, lora }, 1, relu.context + 1)).toThrow(
      /context/,
    );
    const engine = new WasmTransformerEngine({ kind: 'qlora', base, lora }, 2, 4);
    expect(() => engine.loadWindows(bytes, [1])).toThrow(/1 windows/);
  });
});
