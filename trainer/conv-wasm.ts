import type { DenseQloraLayer } from './dense-qlora.js';
import type { Nf4Tensor } from './nf4.js';
import { DenseKernel, type DenseKernelChoice, denseKernelChoice } from './dense-kernel.js';
import { softmaxCrossEntropyT } from './dense-wasm.js';
import { PIXEL_VALUES } from './examples.js';
import type { ConvFrontEnd } from './mlp.js';
import { type PlaneShape, flattenPlanes, unflattenPlanes } from './conv-planes.js';
import { type ConvPlanesKernel, convPlanesKernel } from './conv-planes-kernel.js';

/**
 * The QLoRA step of a convolutional network (a `ConvFrontEnd` then dense layers) on the
 * WebAssembly SIMD kernel of the dense engine (trainer/dense-kernel.wat), the convolutional
 * counterpart of trainer/dense-wasm.ts.
 *
 * Layout: a convolution's input and output are channel planes `[channels, n*h*w]`
 * (trainer/conv-planes.ts), so its patches transposed `P^T [k*k*c, n*h*w]` are the right operand
 * of the same products as a dense layer's `h^T [in, n]`, with n*h*w columns instead of n:
 * - forward: `P^T = im2col(h)`, `z^T = W P^T` (W decoded from NF4 a row at a time inside the
 *   product), `u^T = A P^T`, `z^T += s B u^T`, bias, ReLU, 2x2 max pooling (argmax kept); after
 *   the last convolution the planes are flattened to the dense layers' `[(y, x, c), n]`;
 * - backward: the dense layers as in dense-wasm.ts; then per convolution (last first)
 *   unflatten or `col2im` of the input gradient, the pooling's gradient (to each argmax), the ReLU
 *   mask, `dB = s dz^T u`, `du^T = s B^T dz^T`, `dA = du^T P` when A is trained, and (except for
 *   the first layer, whose input gradient nobody needs) `dP^T = W^T dz^T + A^T du^T`.
 * The products run where `products` says (default denseKernelChoice(): the native addon's AVX2 +
 * FMA products when it loads, else the wasm module's; DML_DENSE_NATIVE=0|1 as for the dense
 * engine), and with native products im2col, col2im and the pooling run natively too
 * (conv-planes-kernel.ts); the elementwise kernels and transposes are the wasm module's, the
 * flattening the JavaScript loop of conv-planes.ts. Deterministic: every sum has one fixed order,
 * same inputs same bits (on every machine for wasm; natively on one machine, the products fused:
 * native and wasm equal within float32 rounding, not bit for bit); not bit-identical to the
 * TensorFlow.js engine (its products sum in another order), equal within float32 rounding.
 */
/**
 * A layer of the engine: a QLoRA layer (NF4 weight, frozen, with adapters), or, to pretrain a
 * base, a full-precision one (`weight` a Float32Array [out, in]; its weight and bias get
 * gradients, `rank` 0 and no adapters).
 */
export interface ConvEngineLayer extends Omit<DenseQloraLayer, 'weight'> {
  readonly weight: Nf4Tensor | Float32Array;
}

const isFull = (l: ConvEngineLayer): l is ConvEngineLayer & { weight: Float32Array } =>
  l.weight instanceof Float32Array;

const nf4Of = (l: ConvEngineLayer): Nf4Tensor => {
  if (l.weight instanceof Float32Array) throw new Error(`layer ${l.name} is not NF4`);
  return l.weight;
};

export class WasmConvEngine {
  private readonly kernel: DenseKernel;
  private readonly planesKernel: ConvPlanesKernel;
  private readonly layers: readonly ConvEngineLayer[];
  private readonly convCount: number;
  /** Per convolution: its input planes at the engine's full batch (n = batch). */
  private readonly geometry: readonly ConvLayerGeometry[];
  private readonly at: readonly LayerAddresses[];
  /** Per pooled convolution: the argmax of its pooling, int32 in the kernel's memory. */
  private readonly argmaxAt: readonly number[];
  private readonly scalesAt: number;
  private readonly bufAt: number;
  private readonly bytesAt: number;
  private readonly tableAt: number;
  private readonly xTAt: number;
  private readonly imageAt: number;
  private readonly dLogitsAt: number;
  private readonly uAt: number;
  private readonly patchesAt: number;
  private readonly weightAt: number;
  private readonly onesAt: number;
  private readonly fullGradAt: number;
  private readonly aTAt: number;
  private readonly views: readonly LayerViews[];
  readonly batch: number;
  private readonly training: boolean;
  /** The input batch as bytes [batch, h*w*c] (pixels; each byte stands for `byteValues[byte]`). */
  readonly inputBytes: Uint8Array;
  /** The input batch as floats [batch, h*w*c] (row-major, channels last), for `'floats'`. */
  readonly input: Float32Array;

  /**
   * `layers`: the convolutions (as linear layers over patches) then the dense layers;
   * `training` false allocates the forward pass only (evaluation); `products`: where the products
   * (and with them the conv planes) run, default this process's denseKernelChoice().
   */
  constructor(
    conv: ConvFrontEnd,
    layers: readonly ConvEngineLayer[],
    batch: number,
    options: {
      readonly training?: boolean;
      readonly byteValues?: Float32Array;
      readonly products?: DenseKernelChoice;
    } = {},
  ) {
    this.kernel = new DenseKernel(options.products ?? denseKernelChoice());
    this.planesKernel = convPlanesKernel(this.kernel);
    this.layers = layers;
    this.batch = batch;
    this.training = options.training ?? true;
    this.convCount = conv.stages.length;
    let [height, width, channels] = [conv.height, conv.width, conv.channels];
    this.geometry = conv.stages.map((s) => {
      const g = { height, width, channels, kernel: s.kernel, pool: s.pool, outputs: s.channels };
      [height, width, channels] = s.pool ? [height / 2, width / 2, s.channels] : [height, width, s.channels];
      return g;
    });
    const k = this.kernel;
    const t = this.training;
    const inputs = conv.height * conv.width * conv.channels;
    const last = layers[layers.length - 1]!;
    const cols = (i: number): number =>
      i < this.convCount ? batch * this.geometry[i]!.height * this.geometry[i]!.width : batch;
    this.xTAt = k.alloc(batch * inputs);
    this.imageAt = k.alloc(batch * inputs);
    this.bytesAt = k.alloc((batch * inputs) / 4);
    this.tableAt = k.alloc(256);
    this.dLogitsAt = k.alloc(batch * last.outputs);
    this.scalesAt = k.alloc(Math.max(0, ...layers.map((l) => (isFull(l) ? 0 : nf4Of(l).scaleCodes.length))));
    this.onesAt = t ? k.alloc(Math.max(...layers.map((_, i) => cols(i)))) : 0;
    this.bufAt = k.alloc(Math.max(...layers.map((l) => Math.max(l.inputs, l.outputs, l.rank, batch))));
    // shared scratch: u [cols, r] and a layer's input [cols, in] (for A's gradient)
    this.uAt = t
      ? k.alloc(Math.max(...layers.map((l, i) => (i < this.convCount ? 0 : cols(i) * l.rank))))
      : 0;
    // a convolution's effective weight W + s B A [out, in] (one layer at a time), its full
    // gradient G [out, in] and A^T [in, r] (first G^T [in, out])
    const convLayers = layers.filter((l, i) => i < this.convCount || isFull(l));
    this.weightAt = k.alloc(Math.max(...convLayers.map((l) => l.outputs * l.inputs)));
    this.fullGradAt = t ? k.alloc(Math.max(...convLayers.map((l) => l.outputs * l.inputs))) : 0;
    this.aTAt = t ? k.alloc(Math.max(...convLayers.map((l) => Math.max(l.rank, l.outputs) * l.inputs))) : 0;
    this.patchesAt = t ? k.alloc(Math.max(...layers.map((l, i) => cols(i) * l.inputs))) : 0;
    this.at = layers.map((l, i) => {
      const n = cols(i);
      const conv = i < this.convCount;
      const pooledSize = conv && this.geometry[i]!.pool ? (l.outputs * n) / 4 : 0;
      const full = isFull(l);
      const w = full ? undefined : nf4Of(l);
      return {
        codes: w ? k.alloc(w.codes.length / 4) : 0,
        scaleCodes: w ? k.alloc(w.scaleCodes.length / 4) : 0,
        scaleScales: w ? k.alloc(w.scaleScales.length) : 0,
        weight32: full ? k.alloc(l.outputs * l.inputs) : 0,
        gW: full && t ? k.alloc(l.outputs * l.inputs) : 0,
        gBias: full && t ? k.alloc(l.outputs) : 0,
        A: k.alloc(l.rank * l.inputs),
        B: k.alloc(l.outputs * l.rank),
        bias: k.alloc(l.outputs),
        inT: conv || i === this.convCount ? k.alloc(l.inputs * n) : 0,
        zaT: k.alloc((l.outputs + (conv || full ? 0 : l.rank)) * n),
        aT: k.alloc(l.outputs * n),
        pooled: pooledSize ? k.alloc(pooledSize) : 0,
        gB: t ? k.alloc(l.outputs * l.rank) : 0,
        duT: t && !conv && !full ? k.alloc(l.rank * n) : 0,
        gA: t ? k.alloc(l.rank * l.inputs) : 0,
        dInT: t && i > 0 ? k.alloc(l.inputs * n) : 0,
        dOut: t && conv ? k.alloc(l.outputs * n) : 0,
      };
    });
    this.argmaxAt = layers.map((l, i) =>
      i < this.convCount && this.geometry[i]!.pool ? k.alloc((l.outputs * cols(i)) / 4) : 0,
    );
    k.commit();
    layers.forEach((l, i) => {
      const a = this.at[i]!;
      if (isFull(l)) return;
      const w = nf4Of(l);
      k.u8(a.codes, w.codes.length).set(w.codes);
      k.i8(a.scaleCodes, w.scaleCodes.length).set(w.scaleCodes);
      k.f32(a.scaleScales, w.scaleScales.length).set(w.scaleScales);
    });
    this.inputBytes = k.u8(this.bytesAt, batch * inputs);
    this.input = k.f32(this.xTAt, batch * inputs);
    k.f32(this.tableAt, 256).set(options.byteValues ?? PIXEL_VALUES);
    if (t) k.f32(this.onesAt, Math.max(...layers.map((_, i) => cols(i)))).fill(1);
    this.views = layers.map((l, i) => {
      const a = this.at[i]!;
      return {
        A: k.f32(a.A, l.rank * l.inputs),
        B: k.f32(a.B, l.outputs * l.rank),
        gB: t ? k.f32(a.gB, l.outputs * l.rank) : new Float32Array(0),
        gA: t ? k.f32(a.gA, l.rank * l.inputs) : new Float32Array(0),
        gW: a.gW ? k.f32(a.gW, l.outputs * l.inputs) : new Float32Array(0),
        gBias: a.gBias ? k.f32(a.gBias, l.outputs) : new Float32Array(0),
        bias: k.f32(a.bias, l.outputs),
      };
    });
  }

  /** The per-block scales of layer i's NF4 weight, into the shared scales scratch. */
  private scales(i: number): number {
    const w = nf4Of(this.layers[i]!);
    const a = this.at[i]!;
    this.kernel.k.nf4_scales(a.scaleCodes, a.scaleScales, w.scaleOffset, w.scaleCodes.length, this.scalesAt);
    return this.scalesAt;
  }

  /**
   * Convolution i's effective weight W + s B A [out, in], W decoded from NF4, into the shared
   * scratch (one layer's FP32 weight at a time, as QLoRA allows; a convolution's is small). Its
   * product with the patches costs out*in per position where the separate LoRA products cost
   * (out + r)*in + out*r, and the patches' gradient gives both adapters' gradients through
   * G = dz^T P (out*in per position once, then products of [out, in] matrices).
   */
  private effectiveWeight(i: number): number {
    const l = this.layers[i]!;
    const a = this.at[i]!;
    const k = this.kernel.k;
    if (isFull(l)) {
      this.kernel.f32(a.weight32, l.outputs * l.inputs).set(l.weight);
      return a.weight32;
    }
    k.nf4_decode(a.codes, this.scales(i), 0, l.outputs * l.inputs, this.weightAt);
    k.rows_times(a.B, l.outputs, l.rank, a.A, l.inputs, this.weightAt, l.scale, 1);
    return this.weightAt;
  }

  private planes(i: number, n: number): PlaneShape {
    const g = this.geometry[i]!;
    return { n, height: g.height, width: g.width, channels: g.channels };
  }

  /** The output planes of convolution i ([outputs, n*h'*w'] after pooling) and their shape. */
  private convOutput(i: number, n: number): { at: number; shape: PlaneShape } {
    const g = this.geometry[i]!;
    const [height, width] = g.pool ? [g.height / 2, g.width / 2] : [g.height, g.width];
    return {
      at: g.pool ? this.at[i]!.pooled : this.at[i]!.aT,
      shape: { n, height, width, channels: g.outputs },
    };
  }

  /**
   * Logits^T [classes, n] of the first n images of `inputBytes` ('bytes') or `input` ('floats'),
   * a view into the kernel's memory.
   */
  private forwardT(x: 'bytes' | 'floats', n: number): Float32Array {
    if (n > this.batch) throw new Error(`batch of ${n} images > the engine's ${this.batch}`);
    const kn = this.kernel;
    const k = kn.k;
    const g0 = this.geometry[0]!;
    const pixels = g0.height * g0.width;
    // the images [n, h, w, c] as planes [c, n*h*w]
    if (x === 'bytes') k.bytes_transposed(this.bytesAt, n * pixels, g0.channels, this.tableAt, this.imageAt);
    else k.transpose(this.xTAt, n * pixels, g0.channels, this.imageAt);
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i]!;
      const a = this.at[i]!;
      this.views[i]!.A.set(l.A);
      this.views[i]!.B.set(l.B);
      this.views[i]!.bias.set(l.bias);
      const conv = i < this.convCount;
      const merged = conv || isFull(l);
      const cols = conv ? n * this.geometry[i]!.height * this.geometry[i]!.width : n;
      let inT: number;
      if (conv) {
        const source = i === 0 ? this.imageAt : this.convOutput(i - 1, n).at;
        this.planesKernel.im2col(source, this.planes(i, n), this.geometry[i]!.kernel, a.inT);
        inT = a.inT;
      } else if (i === this.convCount) {
        const out = this.convOutput(i - 1, n);
        const size = out.shape.channels * out.shape.n * out.shape.height * out.shape.width;
        flattenPlanes(kn.f32(out.at, size), out.shape, kn.f32(a.inT, l.inputs * n));
        inT = a.inT;
      } else inT = this.at[i - 1]!.aT;
      if (merged) k.rows_times(this.effectiveWeight(i), l.outputs, l.inputs, inT, cols, a.zaT, 1, 0);
      else {
        const uT = a.zaT + l.outputs * cols * 4;
        k.nf4_rows_times(a.codes, this.scales(i), l.outputs, l.inputs, inT, cols, a.zaT, 1, 0, this.bufAt);
        k.rows_times(a.A, l.rank, l.inputs, inT, cols, uT, 1, 0);
        k.rows_times(a.B, l.outputs, l.rank, uT, cols, a.zaT, l.scale, 1);
      }
      k.bias_relu(a.zaT, l.outputs, cols, a.bias, a.aT, i < this.layers.length - 1 ? 1 : 0);
      if (conv && this.geometry[i]!.pool) {
        const shape = {
          n,
          height: this.geometry[i]!.height,
          width: this.geometry[i]!.width,
          channels: l.outputs,
        };
        this.planesKernel.maxPool2(a.aT, shape, a.pooled, this.argmaxAt[i]!);
      }
    }
    const last = this.layers.length - 1;
    return kn.f32(this.at[last]!.zaT, this.layers[last]!.outputs * n);
  }

  /** Logits [n, classes] of the first n images of `inputBytes` / `input` (a new array). */
  forward(x: 'bytes' | 'floats', n: number): Float32Array {
    const zT = this.forwardT(x, n);
    const classes = this.layers[this.layers.length - 1]!.outputs;
    const logits = new Float32Array(n * classes);
    for (let c = 0; c < classes; c++) for (let b = 0; b < n; b++) logits[b * classes + c] = zT[c * n + b]!;
    return logits;
  }

  /**
   * Loss and the adapters' gradients of a batch of n images (B always, A when `trainA`), by
   * tensor name; the gradients are views into the kernel's memory, valid until the next step.
   */
  lossAndGradients(
    x: 'bytes' | 'floats',
    labels: Int32Array,
    n: number,
    trainA: boolean,
  ): { loss: number; grads: Map<string, Float32Array> } {
    if (!this.training) throw new Error('this WasmConvEngine was built for evaluation only');
    const logitsT = this.forwardT(x, n);
    const kn = this.kernel;
    const k = kn.k;
    const classes = this.layers[this.layers.length - 1]!.outputs;
    const loss = softmaxCrossEntropyT(logitsT, labels, n, classes, kn.f32(this.dLogitsAt, classes * n));
    const grads = new Map<string, Float32Array>();
    let dzT = this.dLogitsAt;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i]!;
      const a = this.at[i]!;
      const conv = i < this.convCount;
      const cols = conv ? n * this.geometry[i]!.height * this.geometry[i]!.width : n;
      const { outputs: out, inputs: din, rank: r, scale: s } = l;
      const inT = conv || i === this.convCount ? a.inT : this.at[i - 1]!.aT;
      if (conv || isFull(l)) {
        // G = dz^T P [out, in], computed as G^T = P^T dz (the out columns of dz side by side in
        // the SIMD lanes); dB = s G A^T, dA = s B^T G; dP^T = (W + s B A)^T dz^T
        k.transpose(dzT, out, cols, this.patchesAt);
        k.rows_times(inT, din, cols, this.patchesAt, out, this.aTAt, 1, 0);
        if (isFull(l)) {
          // pretraining: G is the weight's gradient, the bias's is the sum of dz over the columns
          k.transpose(this.aTAt, din, out, a.gW);
          k.rows_times(dzT, out, cols, this.onesAt, 1, a.gBias, 1, 0);
          grads.set(`${l.name}.weight`, this.views[i]!.gW);
          grads.set(`${l.name}.bias`, this.views[i]!.gBias);
          if (i === 0) break;
          k.cols_times(this.effectiveWeight(i), out, din, dzT, cols, a.dInT, 1, 0, this.bufAt);
        }
      }
      if (isFull(l)) {
        // done above
      } else if (conv) {
        k.transpose(this.aTAt, din, out, this.fullGradAt);
        k.transpose(a.A, r, din, this.aTAt);
        k.rows_times(this.fullGradAt, out, din, this.aTAt, r, a.gB, s, 0);
        grads.set(`${l.name}.lora_B`, this.views[i]!.gB);
        if (trainA) {
          k.cols_times(a.B, out, r, this.fullGradAt, din, a.gA, s, 0, this.bufAt);
          grads.set(`${l.name}.lora_A`, this.views[i]!.gA);
        }
        if (i === 0) break;
        k.cols_times(this.effectiveWeight(i), out, din, dzT, cols, a.dInT, 1, 0, this.bufAt);
      } else {
        const uT = a.zaT + out * cols * 4;
        k.transpose(uT, r, cols, this.uAt);
        k.rows_times(dzT, out, cols, this.uAt, r, a.gB, s, 0);
        grads.set(`${l.name}.lora_B`, this.views[i]!.gB);
        k.cols_times(a.B, out, r, dzT, cols, a.duT, s, 0, this.bufAt);
        if (trainA) {
          k.transpose(inT, din, cols, this.patchesAt);
          k.rows_times(a.duT, r, cols, this.patchesAt, din, a.gA, 1, 0);
          grads.set(`${l.name}.lora_A`, this.views[i]!.gA);
        }
        k.nf4_cols_times(a.codes, this.scales(i), out, din, dzT, cols, a.dInT, 1, 0, this.bufAt);
        k.cols_times(a.A, r, din, a.duT, cols, a.dInT, 1, 1, this.bufAt);
      }
      if (i > this.convCount) {
        k.relu_mask(a.dInT, this.at[i - 1]!.zaT, din * n);
        dzT = a.dInT;
        continue;
      }
      // the gradient of convolution i-1's (pooled) output planes, then of its pre-activation
      const below = this.at[i - 1]!;
      const g = this.geometry[i - 1]!;
      const belowCols = n * g.height * g.width;
      const outShape = this.convOutput(i - 1, n).shape;
      const outSize = outShape.channels * n * outShape.height * outShape.width;
      const dOut = g.pool ? this.patchesAt : below.dOut;
      if (conv) this.planesKernel.col2im(a.dInT, this.planes(i, n), this.geometry[i]!.kernel, dOut);
      else unflattenPlanes(kn.f32(a.dInT, din * n), outShape, kn.f32(dOut, outSize));
      if (g.pool)
        this.planesKernel.maxPool2Grad(
          dOut,
          this.argmaxAt[i - 1]!,
          outSize,
          below.dOut,
          g.outputs * belowCols,
        );
      k.relu_mask(below.dOut, below.zaT, g.outputs * belowCols);
      dzT = below.dOut;
    }
    return { loss, grads };
  }
}

interface ConvLayerGeometry {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly kernel: number;
  readonly pool: boolean;
  readonly outputs: number;
}

interface LayerViews {
  readonly gW: Float32Array;
  readonly gBias: Float32Array;
  readonly bias: Float32Array;
  readonly A: Float32Array;
  readonly B: Float32Array;
  readonly gB: Float32Array;
  readonly gA: Float32Array;
}

interface LayerAddresses {
  /** A full-precision layer's weight [out, in] and the gradients of it and its bias. */
  readonly weight32: number;
  readonly gW: number;
  readonly gBias: number;
  readonly codes: number;
  readonly scaleCodes: number;
  readonly scaleScales: number;
  readonly A: number;
  readonly B: number;
  readonly bias: number;
  /** The product's right operand: patches^T [k*k*c, cols] of a convolution, the flattened features [in, n] of the first dense layer. */
  readonly inT: number;
  /** [z | u]^T [(out + r), cols]. */
  readonly zaT: number;
  /** ReLU(z)^T [out, cols]. */
  readonly aT: number;
  /** A pooled convolution's output planes [out, cols / 4]. */
  readonly pooled: number;
  readonly gB: number;
  readonly duT: number;
  readonly gA: number;
  /** The gradient of the product's right operand, [in, cols]. */
  readonly dInT: number;
  /** A convolution's gradient of its ReLU output, then (masked) of its pre-activation, [out, cols]. */
  readonly dOut: number;
}
