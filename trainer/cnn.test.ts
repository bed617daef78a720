import { beforeAll, describe, expect, it } from '@jest/globals';
import * as tf from '@tensorflow/tfjs';
import { getDeltaTensor, makeDelta, type Delta } from '../offchain/index.js';
import { selectTrainerBackend } from './backend.js';
import { col2im, im2col } from './conv-ops.js';
import {
  decodeQuantizedBase,
  encodeQuantizedBase,
  loadQuantizedBase,
  saveQuantizedBase,
} from './base-file.js';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Examples } from './examples.js';
import {
  type ConvFrontEnd,
  type LoraSettings,
  type QuantizedMlp,
  initAdapters,
  initCnn,
  quantizeMlp,
  MNIST_CNN,
  convOutputShape,
} from './mlp.js';
import { evaluateMlp, evaluateQlora, qloraLossAndGradients, trainMlp } from './mlp-engine.js';
import { trainLocalDelta } from './local-round.js';
import { dequantizeNf4 } from './nf4.js';
import { gaussian, seededRandom } from './random.js';

const front: ConvFrontEnd = {
  height: 6,
  width: 6,
  channels: 1,
  stages: [
    { kernel: 3, channels: 2, pool: true },
    { kernel: 3, channels: 3, pool: false },
  ],
};
const CLASSES = 4;

/** Random 6x6 images in [0, 1) whose class is the brightest quadrant (learnable in a few steps). */
const quadrants = (count: number, seed: number): Examples & { x: Float64Array; y: Int32Array } => {
  const random = seededRandom(seed);
  const x = new Float64Array(count * 36);
  const y = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    y[n] = n % CLASSES;
    for (let p = 0; p < 36; p++) {
      const q = (Math.floor(p / 6) < 3 ? 0 : 2) + (p % 6 < 3 ? 0 : 1);
      x[n * 36 + p] = random() * 0.5 + (q === y[n] ? 0.5 : 0);
    }
  }
  return {
    inputs: 36,
    classes: CLASSES,
    count,
    x,
    y,
    fill(indices, xs, labels) {
      for (let i = 0; i < indices.length; i++) {
        for (let p = 0; p < 36; p++) xs[i * 36 + p] = x[indices[i]! * 36 + p]!;
        labels[i] = y[indices[i]!]!;
      }
    },
  };
};

/**
 * A float64 reference of the QLoRA CNN written directly from the definitions (a convolution as
 * a sum over the kernel window with zero padding, 2x2 max pooling, dense layers, LoRA W + s B A).
 */
const referenceLoss = (
  base: QuantizedMlp,
  adapters: Delta,
  lora: LoraSettings,
  data: ReturnType<typeof quadrants>,
): { loss: number; logits: number[] } => {
  const s = lora.alpha / lora.rank;
  const effective = base.layers.map((l) => {
    const w = Array.from(dequantizeNf4(l.weight));
    const A = getDeltaTensor(adapters, `${l.name}.lora_A`).values;
    const B = getDeltaTensor(adapters, `${l.name}.lora_B`).values;
    for (let o = 0; o < l.outputs; o++)
      for (let j = 0; j < l.inputs; j++)
        for (let q = 0; q < lora.rank; q++)
          w[o * l.inputs + j]! += s * B[o * lora.rank + q]! * A[q * l.inputs + j]!;
    return w;
  });
  let loss = 0;
  const logits: number[] = [];
  for (let n = 0; n < data.count; n++) {
    let [H, W, C] = [front.height, front.width, front.channels];
    let map = Array.from(data.x.subarray(n * 36, (n + 1) * 36)); // (y, x, c)
    front.stages.forEach((st, li) => {
      const l = base.layers[li]!;
      const w = effective[li]!;
      const k = st.kernel;
      const p = (k - 1) / 2;
      const out = new Array<number>(H * W * st.channels).fill(0);
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++)
          for (let o = 0; o < st.channels; o++) {
            let v = l.bias[o]!;
            for (let dy = 0; dy < k; dy++)
              for (let dx = 0; dx < k; dx++)
                for (let c = 0; c < C; c++) {
                  const yy = y + dy - p;
                  const xx = x + dx - p;
                  if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                  v += w[o * l.inputs + (dy * k + dx) * C + c]! * map[(yy * W + xx) * C + c]!;
                }
            out[(y * W + x) * st.channels + o] = Math.max(0, v);
          }
      C = st.channels;
      map = out;
      if (st.pool) {
        const pooled: number[] = [];
        for (let y = 0; y < H / 2; y++)
          for (let x = 0; x < W / 2; x++)
            for (let c = 0; c < C; c++)
              pooled.push(
                Math.max(
                  ...[0, 1].flatMap((a) => [0, 1].map((b) => map[((2 * y + a) * W + 2 * x + b) * C + c]!)),
                ),
              );
        map = pooled;
        H /= 2;
        W /= 2;
      }
    });
    let h = map;
    const dense = base.layers.slice(front.stages.length);
    dense.forEach((l, di) => {
      const w = effective[front.stages.length + di]!;
      const z = Array.from({ length: l.outputs }, (_, o) => {
        let v = l.bias[o]!;
        for (let j = 0; j < l.inputs; j++) v += w[o * l.inputs + j]! * h[j]!;
        return v;
      });
      h = di < dense.length - 1 ? z.map((v) => Math.max(0, v)) : z;
    });
    const max = Math.max(...h);
    const lse = max + Math.log(h.reduce((acc, v) => acc + Math.exp(v - max), 0));
    loss -= h[data.y[n]!]! - lse;
    logits.push(...h);
  }
  return { loss: loss / data.count, logits };
};

describe('convolutional QLoRA network', () => {
  const lora: LoraSettings = { rank: 2, alpha: 4, freezeA: false };
  let base: QuantizedMlp;
  beforeAll(async () => {
    await selectTrainerBackend({ prefer: ['wasm', 'cpu'], log: () => {} });
    base = quantizeMlp(initCnn(front, [5, CLASSES], 7));
  });

  it('has conv layers as linear layers over patches, an adapter on each, and hashes its structure', () => {
    expect(base.layers.map((l) => [l.name, l.outputs, l.inputs])).toEqual([
      ['conv1', 2, 9],
      ['conv2', 3, 18],
      ['fc1', 5, 27],
      ['fc2', CLASSES, 5],
    ]);
    expect(convOutputShape(MNIST_CNN)).toEqual([7, 7, 32]);
    const adapters = initAdapters(base, lora, 1);
    expect(adapters.tensors.map((t) => t.name)).toHaveLength(8);
    expect(getDeltaTensor(adapters, 'conv2.lora_A').shape).toEqual([2, 18]);
    expect(quantizeMlp(initCnn(front, [5, CLASSES], 7)).hash).toBe(base.hash);
    const { conv: _conv, ...withoutConv } = initCnn(front, [5, CLASSES], 7);
    expect(quantizeMlp(withoutConv).hash).not.toBe(base.hash);
  });

  it('im2col and col2im are adjoint (<im2col x, d> = <x, col2im d>)', () => {
    const random = seededRandom(3);
    for (const kernel of [1, 3, 5]) {
      const shape: [number, number, number, number] = [2, 5, 4, 3];
      const xs = Float32Array.from({ length: 120 }, () => gaussian(random));
      const rows = 2 * 5 * 4;
      const ds = Float32Array.from({ length: rows * kernel * kernel * 3 }, () => gaussian(random));
      const [left, right] = tf.tidy(() => {
        const x = tf.tensor4d(xs, shape);
        const d = tf.tensor2d(ds, [rows, kernel * kernel * 3]);
        return [
          tf.sum(tf.mul(im2col(x, kernel), d)).dataSync()[0]!,
          tf.sum(tf.mul(x, col2im(d, shape, kernel))).dataSync()[0]!,
        ];
      });
      expect(Math.abs(left! - right!)).toBeLessThan(1e-3 * (1 + Math.abs(left!)));
    }
  });

  it('computes the logits of the reference and exact adapter gradients', () => {
    const data = quadrants(4, 1);
    const random = seededRandom(4);
    const adapters = makeDelta(
      initAdapters(base, lora, 3).tensors.map((t) =>
        t.name.endsWith('.lora_B') ? { ...t, values: t.values.map(() => gaussian(random) * 0.3) } : t,
      ),
    );
    const got = qloraLossAndGradients(base, adapters, lora, data);
    const ref = referenceLoss(base, adapters, lora, data);
    expect(got.loss).toBeCloseTo(ref.loss, 4);
    got.logits.forEach((v, i) => expect(Math.abs(v - ref.logits[i]!)).toBeLessThan(1e-4));
    for (const t of adapters.tensors) {
      const g = got.grads.get(t.name)!;
      expect(g).toHaveLength(t.values.length);
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
        const eps = 1e-3;
        const numeric = (bump(eps) - bump(-eps)) / (2 * eps);
        expect(Math.abs(g[j]! - numeric)).toBeLessThan(1e-3 + 0.02 * Math.abs(numeric));
      }
    }
  });

  it('pretrains in FP32 and fine-tunes with QLoRA (only the adapters move)', () => {
    const data = quadrants(64, 2);
    const settings = { steps: 60, batchSize: 16, learningRate: 1e-2, weightDecay: 0, seed: 1 };
    const fp = initCnn(front, [5, CLASSES], 8);
    const before = evaluateMlp(fp, data);
    const { mlp } = trainMlp(fp, data, settings);
    expect(mlp.conv).toEqual(front);
    expect(evaluateMlp(mlp, data).loss).toBeLessThan(before.loss * 0.7);
    const q = quantizeMlp(initCnn(front, [5, CLASSES], 9));
    const start = initAdapters(q, { ...lora, freezeA: true }, 2);
    const l0 = evaluateQlora(q, start, { ...lora, freezeA: true }, data).loss;
    const { adapters, delta } = trainLocalDelta(q, start, { ...lora, freezeA: true }, data, settings);
    expect(evaluateQlora(q, adapters, { ...lora, freezeA: true }, data).loss).toBeLessThan(l0 * 0.8);
    expect(delta.tensors.map((t) => t.name)).toEqual([
      'conv1.lora_B',
      'conv2.lora_B',
      'fc1.lora_B',
      'fc2.lora_B',
    ]);
  });

  it('stores a base as a file named by its hash, and refuses a different or damaged one', async () => {
    const bytes = encodeQuantizedBase(base);
    const back = decodeQuantizedBase(bytes);
    expect(back.hash).toBe(base.hash);
    expect(back.conv).toEqual(front);
    expect(encodeQuantizedBase(back)).toEqual(bytes);
    const dir = await mkdtemp(join(tmpdir(), 'dml-base-'));
    const path = await saveQuantizedBase(dir, 'tiny', base);
    expect(path).toBe(join(dir, `tiny-${base.hash}.dmlbase`));
    expect((await loadQuantizedBase(path, base.hash)).hash).toBe(base.hash);
    const tampered = new Uint8Array(await readFile(path));
    tampered[tampered.length - 30]! ^= 1;
    await writeFile(path, tampered);
    await expect(loadQuantizedBase(path, base.hash)).rejects.toMatchObject({ code: 'BASE_HASH' });
    expect(() => decodeQuantizedBase(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
    expect(() => decodeQuantizedBase(Uint8Array.from([...bytes, 0]))).toThrow(/trailing/);
    expect(() => decodeQuantizedBase(bytes.subarray(1))).toThrow(/magic/);
  });
});
