import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { type Delta, makeDelta } from '../offchain/index.js';
import { selectTrainerBackend } from './backend.js';
import { initAdapters, type LoraSettings } from './mlp.js';
import { gaussian, seededRandom } from './random.js';
import { initTransformer, quantizeTransformer, type TransformerShape } from './transformer.js';
import {
  evaluateQloraTransformer,
  evaluateTransformer,
  trainQloraTransformer,
} from './transformer-engine.js';
import { evaluationWindowStarts, nextByteLossAndHits } from './transformer-wasm-evaluation.js';

const shape: TransformerShape = {
  dModel: 16,
  layers: 2,
  heads: 2,
  context: 12,
  mlpRatio: 2,
  activation: 'gelu',
};

/** Adapters with random B, so that they change the base's predictions. */
const randomB = (adapters: Delta, seed: number): Delta => {
  const random = seededRandom(seed);
  return makeDelta(
    adapters.tensors.map((t) =>
      t.name.endsWith('.lora_B') ? { ...t, values: t.values.map(() => gaussian(random) * 0.3) } : t,
    ),
  );
};

/** Text a model can predict better than chance, over many byte values. */
const text = (length: number, seed: number): Uint8Array => {
  const words = ['the ', 'whale ', 'sea ', 'ship ', 'Ahab ', 'white ', 'and ', 'of ', 'call me ', '.\n'];
  const random = seededRandom(seed);
  let s = '';
  while (s.length < length) s += words[Math.floor(random() * words.length)];
  return new Uint8Array(Buffer.from(s.slice(0, length)));
};

/** The wasm figures against the TensorFlow.js ones: loss within float tolerance, accuracy within a near-tie. */
const expectSame = (
  wasm: { loss: number; accuracy: number; count: number },
  tfjs: { loss: number; accuracy: number; count: number },
): void => {
  expect(wasm.count).toBe(tfjs.count);
  expect(Math.abs(wasm.loss - tfjs.loss)).toBeLessThan(1e-5 * tfjs.loss);
  expect(Math.abs(wasm.accuracy - tfjs.accuracy)).toBeLessThanOrEqual(1 / tfjs.count);
};

describe('evaluation on the wasm engine (trainer/transformer-wasm-evaluation.ts)', () => {
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => undefined });
  });

  const bytes = text(4000, 7);

  it('gives the QLoRA evaluation of TensorFlow.js within float tolerance (a partial last batch, a short window, a byte cap)', () => {
    const lora: LoraSettings = { rank: 3, alpha: 6, freezeA: true };
    const base = quantizeTransformer(initTransformer(shape, 31));
    // trained a little, so that it predicts some bytes right (an untrained model predicts none)
    const { adapters } = trainQloraTransformer(base, randomB(initAdapters(base, lora, 32), 33), lora, bytes, {
      steps: 30,
      batchSize: 8,
      learningRate: 3e-2,
      weightDecay: 0,
      seed: 34,
      lmKernel: 'wasm',
    });
    const cases = [
      { maxBytes: 400 }, // 33 windows of 12: batches of 16, 16 and 1
      { maxBytes: 300, window: 7, batchSize: 5 },
      { batchSize: 64 }, // one batch of every window (333 of them)
    ];
    for (const o of cases) {
      const wasm = evaluateQloraTransformer(base, adapters, lora, bytes, { ...o, lmKernel: 'wasm' });
      const tfjs = evaluateQloraTransformer(base, adapters, lora, bytes, { ...o, lmKernel: 'tfjs' });
      expectSame(wasm, tfjs);
      expect(wasm.accuracy).toBeGreaterThan(0.1);
    }
  });

  it('gives the full-precision evaluation of TensorFlow.js within float tolerance', () => {
    const model = initTransformer({ ...shape, activation: 'relu', heads: 4 }, 41);
    const o = { maxBytes: 500, batchSize: 8 };
    expectSame(
      evaluateTransformer(model, bytes, { ...o, lmKernel: 'wasm' }),
      evaluateTransformer(model, bytes, { ...o, lmKernel: 'tfjs' }),
    );
  });

  it('does not depend on the batch size, bit for bit (the filled-up columns of a last batch are not counted)', () => {
    const lora: LoraSettings = { rank: 2, alpha: 4, freezeA: true };
    const base = quantizeTransformer(initTransformer(shape, 51));
    const adapters = randomB(initAdapters(base, lora, 52), 53);
    const at = (batchSize: number) =>
      evaluateQloraTransformer(base, adapters, lora, bytes, { maxBytes: 600, batchSize, lmKernel: 'wasm' });
    const one = at(1);
    for (const b of [3, 16, 50]) expect(at(b)).toEqual(one);
  });

  it('the windows: consecutive, whole, each with its next byte, at most the byte cap', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 500 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 600 }),
        (length, window, maxBytes) => {
          const starts = evaluationWindowStarts(length, window, maxBytes);
          starts.forEach((s, i) => expect(s).toBe(i * window));
          for (const s of starts) expect(s + window + 1).toBeLessThanOrEqual(length);
          expect(starts.length * window).toBeLessThanOrEqual(Math.max(window, maxBytes));
          // no window more could be taken
          const next = starts.length * window;
          const fits =
            next + window + 1 <= length && (starts.length + 1) * window <= Math.max(window, maxBytes);
          expect(fits).toBe(false);
        },
      ),
    );
  });

  it('the loss and hits of logits columns: the cross-entropy in float64, the first largest logit on a tie', () => {
    // 3 classes, 4 columns (logits^T [3, 4]), only the first 3 counted
    const zT = Float32Array.from([0, 1, 2, 5, 0, 3, 2, 5, 0, 1, 1, 5]);
    const targets = Int32Array.from([0, 1, 1, 2]);
    const { lossSum, hits } = nextByteLossAndHits(zT, targets, 4, 3, 3);
    // and added to a running sum
    expect(nextByteLossAndHits(zT, targets, 4, 3, 3, { lossSum: 1, hits: 1 }).hits).toBe(3);
    const ce = (col: number[], y: number) => -(col[y]! - Math.log(col.reduce((a, z) => a + Math.exp(z), 0)));
    expect(lossSum).toBeCloseTo(ce([0, 0, 0], 0) + ce([1, 3, 1], 1) + ce([2, 2, 1], 1), 12);
    // column 0: tie of three, the first (0) is the target; column 1: 1 is; column 2: tie 0/1, 0 wins
    expect(hits).toBe(2);
  });
});
