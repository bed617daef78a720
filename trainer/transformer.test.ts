import { beforeAll, describe, expect, it } from '@jest/globals';
import { makeDelta, type Delta } from '../offchain/index.js';
import { selectTrainerBackend } from './backend.js';
import { initAdapters, type LoraSettings } from './mlp.js';
import { gaussian, seededRandom } from './random.js';
import {
  type TransformerShape,
  initTransformer,
  quantizeTransformer,
  transformerLinearLayout,
  transformerParameterCount,
} from './transformer.js';
import {
  dequantizeTransformer,
  evaluateQloraTransformer,
  evaluateTransformer,
  qloraTransformerLogits,
  qloraTransformerLossAndGradients,
  trainQloraTransformer,
  trainTransformer,
  transformerLogits,
} from './transformer-engine.js';

const tiny: TransformerShape = {
  dModel: 16,
  layers: 2,
  heads: 2,
  context: 8,
  mlpRatio: 2,
  activation: 'gelu',
};
const lora: LoraSettings = { rank: 4, alpha: 8, freezeA: true };
const text = new Uint8Array(Buffer.from('the whale swam. the whale dove. the sea was calm. '.repeat(40)));

/** Adapters with every B random (so that the LoRA path is not zero). */
const randomB = (adapters: Delta, seed: number, std: number): Delta => {
  const random = seededRandom(seed);
  return makeDelta(
    adapters.tensors.map((t) =>
      t.name.endsWith('.lora_B') ? { ...t, values: t.values.map(() => gaussian(random) * std) } : t,
    ),
  );
};

const tokensOf = (s: string): Int32Array => Int32Array.from(Buffer.from(s));

describe('the byte-level causal transformer with QLoRA', () => {
  beforeAll(async () => {
    await selectTrainerBackend({ log: () => undefined });
  });

  const base = quantizeTransformer(initTransformer(tiny, 1));

  it('has the layers and parameters of its shape, and logits [B * T, 256]', () => {
    expect(base.layers.map((l) => l.name)).toEqual([
      'h0.q', 'h0.k', 'h0.v', 'h0.o', 'h0.up', 'h0.down',
      'h1.q', 'h1.k', 'h1.v', 'h1.o', 'h1.up', 'h1.down',
      'head',
    ]); // prettier-ignore
    expect(transformerLinearLayout(tiny).find(([n]) => n === 'h0.up')).toEqual(['h0.up', 16, 32]);
    // embedding 256x16 + positions 8x16 + 5 norms x 32 + 2 x (4 x (256 + 16) + (512 + 32) + (512 + 16)) + 16x256 + 256
    expect(transformerParameterCount(tiny)).toBe(4096 + 128 + 160 + 2 * (4 * 272 + 544 + 528) + 4096 + 256);
    const logits = qloraTransformerLogits(
      base,
      initAdapters(base, lora, 2),
      lora,
      tokensOf('abcdefghABCDEFGH'),
      2,
    );
    expect(logits.length).toBe(2 * 8 * 256);
    expect(logits.every(Number.isFinite)).toBe(true);
  });

  it('is causal: changing a later byte changes no earlier logit', () => {
    const adapters = randomB(initAdapters(base, lora, 2), 3, 0.5);
    const a = qloraTransformerLogits(base, adapters, lora, tokensOf('the whal'), 1);
    for (const j of [0, 3, 7]) {
      const changed = tokensOf('the whal');
      changed[j] = 'Z'.charCodeAt(0);
      const b = qloraTransformerLogits(base, adapters, lora, changed, 1);
      for (let p = 0; p < 8; p++) {
        const row = (x: Float32Array) => Array.from(x.subarray(p * 256, (p + 1) * 256));
        if (p < j) expect(row(b)).toEqual(row(a));
        else expect(Math.max(...row(b).map((v, i) => Math.abs(v - row(a)[i]!)))).toBeGreaterThan(1e-6);
      }
    }
  });

  it('starts as the dequantised base: with B = 0 the LoRA path adds nothing', () => {
    const tokens = tokensOf('the sea was calm. a whale');
    const t = tokens.subarray(0, 16);
    const q = qloraTransformerLogits(base, initAdapters(base, lora, 2), lora, t, 2);
    const fp = transformerLogits(dequantizeTransformer(base), t, 2);
    let worst = 0;
    for (let i = 0; i < q.length; i++) worst = Math.max(worst, Math.abs(q[i]! - fp[i]!));
    expect(worst).toBeLessThan(1e-5);
    // and a non-zero B does change the output
    const moved = qloraTransformerLogits(base, randomB(initAdapters(base, lora, 2), 4, 0.5), lora, t, 2);
    expect(Math.max(...moved.map((v, i) => Math.abs(v - q[i]!)))).toBeGreaterThan(1e-3);
  });

  it('gives gradients to B only under FFA-LoRA, to A and B otherwise; training moves only those', () => {
    const adapters = randomB(initAdapters(base, lora, 2), 5, 0.1);
    const ffa = qloraTransformerLossAndGradients(base, adapters, lora, text, [0, 40]);
    expect([...ffa.grads.keys()].sort()).toEqual(base.layers.map((l) => `${l.name}.lora_B`).sort());
    const both = qloraTransformerLossAndGradients(base, adapters, { ...lora, freezeA: false }, text, [0, 40]);
    expect(both.grads.size).toBe(2 * base.layers.length);
    expect(both.loss).toBeCloseTo(ffa.loss, 6);
    const { adapters: after } = trainQloraTransformer(base, adapters, lora, text, {
      steps: 3,
      batchSize: 4,
      learningRate: 1e-2,
      weightDecay: 0,
      seed: 1,
    });
    for (const t of after.tensors) {
      const before = adapters.tensors.find((x) => x.name === t.name)!;
      if (t.name.endsWith('.lora_A')) expect(t.values).toEqual(before.values);
      else expect(t.values).not.toEqual(before.values);
    }
  });

  it('matches central finite differences of its own loss (A and B)', () => {
    const settings = { ...lora, freezeA: false, alpha: 16 };
    const adapters = randomB(initAdapters(base, settings, 2), 6, 0.3);
    const starts = [3, 51];
    const { grads } = qloraTransformerLossAndGradients(base, adapters, settings, text, starts);
    const lossAt = (name: string, index: number, delta: number) => {
      const moved = makeDelta(
        adapters.tensors.map((t) =>
          t.name === name ? { ...t, values: t.values.map((v, i) => (i === index ? v + delta : v)) } : t,
        ),
      );
      return qloraTransformerLossAndGradients(base, moved, settings, text, starts).loss;
    };
    let checked = 0;
    for (const name of ['h0.q.lora_A', 'h0.v.lora_B', 'h1.up.lora_A', 'h1.down.lora_B', 'head.lora_B']) {
      const g = grads.get(name)!;
      // the three largest components of this tensor's gradient
      const top = Array.from(g.keys())
        .sort((a, b) => Math.abs(g[b]!) - Math.abs(g[a]!))
        .slice(0, 3);
      for (const i of top) {
        const eps = 2e-2;
        const numeric = (lossAt(name, i, eps) - lossAt(name, i, -eps)) / (2 * eps);
        expect(Math.abs(numeric - g[i]!)).toBeLessThan(5e-4 + 0.05 * Math.abs(g[i]!));
        checked++;
      }
    }
    expect(checked).toBe(15);
  });

  it('learns: FP32 pretraining and QLoRA fine-tuning lower the loss on a tiny text', () => {
    const fp = initTransformer(tiny, 7);
    const before = evaluateTransformer(fp, text, { maxBytes: 400 }).loss;
    const { model } = trainTransformer(fp, text, {
      steps: 40,
      batchSize: 8,
      learningRate: 1e-2,
      weightDecay: 0.01,
      seed: 2,
    });
    const after = evaluateTransformer(model, text, { maxBytes: 400 }).loss;
    expect(after).toBeLessThan(before * 0.6);
    // QLoRA on top of the quantised (barely trained) base
    const q = quantizeTransformer(fp);
    const start = initAdapters(q, lora, 3);
    const qBefore = evaluateQloraTransformer(q, start, lora, text, { maxBytes: 400 }).loss;
    const { adapters } = trainQloraTransformer(q, start, lora, text, {
      steps: 40,
      batchSize: 8,
      learningRate: 1e-2,
      weightDecay: 0,
      seed: 3,
    });
    expect(evaluateQloraTransformer(q, adapters, lora, text, { maxBytes: 400 }).loss).toBeLessThan(
      qBefore * 0.8,
    );
  });
});
