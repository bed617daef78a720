import { afterEach, describe, expect, it } from '@jest/globals';
import { makeDelta } from '../offchain/index.js';
import { DenseKernel } from './dense-kernel.js';
import { DenseOptimizer } from './dense-qlora.js';
import { initAdapters, type LoraSettings } from './mlp.js';
import { gaussian, seededRandom } from './random.js';
import { nativeTransformerKernel, transformerStepKernel } from './transformer-kernel.js';
import { initTransformer, quantizeTransformer, type TransformerShape } from './transformer.js';
import { trainQloraTransformer } from './transformer-engine.js';
import {
  WasmTransformerEngine,
  crossEntropyColumns,
  nextByteLossAndHits,
  wasmQloraTransformerLossAndGradients,
  wasmTransformerLossAndGradients,
} from './transformer-wasm.js';

/**
 * The native kernel's step functions (TransformerStepExports, trainer/native/transformer-kernel.c)
 * against plain JS references (the wasm engine's loops, DenseOptimizer, float64 products) on
 * random inputs of odd sizes, and a whole QLoRA step native vs wasm. Without the addon these
 * show as skipped; trainer/transformer-kernel-native.test.ts makes CI fail when it is not built.
 */
const describeNative = nativeTransformerKernel().addon ? describe : describe.skip;

const randomArray = (length: number, seed: number, std = 1): Float32Array => {
  const r = seededRandom(seed);
  return Float32Array.from({ length }, () => gaussian(r) * std);
};

/** A fresh kernel memory with the given float blocks (addresses in order) and the native step functions. */
const memoryWith = (sizes: readonly number[]) => {
  const kernel = new DenseKernel();
  const at = sizes.map((size) => kernel.alloc(size));
  kernel.commit();
  const nk = transformerStepKernel(kernel.k.memory, 'native')!;
  return { kernel, at, nk, f32: (i: number) => kernel.f32(at[i]!, sizes[i]!) };
};

const closeTo = (name: string, got: ArrayLike<number>, want: ArrayLike<number>, relative: number): void => {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    if (!(Math.abs(got[i]! - want[i]!) <= relative * scale + 1e-30))
      throw new Error(`${name}[${i}]: native ${got[i]} reference ${want[i]} (max ${scale})`);
};

describeNative('the native kernel step functions (trainer/native/transformer-kernel.c)', () => {
  const saved = process.env.DML_LM_NATIVE;
  afterEach(() => {
    if (saved === undefined) delete process.env.DML_LM_NATIVE;
    else process.env.DML_LM_NATIVE = saved;
  });

  it('gemm_transposed equals the float64 product of the transposed operands, odd sizes, = and +=', () => {
    for (const [m, k, n, transpose, acc] of [
      [1, 1, 1, 1, 0],
      [7, 13, 19, 1, 1],
      [13, 300, 21, 2, 0],
      [150, 9, 35, 3, 1],
      [2, 257, 2100, 2, 1],
      [5, 0, 3, 3, 0],
    ] as const) {
      const { at, nk, f32 } = memoryWith([m * k, k * n, m * n]);
      const l = randomArray(m * k, m + k);
      const r = randomArray(k * n, k + n);
      const c = randomArray(m * n, m + n);
      // stored: L^T [k, m] when transpose & 1, R^T [n, k] when transpose & 2
      f32(0).set(
        transpose & 1
          ? Float32Array.from({ length: m * k }, (_, x) => l[(x % m) * k + Math.floor(x / m)]!)
          : l,
      );
      f32(1).set(
        transpose & 2
          ? Float32Array.from({ length: k * n }, (_, x) => r[(x % k) * n + Math.floor(x / k)]!)
          : r,
      );
      f32(2).set(c);
      nk.gemm_transposed(at[0]!, m, k, at[1]!, n, at[2]!, 0.5, acc, transpose);
      const got = f32(2);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          let size = 0;
          for (let p = 0; p < k; p++) {
            s += l[i * k + p]! * r[p * n + j]!;
            size += Math.abs(l[i * k + p]! * r[p * n + j]!);
          }
          const before = acc ? c[i * n + j]! : 0;
          const want = before + 0.5 * s;
          if (!(Math.abs(got[i * n + j]! - want) <= 2e-6 * (0.5 * size + Math.abs(before)) + 1e-30))
            throw new Error(
              `m ${m} k ${k} n ${n} transpose ${transpose}: C[${i}, ${j}] ${got[i * n + j]} vs ${want}`,
            );
        }
    }
  });

  it("cross_entropy's loss and gradient equal the JS loop's (crossEntropyColumns), any n (partial groups)", () => {
    for (const [n, classes] of [
      [1, 256],
      [13, 256],
      [300, 256],
      [9, 5],
    ] as const) {
      const { at, nk, f32 } = memoryWith([classes * n, n, classes * n]);
      const z = randomArray(classes * n, n, 4);
      const targets = Int32Array.from({ length: n }, (_, j) => (j * 37 + 11) % classes);
      f32(0).set(z);
      new Int32Array(f32(1).buffer, at[1]!, n).set(targets);
      const loss = nk.cross_entropy(at[0]!, at[1]!, at[2]!, n, classes);
      const want = new Float32Array(classes * n);
      const wantLoss = crossEntropyColumns(z, targets, n, classes, want);
      expect(Math.abs(loss - wantLoss)).toBeLessThan(1e-6 * wantLoss);
      closeTo(`dT of n ${n}`, f32(2), want, 1e-6);
    }
    const { at, nk, f32 } = memoryWith([4 * 3, 3, 4 * 3]);
    new Int32Array(f32(1).buffer, at[1]!, 3).set([0, 4, 1]);
    expect(() => nk.cross_entropy(at[0]!, at[1]!, at[2]!, 3, 4)).toThrow(/target/);
  });

  it("next_byte_loss's loss sum and hits equal the evaluation's JS loop, ties and partial groups included", () => {
    for (const [n, columns, classes] of [
      [1, 1, 256],
      [37, 29, 256],
      [300, 300, 7],
    ] as const) {
      const { at, nk, f32 } = memoryWith([classes * n, n]);
      // rounded logits: ties for the largest in many columns (the first class wins)
      const z = randomArray(classes * n, n + columns, 2).map((x) => Math.round(x * 2) / 2);
      const targets = Int32Array.from({ length: n }, (_, j) => (j % 3 === 0 ? 0 : (j * 13 + 5) % classes));
      f32(0).set(z);
      new Int32Array(f32(1).buffer, at[1]!, n).set(targets);
      const [loss, hits] = nk.next_byte_loss(at[0]!, at[1]!, n, columns, classes, 0);
      const want = nextByteLossAndHits(z, targets, n, columns, classes);
      expect(hits).toBe(want.hits);
      expect(Math.abs(loss - want.lossSum)).toBeLessThan(1e-6 * want.lossSum);
      // a running sum goes on from where it was
      expect(nk.next_byte_loss(at[0]!, at[1]!, n, columns, classes, 1.5)[0]).toBeCloseTo(1.5 + loss, 9);
    }
  });

  it('row_sums, embed and embed_backward equal the JS loops, odd sizes', () => {
    const [d, t, batch, vocab, posRows] = [13, 7, 3, 11, 9];
    const n = t * batch;
    const { at, nk, f32 } = memoryWith([d * n, d, n, vocab * d, posRows * d, d * n, vocab * d, posRows * d]);
    const a = randomArray(d * n, 1);
    f32(0).set(a);
    nk.row_sums(at[0]!, d, n, at[1]!);
    closeTo(
      'row sums',
      f32(1),
      Array.from({ length: d }, (_, r) => a.subarray(r * n, (r + 1) * n).reduce((s, x) => s + x, 0)),
      1e-6,
    );
    const tokens = Int32Array.from({ length: n }, (_, c) => (c * 5 + 3) % vocab);
    new Int32Array(f32(2).buffer, at[2]!, n).set(tokens);
    const e = randomArray(vocab * d, 2);
    const pos = randomArray(posRows * d, 3);
    f32(3).set(e);
    f32(4).set(pos);
    nk.embed(at[2]!, at[3]!, at[4]!, at[5]!, d, n, t, vocab, posRows);
    const x0 = new Float32Array(d * n);
    for (let c = 0; c < n; c++)
      for (let r = 0; r < d; r++) x0[r * n + c] = e[tokens[c]! * d + r]! + pos[(c % t) * d + r]!;
    expect(f32(5)).toEqual(x0);
    f32(6).fill(7);
    f32(7).fill(7);
    nk.embed_backward(at[2]!, at[0]!, at[6]!, at[7]!, d, n, t, vocab, posRows);
    const [ge, gp] = [new Float32Array(vocab * d), new Float32Array(posRows * d)];
    for (let c = 0; c < n; c++)
      for (let r = 0; r < d; r++) {
        ge[tokens[c]! * d + r] += a[r * n + c]!;
        gp[(c % t) * d + r] += a[r * n + c]!;
      }
    expect(f32(6)).toEqual(ge);
    expect(f32(7)).toEqual(gp);
    new Int32Array(f32(2).buffer, at[2]!, n)[4] = vocab;
    expect(() => nk.embed(at[2]!, at[3]!, at[4]!, at[5]!, d, n, t, vocab, posRows)).toThrow(/token/);
  });

  it("adamw gives DenseOptimizer's bits, step after step (the same float32 operations in the same order)", () => {
    const count = 1003;
    const { at, nk, f32 } = memoryWith([count, count, count, count]);
    const o = { learningRate: 3e-3, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
    const params = new Map([['p', randomArray(count, 1)]]);
    const dense = new DenseOptimizer({ kind: 'adamw', ...o });
    f32(0).set(params.get('p')!);
    const f = Math.fround;
    for (let step = 1; step <= 4; step++) {
      const g = randomArray(count, 10 + step, step === 2 ? 1e-3 : 1);
      dense.step(params, new Map([['p', g]]));
      f32(1).set(g);
      nk.adamw(
        at[0]!,
        at[1]!,
        at[2]!,
        at[3]!,
        count,
        f(o.beta1),
        f(1 - o.beta1),
        f(o.beta2),
        f(1 - o.beta2),
        f(1 - Math.pow(o.beta1, step)),
        f(1 - Math.pow(o.beta2, step)),
        f(o.epsilon),
        f(1 - o.learningRate * o.weightDecay),
        f(o.learningRate),
      );
      expect(f32(0)).toEqual(params.get('p'));
    }
  });

  it('attention and its backward equal a float64 reference of the causal attention, odd sizes', () => {
    const [batch, heads, t, dh] = [2, 3, 7, 5];
    const d = heads * dh;
    const n = batch * t;
    const dn = d * n;
    const sizes = [
      dn,
      dn,
      dn,
      dn,
      dn,
      dn,
      dn,
      dn,
      dn,
      batch * heads * t * t,
      dn,
      t * dh,
      dn,
      dn,
      dn,
      dn,
      5 * t * dh + t * t,
    ];
    const { at, nk, f32 } = memoryWith(sizes);
    const [q, k, v, datt] = [randomArray(dn, 1), randomArray(dn, 2), randomArray(dn, 3), randomArray(dn, 4)];
    f32(0).set(q);
    f32(1).set(k);
    f32(2).set(v);
    f32(12).set(datt);
    const a = at as number[];
    nk.attention(
      a[0]!,
      a[1]!,
      a[2]!,
      a[3]!,
      a[4]!,
      a[5]!,
      a[6]!,
      a[7]!,
      a[8]!,
      a[9]!,
      a[10]!,
      a[11]!,
      batch,
      heads,
      t,
      dh,
    );
    nk.attention_backward(
      a[12]!,
      a[4]!,
      a[5]!,
      a[8]!,
      a[9]!,
      a[13]!,
      a[14]!,
      a[15]!,
      a[16]!,
      batch,
      heads,
      t,
      dh,
    );
    // reference, per window and head, in float64: element (row j, feature c) of head h at (h dh + c) n + b t + j
    const att = new Float64Array(dn);
    const [dq, dk, dv] = [new Float64Array(dn), new Float64Array(dn), new Float64Array(dn)];
    const scale = 1 / Math.sqrt(dh);
    for (let b = 0; b < batch; b++)
      for (let h = 0; h < heads; h++) {
        const ix = (j: number, c: number) => (h * dh + c) * n + b * t + j;
        const p = Array.from({ length: t }, (_, i) => {
          const s = Array.from({ length: i + 1 }, (_, j) => {
            let x = 0;
            for (let c = 0; c < dh; c++) x += q[ix(i, c)]! * k[ix(j, c)]!;
            return x * scale;
          });
          const max = Math.max(...s);
          const e = s.map((x) => Math.exp(x - max));
          const sum = e.reduce((x, y) => x + y, 0);
          return e.map((x) => x / sum);
        });
        for (let i = 0; i < t; i++)
          for (let c = 0; c < dh; c++) {
            let x = 0;
            for (let j = 0; j <= i; j++) x += p[i]![j]! * v[ix(j, c)]!;
            att[ix(i, c)] = x;
          }
        for (let i = 0; i < t; i++) {
          const dp = Array.from({ length: i + 1 }, (_, j) => {
            let x = 0;
            for (let c = 0; c < dh; c++) x += datt[ix(i, c)]! * v[ix(j, c)]!;
            return x;
          });
          const dot = dp.reduce((s, x, j) => s + x * p[i]![j]!, 0);
          for (let j = 0; j <= i; j++) {
            const ds = p[i]![j]! * (dp[j]! - dot) * scale;
            for (let c = 0; c < dh; c++) {
              dq[ix(i, c)] += ds * k[ix(j, c)]!;
              dk[ix(j, c)] += ds * q[ix(i, c)]!;
              dv[ix(j, c)] += p[i]![j]! * datt[ix(i, c)]!;
            }
          }
        }
      }
    closeTo('att', f32(10), att, 1e-5);
    closeTo('dq', f32(13), dq, 1e-5);
    closeTo('dk', f32(14), dk, 1e-5);
    closeTo('dv', f32(15), dv, 1e-5);
  });

  it("a whole QLoRA step (A and B trained) and a short run on the native kernel are close to the wasm kernel's", () => {
    const shape: TransformerShape = {
      dModel: 24,
      layers: 2,
      heads: 3,
      context: 20,
      mlpRatio: 2,
      activation: 'gelu',
    };
    const lora: LoraSettings = { rank: 3, alpha: 6, freezeA: false };
    const base = quantizeTransformer(initTransformer(shape, 4));
    const random = seededRandom(9);
    const adapters = makeDelta(
      initAdapters(base, lora, 5).tensors.map((x) =>
        x.name.endsWith('.lora_B') ? { ...x, values: x.values.map(() => 0.3 * gaussian(random)) } : x,
      ),
    );
    const text = Uint8Array.from({ length: 3000 }, (_, i) => (i % 5 === 0 ? 32 : 97 + ((i * 7) % 9)));
    const starts = [0, 91, 1500, 2900, 7];
    process.env.DML_LM_NATIVE = '0';
    const wasm = wasmQloraTransformerLossAndGradients(base, adapters, lora, text, starts, 17);
    delete process.env.DML_LM_NATIVE;
    const nat = wasmQloraTransformerLossAndGradients(base, adapters, lora, text, starts, 17);
    expect(Math.abs(nat.loss - wasm.loss)).toBeLessThan(1e-5 * wasm.loss);
    expect([...nat.grads.keys()].sort()).toEqual([...wasm.grads.keys()].sort());
    for (const [name, g] of wasm.grads) closeTo(name, nat.grads.get(name)!, g, 1e-4);

    const settings = {
      steps: 4,
      batchSize: 3,
      learningRate: 1e-2,
      weightDecay: 0.01,
      seed: 2,
      lmKernel: 'wasm' as const,
    };
    process.env.DML_LM_NATIVE = '0';
    const wasmRun = trainQloraTransformer(base, adapters, lora, text, settings);
    delete process.env.DML_LM_NATIVE;
    const nativeRun = trainQloraTransformer(base, adapters, lora, text, settings);
    expect(Math.abs(nativeRun.report.loss - wasmRun.report.loss)).toBeLessThan(1e-4 * wasmRun.report.loss);
    for (const [i, x] of wasmRun.adapters.tensors.entries())
      closeTo(x.name, nativeRun.adapters.tensors[i]!.values, x.values, 1e-3);
  });
});

describe("the engine's kernel memory, reused by the next engine of the thread after release()", () => {
  it('gives the same bits as a fresh memory, after an engine of another shape, and refuses a released engine', () => {
    const shape: TransformerShape = {
      dModel: 16,
      layers: 1,
      heads: 2,
      context: 12,
      mlpRatio: 2,
      activation: 'gelu',
    };
    const model = initTransformer(shape, 8);
    const text = Uint8Array.from({ length: 500 }, (_, i) => 97 + ((i * 5) % 11));
    const first = wasmTransformerLossAndGradients(model, text, [0, 40, 300]);
    // a bigger engine in between (its memory, released, is the next one's: larger and zeroed)
    wasmTransformerLossAndGradients(
      initTransformer({ ...shape, dModel: 32, context: 24 }, 9),
      text,
      [1, 2, 3, 4, 5],
    );
    const again = wasmTransformerLossAndGradients(model, text, [0, 40, 300]);
    expect(again.loss).toBe(first.loss);
    for (const [name, g] of first.grads) expect(again.grads.get(name)).toEqual(g);
    const engine = new WasmTransformerEngine({ kind: 'fp32', model }, 3, 12);
    engine.loadWindows(text, [0, 40, 300]);
    expect(engine.lossAndGradients()).toBe(first.loss);
    engine.release();
    expect(() => engine.lossAndGradients()).toThrow(/after release/);
  });
});
