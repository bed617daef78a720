import type { DenseQloraLayer } from './dense-qlora.js';
import { DenseKernel, type DenseKernelChoice, denseKernelChoice } from './dense-kernel.js';
import { PIXEL_VALUES } from './examples.js';

/**
 * The dense QLoRA step of trainer/dense-qlora.ts computed by the WebAssembly SIMD kernel
 * (trainer/dense-kernel.wat) instead of TensorFlow.js products and JavaScript loops.
 *
 * Layout: activations are kept transposed, [features, n] (n = the batch's rows), so that every
 * product is `C = L R` with a weight (or adapter) row on the left, splatted, and 4 to 32 samples
 * per SIMD step on the right; the output of a layer is directly the next layer's input, and
 * only the batch itself is transposed once. Per layer:
 * - forward: `z^T = W h^T` with W decoded from NF4 one row at a time inside the product (a row
 *   of 784 floats in L1, never the layer), `u^T = A h^T`, `z^T += s B u^T`, bias, ReLU;
 * - backward: `dB = s dz^T u`, `du^T = s B^T dz^T`, `dA = du^T h` (when A is trained), and the
 *   input's gradient `dh^T = W^T dz^T + A^T du^T` (W decoded a column at a time), masked by the
 *   ReLU of the layer below;
 * - the base lives in the kernel's memory as NF4 codes and double-quantised scales only (copied
 *   once per run); the per-block scales are recomputed for each layer use (a few microseconds).
 * Deterministic: every sum has one fixed order (trainer/dense-kernel.wat), same inputs same bits
 * on every machine. Not bit-identical to the TensorFlow.js path (XNNPACK sums in another order).
 */
export class WasmDenseEngine {
  private readonly kernel: DenseKernel;
  private readonly layers: readonly DenseQloraLayer[];
  private readonly at: readonly LayerAddresses[];
  private readonly xAt: number;
  private readonly xTAt: number;
  private readonly dLogitsAt: number;
  private readonly scalesAt: number;
  private readonly bufAt: number;
  private readonly bytesAt: number;
  private readonly tableAt: number;
  private readonly views: readonly LayerViews[];
  readonly batch: number;
  /** The input batch [batch, inputs] in the kernel's memory: fill it to spare a copy. */
  readonly input: Float32Array;
  /**
   * The input batch as bytes [batch, inputs] (e.g. pixels), for `lossAndGradientsOfBytes`: each
   * byte stands for `byteValues[byte]` (given to the constructor).
   */
  readonly inputBytes: Uint8Array;

  /**
   * `byteValues`: the feature value of each byte of `inputBytes` (256 floats; default byte / 255);
   * `products`: where the products run (default this process's denseKernelChoice()).
   */
  constructor(
    layers: readonly DenseQloraLayer[],
    batch: number,
    byteValues: Float32Array = PIXEL_VALUES,
    products: DenseKernelChoice = denseKernelChoice(),
  ) {
    this.kernel = new DenseKernel(products);
    this.layers = layers;
    this.batch = batch;
    const k = this.kernel;
    const first = layers[0]!;
    const last = layers[layers.length - 1]!;
    this.xAt = k.alloc(batch * first.inputs);
    this.xTAt = k.alloc(batch * first.inputs);
    this.dLogitsAt = k.alloc(batch * last.outputs);
    this.scalesAt = k.alloc(Math.max(...layers.map((l) => l.weight.scaleCodes.length)));
    this.bytesAt = k.alloc((batch * first.inputs) / 4);
    this.tableAt = k.alloc(256);
    this.bufAt = k.alloc(Math.max(...layers.map((l) => Math.max(l.inputs, l.outputs, l.rank, batch))));
    this.at = layers.map((l) => ({
      codes: k.alloc(l.weight.codes.length / 4),
      scaleCodes: k.alloc(l.weight.scaleCodes.length / 4),
      scaleScales: k.alloc(l.weight.scaleScales.length),
      A: k.alloc(l.rank * l.inputs),
      B: k.alloc(l.outputs * l.rank),
      bias: k.alloc(l.outputs),
      zaT: k.alloc((l.outputs + l.rank) * batch),
      aT: k.alloc(l.outputs * batch),
      u: k.alloc(batch * l.rank),
      gB: k.alloc(l.outputs * l.rank),
      duT: k.alloc(l.rank * batch),
      gA: k.alloc(l.rank * l.inputs),
      h: k.alloc(batch * l.inputs),
      dInT: k.alloc(l.inputs * batch),
    }));
    k.commit();
    layers.forEach((l, i) => {
      const a = this.at[i]!;
      k.u8(a.codes, l.weight.codes.length).set(l.weight.codes);
      k.i8(a.scaleCodes, l.weight.scaleCodes.length).set(l.weight.scaleCodes);
      k.f32(a.scaleScales, l.weight.scaleScales.length).set(l.weight.scaleScales);
      k.f32(a.bias, l.outputs).set(l.bias);
    });
    this.input = k.f32(this.xAt, batch * first.inputs);
    this.inputBytes = k.u8(this.bytesAt, batch * first.inputs);
    k.f32(this.tableAt, 256).set(byteValues);
    this.views = layers.map((l, i) => {
      const a = this.at[i]!;
      return {
        A: k.f32(a.A, l.rank * l.inputs),
        B: k.f32(a.B, l.outputs * l.rank),
        gB: k.f32(a.gB, l.outputs * l.rank),
        gA: k.f32(a.gA, l.rank * l.inputs),
      };
    });
  }

  /** The per-block scales of layer i's NF4 weight, into the shared scales scratch. */
  private scales(i: number): number {
    const w = this.layers[i]!.weight;
    const a = this.at[i]!;
    this.kernel.k.nf4_scales(a.scaleCodes, a.scaleScales, w.scaleOffset, w.scaleCodes.length, this.scalesAt);
    return this.scalesAt;
  }

  /**
   * Logits^T [classes, n] of the first n rows of x, or of `inputBytes` when x is 'bytes' (a view
   * into the kernel's memory).
   */
  private forwardT(x: Float32Array | 'bytes', n: number): Float32Array {
    if (n > this.batch) throw new Error(`batch of ${n} rows > the engine's ${this.batch}`);
    const k = this.kernel.k;
    const inputs = this.layers[0]!.inputs;
    if (x === 'bytes') k.bytes_transposed(this.bytesAt, n, inputs, this.tableAt, this.xTAt);
    else {
      if (x !== this.input) this.input.set(x.subarray(0, n * inputs));
      k.transpose(this.xAt, n, inputs, this.xTAt);
    }
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i]!;
      const a = this.at[i]!;
      this.views[i]!.A.set(l.A);
      this.views[i]!.B.set(l.B);
      const hT = i === 0 ? this.xTAt : this.at[i - 1]!.aT;
      const uT = a.zaT + l.outputs * n * 4;
      k.nf4_rows_times(a.codes, this.scales(i), l.outputs, l.inputs, hT, n, a.zaT, 1, 0, this.bufAt);
      k.rows_times(a.A, l.rank, l.inputs, hT, n, uT, 1, 0);
      k.rows_times(a.B, l.outputs, l.rank, uT, n, a.zaT, l.scale, 1);
      k.bias_relu(a.zaT, l.outputs, n, a.bias, a.aT, i < this.layers.length - 1 ? 1 : 0);
    }
    const last = this.layers.length - 1;
    return this.kernel.f32(this.at[last]!.zaT, this.layers[last]!.outputs * n);
  }

  /** Logits [n, classes] of the first n rows of x (a new array). */
  forward(x: Float32Array, n: number): Float32Array {
    const zT = this.forwardT(x, n);
    const classes = this.layers[this.layers.length - 1]!.outputs;
    const logits = new Float32Array(n * classes);
    for (let c = 0; c < classes; c++) for (let b = 0; b < n; b++) logits[b * classes + c] = zT[c * n + b]!;
    return logits;
  }

  /**
   * Loss and the adapters' gradients of a batch of n rows (B always, A when `trainA`), by tensor
   * name; the gradients are views into the kernel's memory, valid until the next step.
   */
  lossAndGradients(
    x: Float32Array | 'bytes',
    labels: Int32Array,
    n: number,
    trainA: boolean,
  ): { loss: number; grads: Map<string, Float32Array> } {
    const logitsT = this.forwardT(x, n);
    const classes = this.layers[this.layers.length - 1]!.outputs;
    const dT = this.kernel.f32(this.dLogitsAt, classes * n);
    const loss = softmaxCrossEntropyT(logitsT, labels, n, classes, dT);
    const k = this.kernel.k;
    const grads = new Map<string, Float32Array>();
    let dzT = this.dLogitsAt;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i]!;
      const a = this.at[i]!;
      const { outputs: out, inputs: din, rank: r, scale: s } = l;
      const uT = a.zaT + out * n * 4;
      k.transpose(uT, r, n, a.u);
      k.rows_times(dzT, out, n, a.u, r, a.gB, s, 0);
      grads.set(`${l.name}.lora_B`, this.views[i]!.gB);
      if (trainA || i > 0) k.cols_times(a.B, out, r, dzT, n, a.duT, s, 0, this.bufAt);
      if (trainA) {
        // the layer's input [n, in]: the batch as given, else the layer below's output transposed back
        let h = this.xAt;
        if (i > 0) k.transpose(this.at[i - 1]!.aT, din, n, (h = a.h));
        else if (x === 'bytes') k.transpose(this.xTAt, din, n, (h = a.h));
        k.rows_times(a.duT, r, n, h, din, a.gA, 1, 0);
        grads.set(`${l.name}.lora_A`, this.views[i]!.gA);
      }
      if (i === 0) break;
      k.nf4_cols_times(a.codes, this.scales(i), out, din, dzT, n, a.dInT, 1, 0, this.bufAt);
      k.cols_times(a.A, r, din, a.duT, n, a.dInT, 1, 1, this.bufAt);
      k.relu_mask(a.dInT, this.at[i - 1]!.zaT, din * n);
      dzT = a.dInT;
    }
    return { loss, grads };
  }
}

interface LayerViews {
  readonly A: Float32Array;
  readonly B: Float32Array;
  readonly gB: Float32Array;
  readonly gA: Float32Array;
}

interface LayerAddresses {
  readonly codes: number;
  readonly scaleCodes: number;
  readonly scaleScales: number;
  readonly A: number;
  readonly B: number;
  readonly bias: number;
  /** [z | u]^T [(out + r), n]: z^T (pre-activation, bias included) then u^T = (x A^T)^T. */
  readonly zaT: number;
  /** ReLU(z)^T [out, n]: the next layer's input. */
  readonly aT: number;
  /** u [n, r]. */
  readonly u: number;
  readonly gB: number;
  readonly duT: number;
  readonly gA: number;
  /** The layer's input [n, in] (for A's gradient, layers after the first). */
  readonly h: number;
  /** The gradient of the layer's input, transposed [in, n]. */
  readonly dInT: number;
}

/**
 * Mean softmax cross-entropy of logits^T [classes, n]; its gradient (softmax - onehot) / n into
 * dT [classes, n]. The arithmetic of softmaxCrossEntropy (trainer/dense-qlora.ts), transposed.
 */
export const softmaxCrossEntropyT = (
  zT: Float32Array,
  labels: Int32Array,
  n: number,
  classes: number,
  dT: Float32Array,
): number => {
  let loss = 0;
  for (let b = 0; b < n; b++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, zT[c * n + b]!);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(zT[c * n + b]! - max);
    const logSum = Math.log(sum) + max;
    loss -= zT[labels[b]! * n + b]! - logSum;
    for (let c = 0; c < classes; c++)
      dT[c * n + b] = (Math.exp(zT[c * n + b]! - logSum) - (c === labels[b] ? 1 : 0)) / n;
  }
  return loss / n;
};
