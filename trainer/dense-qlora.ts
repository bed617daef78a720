import * as tf from '@tensorflow/tfjs';
import type { LoraSettings, QuantizedLayer } from './mlp.js';
import { NF4_BLOCK_SIZE, NF4_CODEBOOK, nf4BlockScale, type Nf4Tensor } from './nf4.js';

/**
 * The QLoRA step of a dense ReLU network (no convolution) on `Float32Array`s, with the products
 * that carry the FLOPs handed to TensorFlow.js as ONE `matMul` per layer and direction.
 *
 * Why (design_docs/performance.md has the measurements): a 32-sample step of the MNIST MLP is
 * ~3.4 M multiply-adds, well under a millisecond of one core's SIMD; the tensor way
 * (mlp-engine.ts) spent several times that on the dispatch of ~60 small operators (transposes,
 * adds, scalings, the optimiser's updates, the loss, a `dataSync` per step), a `transpose` of
 * the decoded weight and a slow scalar NF4 decode. Here:
 * - the layer's base weight and its LoRA A share one product. The forward multiplies
 *   `[W ; A]` ([out + r, in], NF4 decoded in its own layout, A appended) by `x^T` ([in, n]),
 *   giving `x W^T` and `u = x A^T` at once; the backward multiplies `[W^T | A^T]` (decoded into
 *   the transposed layout, no transpose op) by `[dz | du]^T` for the input's gradient. The
 *   decoded weight is always the LEFT operand: TensorFlow.js wasm (XNNPACK) packs a matMul's
 *   right operand anew for every new tensor, which cost 3x the product itself for a fresh weight;
 * - everything else (bias, ReLU, `u B^T`, softmax cross-entropy, the gradients of B and A, the
 *   optimiser) is a plain loop over a few thousand numbers, into buffers allocated once per run;
 * - NF4 is decoded by table: the 16 levels times each block's scale, then one look-up per weight,
 *   bit for bit the values of `dequantizeNf4Into`;
 * - 'per-step' (default): one layer decoded at a time into one scratch sized for the largest
 *   layer, in the forward and again in the backward (as QLoRA does), never an FP32 copy of the
 *   whole base; 'per-round' (opt-in, A frozen): every layer's decoded operand kept for the run;
 * - no `dataSync` of a loss: the loss is computed here.
 * Deterministic: same inputs, same backend, same bits (the loops have a fixed order).
 */

/** Products with fewer multiply-adds than this are plain loops (a dispatch costs more). */
export const DENSE_TENSOR_PRODUCT_MIN = 1 << 15;

/** c [m, n] = a [m, k] b [k, n], row-major, a plain loop. */
const loopProduct = (a: Float32Array, m: number, k: number, b: Float32Array, n: number): Float32Array => {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      if (av === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j]! += av * b[bp + j]!;
    }
  }
  return c;
};

/**
 * Decoded left operands kept for a whole training run (the 'per-round' mode, opt-in): by key,
 * as TensorFlow.js tensors for the products that are tensor products, as arrays for the loops.
 */
export interface DecodedCache {
  readonly tensors: Map<string, tf.Tensor2D>;
  readonly arrays: Map<string, Float32Array>;
}

/**
 * C [m, n] = A [m, k] B [k, n], row-major, where `fillA` writes A (e.g. decodes a weight) into
 * the array it is given. Large products are one TensorFlow.js `matMul` with A on the left: the
 * wasm backend (XNNPACK) packs a matMul's right operand anew for every new tensor, which costs
 * 3x the product when that operand is a freshly decoded weight. `scratch` holds A; with a
 * `cache` and a key, A is filled once and kept.
 */
export const denseProduct = (
  m: number,
  k: number,
  fillA: (out: Float32Array) => void,
  b: Float32Array,
  n: number,
  scratch: Float32Array,
  cached?: { readonly cache: DecodedCache; readonly key: string },
): Float32Array => {
  if (m * k * n < DENSE_TENSOR_PRODUCT_MIN) {
    let a = cached?.cache.arrays.get(cached.key);
    if (!a) {
      a = cached ? new Float32Array(m * k) : scratch.subarray(0, m * k);
      fillA(a);
      if (cached) cached.cache.arrays.set(cached.key, a);
    }
    return loopProduct(a, m, k, b, n);
  }
  let ta = cached?.cache.tensors.get(cached.key);
  if (!ta) {
    const a = scratch.subarray(0, m * k);
    fillA(a);
    ta = tf.tensor2d(a, [m, k]);
    if (cached) cached.cache.tensors.set(cached.key, ta);
  }
  const tb = tf.tensor2d(b.length === k * n ? b : b.subarray(0, k * n), [k, n]);
  const tc = tf.matMul(ta, tb);
  const out = (tc.dataSync() as Float32Array).slice();
  if (!cached) ta.dispose();
  tb.dispose();
  tc.dispose();
  return out;
};

/**
 * The 16 levels scaled by each block's absmax, block after block (16 floats per block of 64),
 * into `out`: decoding is then one table look-up per weight. Made per decode into a scratch
 * (kept, the table would be 8 bits per weight: twice the NF4 codes).
 */
export const scaledNf4Levels = (q: Nf4Tensor, out: Float32Array): Float32Array => {
  const blocks = q.scaleCodes.length;
  for (let b = 0; b < blocks; b++) {
    const s = nf4BlockScale(q, b);
    for (let c = 0; c < 16; c++) out[b * 16 + c] = NF4_CODEBOOK[c]! * s;
  }
  return out;
};

/**
 * Decodes an NF4 weight [rows, cols] into `out` as its transpose: element (j, k) goes to
 * `out[k * stride + j]` (stride >= rows leaves room for more columns). The values are those
 * of `dequantizeNf4Into`, bit for bit.
 */
export const dequantizeNf4TransposedInto = (
  q: Nf4Tensor,
  cols: number,
  out: Float32Array,
  stride: number,
  levels: Float32Array,
): void => {
  scaledNf4Levels(q, levels);
  const codes = q.codes;
  let j = 0;
  let k = 0;
  for (let i = 0; i < q.length; i++) {
    const byte = codes[i >> 1]!;
    const code = (i & 1) === 0 ? byte & 15 : byte >> 4;
    out[k * stride + j] = levels[((i / NF4_BLOCK_SIZE) | 0) * 16 + code]!;
    if (++k === cols) {
      k = 0;
      j++;
    }
  }
};

/**
 * Decodes an NF4 weight into `out` in its own layout (as `dequantizeNf4Into`, bit for bit):
 * one table look-up per weight, a byte (two weights) at a time.
 */
export const dequantizeNf4WithLevels = (q: Nf4Tensor, out: Float32Array, levels: Float32Array): void => {
  scaledNf4Levels(q, levels);
  const codes = q.codes;
  const n = q.length;
  const pairs = n >> 1;
  const perBlock = NF4_BLOCK_SIZE >> 1;
  for (let p = 0, b = 0; p < pairs; b += 16) {
    const end = Math.min(pairs, p + perBlock);
    for (; p < end; p++) {
      const byte = codes[p]!;
      out[2 * p] = levels[b + (byte & 15)]!;
      out[2 * p + 1] = levels[b + (byte >> 4)]!;
    }
  }
  if ((n & 1) === 1) out[n - 1] = levels[Math.floor((n - 1) / NF4_BLOCK_SIZE) * 16 + (codes[pairs]! & 15)]!;
};

/** One layer of the network as this engine sees it. */
export interface DenseQloraLayer {
  readonly name: string;
  readonly inputs: number;
  readonly outputs: number;
  readonly rank: number;
  readonly scale: number;
  readonly weight: Nf4Tensor;
  readonly bias: Float32Array;
  /** A [r, in] and B [out, r], row-major: the arrays the optimiser updates in place. */
  readonly A: Float32Array;
  readonly B: Float32Array;
}

export const denseQloraLayers = (
  layers: readonly QuantizedLayer[],
  lora: LoraSettings,
  adapter: (name: string) => { A: Float32Array; B: Float32Array },
): DenseQloraLayer[] =>
  layers.map((l) => ({
    name: l.name,
    inputs: l.inputs,
    outputs: l.outputs,
    rank: lora.rank,
    scale: lora.alpha / lora.rank,
    weight: l.weight,
    bias: l.bias,
    ...adapter(l.name),
  }));

/**
 * The engine's working memory, allocated once per training run and reused by every step (no
 * garbage per step): one layer's decoded weight with its A ((out + r) x in floats of the largest
 * layer: the only FP32 copy of base weights, one layer at a time) and its scaled NF4 levels
 * (16 per block of 64), and per layer the activations and gradients of a batch of up to `batch`.
 */
export interface DenseScratch {
  readonly batch: number;
  /**
   * 'per-round' mode only: every layer's decoded [W ; A] kept for the run (A must be frozen).
   * That is an FP32 copy of the whole base: faster, but not QLoRA's memory bound.
   */
  readonly cache?: DecodedCache;
  readonly weight: Float32Array;
  readonly levels: Float32Array;
  readonly perLayer: readonly LayerBuffers[];
  readonly dLogits: Float32Array;
}

interface LayerBuffers {
  /** The input transposed [in, n]. */
  readonly xT: Float32Array;
  /** Pre-activation [n, out] and its ReLU. */
  readonly z: Float32Array;
  readonly a: Float32Array;
  /** u = x A^T [n, r] and its gradient. */
  readonly u: Float32Array;
  readonly du: Float32Array;
  readonly duT: Float32Array;
  /** The gradient of B [out, r]. */
  readonly gB: Float32Array;
  /** [dz | du]^T [out + r, n] and the gradient of the input [n, in]. */
  readonly leftT: Float32Array;
  readonly dInput: Float32Array;
}

export const denseScratch = (
  layers: readonly DenseQloraLayer[],
  batch: number,
  decode: 'per-step' | 'per-round' = 'per-step',
): DenseScratch => ({
  batch,
  ...(decode === 'per-round' ? { cache: { tensors: new Map(), arrays: new Map() } } : {}),
  weight: new Float32Array(Math.max(...layers.map((l) => (l.outputs + l.rank) * l.inputs))),
  levels: new Float32Array(16 * Math.max(...layers.map((l) => l.weight.scaleCodes.length))),
  perLayer: layers.map((l) => ({
    xT: new Float32Array(l.inputs * batch),
    z: new Float32Array(batch * l.outputs),
    a: new Float32Array(batch * l.outputs),
    u: new Float32Array(batch * l.rank),
    du: new Float32Array(batch * l.rank),
    duT: new Float32Array(batch * l.rank),
    gB: new Float32Array(l.outputs * l.rank),
    leftT: new Float32Array((l.outputs + l.rank) * batch),
    dInput: new Float32Array(batch * l.inputs),
  })),
  dLogits: new Float32Array(batch * layers[layers.length - 1]!.outputs),
});

/** Frees what a scratch holds outside JavaScript (the cached tensors of the 'per-round' mode). */
export const disposeDenseScratch = (scratch: DenseScratch): void => {
  for (const t of scratch.cache?.tensors.values() ?? []) t.dispose();
  scratch.cache?.tensors.clear();
  scratch.cache?.arrays.clear();
};

/** The first `rows` rows of a [rows, cols] row-major matrix, transposed into `t`: [cols, rows]. */
const transposeInto = (a: Float32Array, rows: number, cols: number, t: Float32Array): Float32Array => {
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let j = 0; j < cols; j++) t[j * rows + i] = a[o + j]!;
  }
  return t.subarray(0, rows * cols);
};

/**
 * The forward pass of n <= scratch.batch rows: logits [n, classes] (a view into the scratch,
 * valid until the next pass). Per layer one product `[W ; A] x^T` ([out + r, in] x [in, n]):
 * the decoded weight is the product's left operand, because TensorFlow.js wasm (XNNPACK) packs
 * the right operand of a matMul for each new tensor, which costs 3x the product itself when that
 * operand is a freshly decoded weight.
 */
export const denseForward = (
  layers: readonly DenseQloraLayer[],
  x: Float32Array,
  n: number,
  scratch: DenseScratch,
): Float32Array => {
  let h = x;
  for (let li = 0; li < layers.length; li++) {
    const l = layers[li]!;
    const buffers = scratch.perLayer[li]!;
    const xT = transposeInto(h, n, l.inputs, buffers.xT);
    const zaT = denseProduct(
      l.outputs + l.rank,
      l.inputs,
      (wa) => {
        dequantizeNf4WithLevels(l.weight, wa, scratch.levels);
        wa.set(l.A, l.outputs * l.inputs);
      },
      xT,
      n,
      scratch.weight,
      scratch.cache && { cache: scratch.cache, key: `${li}:forward` },
    );
    adaptedOutput(l, zaT, n, buffers);
    if (li < layers.length - 1) {
      const { z, a } = buffers;
      for (let i = 0; i < n * l.outputs; i++) a[i] = z[i]! > 0 ? z[i]! : 0;
      h = a;
    } else h = buffers.z;
  }
  return h.subarray(0, n * layers[layers.length - 1]!.outputs);
};

/** From [x W^T | x A^T]^T ([out + r, n]): u = x A^T [n, r] and z = x W^T + b + s u B^T [n, out]. */
const adaptedOutput = (l: DenseQloraLayer, zaT: Float32Array, n: number, { z, u }: LayerBuffers): void => {
  const dout = l.outputs;
  const r = l.rank;
  const s = l.scale;
  const B = l.B;
  const bias = l.bias;
  for (let t = 0; t < r; t++) for (let b = 0; b < n; b++) u[b * r + t] = zaT[(dout + t) * n + b]!;
  for (let b = 0; b < n; b++) {
    for (let j = 0; j < dout; j++) {
      let lora = 0;
      for (let t = 0; t < r; t++) lora += u[b * r + t]! * B[j * r + t]!;
      z[b * dout + j] = zaT[j * n + b]! + bias[j]! + s * lora;
    }
  }
};

/** Mean softmax cross-entropy of logits [n, c] against labels; its gradient (softmax - onehot) / n into `d`. */
export const softmaxCrossEntropy = (
  logits: Float32Array,
  labels: Int32Array,
  n: number,
  classes: number,
  d: Float32Array,
): number => {
  let loss = 0;
  for (let b = 0; b < n; b++) {
    const o = b * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[o + c]!);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[o + c]! - max);
    const logSum = Math.log(sum) + max;
    loss -= logits[o + labels[b]!]! - logSum;
    for (let c = 0; c < classes; c++)
      d[o + c] = (Math.exp(logits[o + c]! - logSum) - (c === labels[b] ? 1 : 0)) / n;
  }
  return loss / n;
};

/**
 * Loss and the gradients of the adapters (B always; A when `trainA`) of a batch of n rows, by
 * tensor name (`fc1.lora_B`, ...). The gradients of B are views into the scratch, valid until
 * the next step.
 */
export const denseLossAndGradients = (
  layers: readonly DenseQloraLayer[],
  x: Float32Array,
  labels: Int32Array,
  n: number,
  scratch: DenseScratch,
  trainA: boolean,
): { loss: number; grads: Map<string, Float32Array> } => {
  const logits = denseForward(layers, x, n, scratch);
  const classes = layers[layers.length - 1]!.outputs;
  const loss = softmaxCrossEntropy(logits, labels, n, classes, scratch.dLogits);
  const grads = new Map<string, Float32Array>();
  let dz = scratch.dLogits;
  for (let li = layers.length - 1; li >= 0; li--) {
    const { inputs: din, outputs: dout, rank: r, scale: s, A, B, name, weight } = layers[li]!;
    const buffers = scratch.perLayer[li]!;
    const { u, gB, du } = buffers;
    const input = li === 0 ? x : scratch.perLayer[li - 1]!.a;
    // dB = s dz^T u [out, r]; du = s dz B [n, r] (needed for A's gradient or the input's)
    const needDu = trainA || li > 0;
    gB.fill(0);
    for (let b = 0; b < n; b++) {
      const ub = b * r;
      for (let j = 0; j < dout; j++) {
        const g = dz[b * dout + j]!;
        if (g === 0) continue;
        const gj = j * r;
        for (let t = 0; t < r; t++) gB[gj + t]! += g * u[ub + t]!;
      }
    }
    for (let i = 0; i < gB.length; i++) gB[i] = s * gB[i]!;
    if (needDu)
      for (let b = 0; b < n; b++) {
        const ub = b * r;
        for (let t = 0; t < r; t++) {
          let acc = 0;
          for (let j = 0; j < dout; j++) acc += dz[b * dout + j]! * B[j * r + t]!;
          du[ub + t] = s * acc;
        }
      }
    grads.set(`${name}.lora_B`, gB);
    if (trainA) {
      const duT = transposeInto(du, n, r, buffers.duT);
      grads.set(
        `${name}.lora_A`,
        denseProduct(r, n, (a) => a.set(duT), input, din, scratch.weight),
      );
    }
    if (li === 0) break;
    // dInput^T = [W^T | A^T] [dz | du]^T: [in, out + r] x [out + r, n]; the weight decoded again
    const width = dout + r;
    const leftT = buffers.leftT;
    for (let b = 0; b < n; b++) {
      for (let j = 0; j < dout; j++) leftT[j * n + b] = dz[b * dout + j]!;
      for (let t = 0; t < r; t++) leftT[(dout + t) * n + b] = du[b * r + t]!;
    }
    const dInputT = denseProduct(
      din,
      width,
      (wa) => {
        dequantizeNf4TransposedInto(weight, din, wa, width, scratch.levels);
        for (let k = 0; k < din; k++) for (let t = 0; t < r; t++) wa[k * width + dout + t] = A[t * din + k]!;
      },
      leftT.subarray(0, width * n),
      n,
      scratch.weight,
      scratch.cache && { cache: scratch.cache, key: `${li}:backward` },
    );
    const zPrev = scratch.perLayer[li - 1]!.z;
    const dInput = buffers.dInput;
    for (let b = 0; b < n; b++)
      for (let k = 0; k < din; k++) {
        const i = b * din + k;
        dInput[i] = zPrev[i]! > 0 ? dInputT[k * n + b]! : 0;
      }
    dz = dInput;
  }
  return { loss, grads };
};

/**
 * The optimisers of the engine on plain arrays, in float32 one operation at a time as the
 * tensor engine does: SGD with heavy-ball momentum (PyTorch's), or AdamW.
 */
export class DenseOptimizer {
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  private t = 0;

  constructor(
    private readonly settings:
      | { kind: 'sgd'; learningRate: number; momentum: number }
      | {
          kind: 'adamw';
          learningRate: number;
          weightDecay: number;
          beta1: number;
          beta2: number;
          epsilon: number;
        },
  ) {}

  step(params: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>): void {
    this.t++;
    const f = Math.fround;
    const o = this.settings;
    for (const [name, g] of grads) {
      const p = params.get(name)!;
      let m = this.m.get(name);
      if (!m) this.m.set(name, (m = new Float32Array(p.length)));
      if (o.kind === 'sgd') {
        const lr = f(o.learningRate);
        const mom = f(o.momentum);
        for (let i = 0; i < p.length; i++) {
          m[i] = f(f(m[i]! * mom) + g[i]!);
          p[i] = f(p[i]! - f(m[i]! * lr));
        }
        continue;
      }
      let v = this.v.get(name);
      if (!v) this.v.set(name, (v = new Float32Array(p.length)));
      const [b1, b2, eps, lr] = [f(o.beta1), f(o.beta2), f(o.epsilon), f(o.learningRate)];
      const [a1, a2] = [f(1 - o.beta1), f(1 - o.beta2)];
      const c1 = f(1 - Math.pow(o.beta1, this.t));
      const c2 = f(1 - Math.pow(o.beta2, this.t));
      const decay = f(1 - o.learningRate * o.weightDecay);
      for (let i = 0; i < p.length; i++) {
        m[i] = f(f(m[i]! * b1) + f(g[i]! * a1));
        v[i] = f(f(v[i]! * b2) + f(f(g[i]! * g[i]!) * a2));
        const update = f(f(m[i]! / c1) / f(f(Math.sqrt(f(v[i]! / c2))) + eps));
        p[i] = f(f(p[i]! * decay) - f(update * lr));
      }
    }
  }
}
