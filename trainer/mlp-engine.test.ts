import { beforeAll, describe, expect, it } from '@jest/globals';
import { getDeltaTensor, makeDelta, type Delta, flagOutlierScores } from '../offchain/index.js';
import { selectTrainerBackend } from './backend.js';
import { MNIST_PIXELS, rangeImages, type LabelledImages } from './mnist.js';
import {
  applyDelta,
  initAdapters,
  initMlp,
  quantizeMlp,
  type LoraSettings,
  type QuantizedMlp,
} from './mlp.js';
import { evaluateQlora, qloraLossAndGradients, trainQlora } from './mlp-engine.js';
import { scoreDeltas, trainLocalDelta } from './local-round.js';
import { dequantizeNf4 } from './nf4.js';
import { seededRandom } from './random.js';
import { withRandomB } from './testing/index.js';

/** Images whose pixels encode the class (a bright stripe per class) plus noise: learnable in a few steps. */
const syntheticImages = (count: number, seed: number): LabelledImages => {
  const random = seededRandom(seed);
  const images = new Uint8Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % 10;
    labels[i] = c;
    for (let p = 0; p < MNIST_PIXELS; p++) {
      const stripe = Math.floor(p / 28) >= c * 2 + 4 && Math.floor(p / 28) < c * 2 + 6;
      images[i * MNIST_PIXELS + p] = Math.min(255, Math.floor(random() * 60 + (stripe ? 150 : 0)));
    }
  }
  return { images, labels, count };
};

/** Straightforward float64 reference of the QLoRA MLP: z = W x + b + (alpha/r) B (A x). */
const referenceLoss = (base: QuantizedMlp, adapters: Delta, lora: LoraSettings, data: LabelledImages) => {
  const weights = base.layers.map((l) => dequantizeNf4(l.weight));
  const s = lora.alpha / lora.rank;
  let loss = 0;
  const logits: number[] = [];
  for (let n = 0; n < data.count; n++) {
    let h = Array.from(data.images.subarray(n * MNIST_PIXELS, (n + 1) * MNIST_PIXELS), (v) => v / 255);
    base.layers.forEach((l, li) => {
      const A = getDeltaTensor(adapters, `${l.name}.lora_A`).values;
      const B = getDeltaTensor(adapters, `${l.name}.lora_B`).values;
      const u = Array.from({ length: lora.rank }, (_, q) =>
        h.reduce((acc, x, j) => acc + A[q * l.inputs + j]! * x, 0),
      );
      const z = Array.from({ length: l.outputs }, (_, o) => {
        let v = l.bias[o]!;
        for (let j = 0; j < l.inputs; j++) v += weights[li]![o * l.inputs + j]! * h[j]!;
        for (let q = 0; q < lora.rank; q++) v += s * B[o * lora.rank + q]! * u[q]!;
        return v;
      });
      h = li < base.layers.length - 1 ? z.map((v) => Math.max(0, v)) : z;
    });
    const max = Math.max(...h);
    const lse = max + Math.log(h.reduce((acc, v) => acc + Math.exp(v - max), 0));
    loss -= h[data.labels[n]!]! - lse;
    logits.push(...h);
  }
  return { loss: loss / data.count, logits };
};

describe('QLoRA MLP', () => {
  const lora: LoraSettings = { rank: 2, alpha: 4, freezeA: false };
  let base: QuantizedMlp;
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => {} });
    base = quantizeMlp(initMlp([MNIST_PIXELS, 6, 10], 11));
  });

  it('starts with B = 0 (the adapted model is the quantised base) and A shared by seed', () => {
    const a1 = initAdapters(base, lora, 3);
    const a2 = initAdapters(base, lora, 3);
    expect(getDeltaTensor(a1, 'fc1.lora_A').values).toEqual(getDeltaTensor(a2, 'fc1.lora_A').values);
    expect(getDeltaTensor(a1, 'fc2.lora_B').values.every((v) => v === 0)).toBe(true);
    expect(getDeltaTensor(a1, 'fc1.lora_A').shape).toEqual([2, MNIST_PIXELS]);
    expect(getDeltaTensor(a1, 'fc1.lora_B').shape).toEqual([6, 2]);
  });

  it('computes y = x W_nf4^T + b + (alpha/r) x A^T B^T and exact adapter gradients', () => {
    const data = syntheticImages(5, 1);
    const adapters = withRandomB(initAdapters(base, lora, 3), 4, 0.3);
    const got = qloraLossAndGradients(base, adapters, lora, data);
    const ref = referenceLoss(base, adapters, lora, data);
    expect(got.loss).toBeCloseTo(ref.loss, 4);
    got.logits.forEach((v, i) => expect(Math.abs(v - ref.logits[i]!)).toBeLessThan(1e-4));
    // central finite differences on the float64 reference, a few coordinates of each tensor
    const random = seededRandom(8);
    for (const t of adapters.tensors) {
      const g = got.grads.get(t.name)!;
      expect(g).toBeDefined();
      for (let k = 0; k < 4; k++) {
        const j = Math.floor(random() * t.values.length);
        const bump = (eps: number): number =>
          referenceLoss(
            base,
            makeDelta(
              adapters.tensors.map((x) =>
                x.name === t.name ? { ...x, values: x.values.map((v, i) => (i === j ? v + eps : v)) } : x,
              ),
            ),
            lora,
            data,
          ).loss;
        const eps = 1e-2;
        const numeric = (bump(eps) - bump(-eps)) / (2 * eps);
        expect(Math.abs(g[j]! - numeric)).toBeLessThan(2e-3 + 0.03 * Math.abs(numeric));
      }
    }
  });

  it('reports every step to onStep (its number and loss) and computes the same adapters as without it', () => {
    const data = syntheticImages(12, 7);
    const ffa: LoraSettings = { ...lora, freezeA: true };
    const start = initAdapters(base, ffa, 3);
    const settings = { steps: 5, batchSize: 4, learningRate: 0.05, weightDecay: 0, seed: 2 };
    const seen: Array<[number, number]> = [];
    const watched = trainQlora(base, start, ffa, data, { ...settings, onStep: (s, l) => seen.push([s, l]) });
    const plain = trainQlora(base, start, ffa, data, settings);
    expect(seen.map(([s]) => s)).toEqual([1, 2, 3, 4, 5]);
    expect(seen.reduce((sum, [, l]) => sum + l, 0) / 5).toBeCloseTo(watched.report.loss, 10);
    for (const t of plain.adapters.tensors)
      expect(Array.from(getDeltaTensor(watched.adapters, t.name).values)).toEqual(Array.from(t.values));
  });

  it('replays a given data order with SGD and momentum, step for step (buf = m buf + g; p -= lr buf)', () => {
    const data = syntheticImages(6, 5);
    const ffa: LoraSettings = { ...lora, freezeA: true };
    const start = withRandomB(initAdapters(base, ffa, 3), 6, 0.3);
    const lr = 0.5;
    const momentum = 0.9;
    const { adapters, report } = trainQlora(base, start, ffa, data, {
      steps: 2,
      batchSize: 4,
      learningRate: lr,
      weightDecay: 0,
      seed: 1,
      order: 'given',
      optimizer: { kind: 'sgd', momentum },
    });
    // batch 1 is images 0..3, batch 2 the short rest 4..5, in that order
    expect(report.samples).toBe(6);
    const g1 = qloraLossAndGradients(base, start, ffa, rangeImages(data, 0, 4)).grads;
    const mid = makeDelta(
      start.tensors.map((t) =>
        t.name.endsWith('.lora_B')
          ? { ...t, values: t.values.map((v, i) => v - lr * g1.get(t.name)![i]!) }
          : t,
      ),
    );
    const g2 = qloraLossAndGradients(base, mid, ffa, rangeImages(data, 4, 6)).grads;
    for (const t of start.tensors) {
      const got = getDeltaTensor(adapters, t.name).values;
      if (!t.name.endsWith('.lora_B')) {
        expect(got).toEqual(t.values);
        continue;
      }
      const a = g1.get(t.name)!;
      const b = g2.get(t.name)!;
      t.values.forEach((v, i) => {
        const expected = v - lr * a[i]! - lr * (momentum * a[i]! + b[i]!);
        expect(Math.abs(got[i]! - expected)).toBeLessThan(1e-4 + 1e-4 * Math.abs(expected));
      });
    }
  });

  it('trains only the adapters (only B under FFA-LoRA) and lowers the loss; the delta moves the adapters there', () => {
    const data = syntheticImages(60, 2);
    const settings = { steps: 60, batchSize: 20, learningRate: 5e-2, weightDecay: 0, seed: 5 };
    for (const freezeA of [true, false]) {
      const l = { ...lora, freezeA };
      const start = initAdapters(base, l, 3);
      const before = evaluateQlora(base, start, l, data);
      const hashBefore = base.hash;
      const { delta, adapters, report } = trainLocalDelta(base, start, l, data, settings);
      const after = evaluateQlora(base, adapters, l, data);
      expect(after.loss).toBeLessThan(before.loss * 0.8);
      expect(report.samples).toBe(1200);
      expect(delta.tensors.map((t) => t.name)).toEqual(
        freezeA ? ['fc1.lora_B', 'fc2.lora_B'] : ['fc1.lora_A', 'fc1.lora_B', 'fc2.lora_A', 'fc2.lora_B'],
      );
      expect(quantizeMlp(initMlp([MNIST_PIXELS, 6, 10], 11)).hash).toBe(hashBefore);
      const moved = applyDelta(start, delta);
      for (const t of adapters.tensors)
        getDeltaTensor(moved, t.name).values.forEach((v, i) =>
          expect(Math.abs(v - t.values[i]!)).toBeLessThan(1e-6),
        );
    }
  });

  it("scores every delta on a party's validation data and flags a poisoned one", () => {
    const l = { ...lora, freezeA: true };
    const start = initAdapters(base, l, 3);
    const validation = syntheticImages(40, 99);
    const deltas = [0, 1, 2, 3].map((p) => ({
      partyId: `p${p}`,
      delta: trainLocalDelta(base, start, l, syntheticImages(40, 10 + p), {
        steps: 15,
        batchSize: 20,
        learningRate: 2e-2,
        weightDecay: 0,
        seed: p,
      }).delta,
    }));
    const honest = deltas[0]!.delta;
    const poisoned = makeDelta(honest.tensors.map((t) => ({ ...t, values: t.values.map((v) => -10 * v) })));
    const scores = scoreDeltas(base, start, l, [...deltas, { partyId: 'p4', delta: poisoned }], validation);
    expect(scores).toHaveLength(5);
    const worst = [...scores].sort((a, b) => b.loss - a.loss)[0]!;
    expect(worst.partyId).toBe('p4');
    expect(flagOutlierScores(scores)).toEqual(['p4']);
  });
});
