import { DmlError, type Delta, makeDelta } from '../offchain/index.js';
import { DenseKernel } from './dense-kernel.js';
import { DenseOptimizer } from './dense-qlora.js';
import type { LoraSettings } from './mlp.js';
import type { TrainingReport } from './mlp-engine.js';
import { dequantizeNf4 } from './nf4.js';
import {
  GEMM_FULL,
  GEMM_LOWER_LEFT,
  GEMM_LOWER_OUTPUT,
  GEMM_LOWER_RIGHT,
  type TransformerKernelExports,
  type TransformerStepExports,
  gemmPanelFloats,
  transformerKernel,
  transformerKernelChoice,
  transformerStepKernel,
} from './transformer-kernel.js';
import { seededRandom } from './random.js';
import {
  type QuantizedTransformer,
  type Transformer,
  TRANSFORMER_VOCABULARY,
  transformerWithParams,
} from './transformer.js';

/**
 * The QLoRA step of the byte-level causal transformer (trainer/transformer.ts) on WebAssembly
 * SIMD: the dense engine's kernel (trainer/dense-kernel.wat: NF4 decode, transposes) and the
 * transformer kernel (trainer/transformer-kernel.wat: the products, FMA where relaxed SIMD is
 * on; LayerNorm, GELU and the causal softmax, forward and backward); the loss and the gathers
 * between layouts are plain loops. With the native kernel (trainer/native, `TransformerStepExports`)
 * those loops, the dense kernel's transposes and AdamW run natively instead (the same maths;
 * the loops here stay the wasm path and the references). Every buffer lives in the kernel's
 * memory, allocated once per engine (batch and window fixed).
 *
 * Layout: activations are kept transposed, [features, N] with N = batch x window (column
 * n = b T + t), as in trainer/dense-wasm.ts, so that a linear layer is `y^T = W x^T` with the
 * NF4 weight's row decoded on the left and 32 tokens per SIMD step on the right:
 *   y^T = W x^T (+ bias) + s B (A x^T),   s = alpha / r.
 * Its backward: dB = s dy^T u, du^T = s B^T dy^T, dA = du^T x, dx^T = W^T dy^T + A^T du^T (W
 * decoded a column at a time; the input gradient is skipped where nothing needs it: the first
 * block's q, k, v, whose input is the frozen embedding).
 * Attention, per window b and head h (Q, K, V gathered from q^T, k^T, v^T into [T, dh] and
 * [dh, T] blocks): S = (Q K^T) / sqrt(dh), P = causal softmax of S's rows, O = P V; backward
 * dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(P dP)), dQ = dS K / sqrt(dh), dK = dS^T Q / sqrt(dh).
 * The base lives in the kernel's memory as NF4 codes with its per-block scales (decoded once per
 * engine: 1/64 of the weights); the token embedding is dequantised once (256 x d floats) and read
 * row by row (no gradient: it is frozen). Only the adapters are trained (AdamW, DenseOptimizer).
 *
 * Deterministic: every sum has one fixed order (the kernel's and these loops'), same inputs same
 * bits. Not bit-identical to the TensorFlow.js engine (its products sum in another order).
 */

/** What the engine trains: the adapters of an NF4 base (QLoRA), or every weight of an FP32 model. */
export type WasmTransformerModel =
  | { readonly kind: 'qlora'; readonly base: QuantizedTransformer; readonly lora: LoraSettings }
  | { readonly kind: 'fp32'; readonly model: Transformer };

interface LinearAt {
  readonly name: string;
  /** FP32 mode: the weight [out, in] and its gradient. */
  readonly weight: number;
  readonly gW: number;
  /** FP32 mode: the bias's gradient [out]. */
  readonly gBias: number;
  readonly inputs: number;
  readonly outputs: number;
  readonly codes: number;
  readonly scales: number;
  readonly A: number;
  readonly B: number;
  readonly bias: number;
  readonly gA: number;
  readonly gB: number;
  /** u^T = A x^T [r, N] of the last forward. */
  readonly uT: number;
}

interface BlockAt {
  /** The block's input x^T [d, N] (the residual stream). */
  readonly x: number;
  /** LayerNorm 1's output [d, N]. */
  readonly a1: number;
  /** LayerNorm 1's mean and 1/std per column [N] (float32, in the kernel's memory). */
  readonly mean1: number;
  readonly rstd1: number;
  readonly q: number;
  readonly k: number;
  readonly v: number;
  /** Q, K, V per (window, head) as [T, dh] (rows) and [dh, T] (columns) blocks. */
  readonly qr: number;
  readonly qc: number;
  readonly kr: number;
  readonly kc: number;
  readonly vr: number;
  readonly vc: number;
  /** The causal softmax per (window, head) [T, T]. */
  readonly p: number;
  /** Attention output [d, N] (heads merged). */
  readonly att: number;
  /** x + o(att) [d, N]. */
  readonly mid: number;
  readonly a2: number;
  readonly mean2: number;
  readonly rstd2: number;
  /** up's output before the activation [ratio d, N], after it, and GELU's tanh term. */
  readonly up: number;
  readonly act: number;
  /** GELU's tanh term [ratio d, N] (unused with ReLU). */
  readonly tanh: number;
}

/** A LayerNorm's gamma and beta [d] (addresses in the kernel's memory). */
interface NormAt {
  readonly gamma: number;
  readonly beta: number;
}

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * The kernel (and its ~100 MB memory at lmStep's shape) of the last engine released in this
 * thread, reset and reused by the next one: a wasm memory is freed only by the garbage collector,
 * and when a step makes little garbage (the native kernel's) a second engine made right after a
 * first (a warm-up run, then the run) would otherwise hold both memories at once (+84 MB of peak
 * RSS measured at lmStep's shape).
 */
let spareKernel: DenseKernel | undefined;

const takeKernel = (): DenseKernel => {
  const kernel = spareKernel;
  spareKernel = undefined;
  if (!kernel) return new DenseKernel();
  kernel.reset();
  return kernel;
};

export class WasmTransformerEngine {
  private readonly kernel = takeKernel();
  private released = false;
  private readonly tk: TransformerKernelExports;
  /** The native kernel's step functions (loss, embedding, attention, transposed products, AdamW), else undefined: JS loops. */
  private readonly nk: TransformerStepExports | undefined;
  readonly batch: number;
  readonly window: number;
  private readonly n: number;
  private readonly d: number;
  private readonly heads: number;
  private readonly dh: number;
  private readonly hidden: number;
  private readonly rank: number;
  private readonly scale: number;
  private readonly trainA: boolean;
  private readonly linears: Map<string, LinearAt>;
  private readonly blocks: readonly BlockAt[];
  private readonly finalX: number;
  private readonly af: number;
  private readonly meanF: number;
  private readonly rstdF: number;
  private readonly logits: number;
  private readonly dLogits: number;
  private readonly dx: number;
  private readonly da: number;
  private readonly dq: number;
  private readonly dk: number;
  private readonly dv: number;
  private readonly dAtt: number;
  private readonly dAct: number;
  /** dO of one (window, head) as rows [T, dh] and columns [dh, T]; dQ rows; dK^T, dV^T [dh, T]. */
  private readonly dOr: number;
  private readonly dOc: number;
  private readonly dP: number;
  private readonly dQr: number;
  private readonly dKc: number;
  private readonly dVc: number;
  private readonly oR: number;
  private readonly uRows: number;
  private readonly duT: number;
  private readonly buf: number;
  private readonly panel: number;
  /** One layer's weight decoded [out, in], and transposed [in, out]. */
  private readonly w: number;
  private readonly wT: number;
  /** An adapter transposed (B^T [r, out] or A^T [in, r]). */
  private readonly adapterT: number;
  private readonly duRows: number;
  private readonly gAT: number;
  private readonly embedding: Float32Array;
  private readonly norms = new Map<string, NormAt>();
  /** Their gradients (FP32 mode; QLoRA: all one scratch, unread). */
  private readonly gNorms = new Map<string, NormAt>();
  private readonly lnScratch: number;
  private readonly gelu: boolean;
  private readonly positions: Float32Array;
  private readonly layerCount: number;
  /** FP32 mode: every parameter trained (no NF4, no adapters). */
  private readonly full: boolean;
  private readonly model: Transformer | undefined;
  private readonly gEmbedding: Float32Array;
  private readonly gPositions: Float32Array;
  private readonly xRows: number;
  /** The x^T whose transpose xRows holds in this backward (q, k and v share their input), or -1. */
  private xRowsOf = -1;
  private readonly bigPanel: number;
  /** The trainable adapter tensors (views into the kernel's memory), by name. */
  readonly params = new Map<string, Float32Array>();
  /** Their gradients after `lossAndGradients` (views, overwritten by the next call). */
  readonly grads = new Map<string, Float32Array>();
  /** The loaded windows' tokens and targets [N] (int32 views into the kernel's memory). */
  private readonly tokens: Int32Array;
  private readonly targets: Int32Array;
  private readonly tokensAt: number;
  private readonly targetsAt: number;
  private readonly embeddingAt: number;
  private readonly positionsAt: number;
  private readonly gEmbeddingAt: number;
  private readonly gPositionsAt: number;
  /** Native: scratch of attention_backward, AdamW's moments (m then v, one float each per trained float). */
  private readonly attentionScratch: number;
  private readonly moments: number;
  private readonly paramFloats: number;
  /** The trained tensors' addresses (parameter, gradient, size), for the native AdamW. */
  private readonly slots: Array<{ p: number; g: number; count: number }> = [];

  constructor(what: WasmTransformerModel, batch: number, window: number) {
    const full = (this.full = what.kind === 'fp32');
    this.model = what.kind === 'fp32' ? what.model : undefined;
    const s = what.kind === 'fp32' ? what.model.shape : what.base.shape;
    const lora: LoraSettings = what.kind === 'qlora' ? what.lora : { rank: 1, alpha: 1, freezeA: true };
    const layers =
      what.kind === 'qlora' ? what.base.layers : what.model.linears.map((l) => ({ ...l, weight: undefined }));
    if (window > s.context)
      throw new DmlError('TEXT_CONTEXT', `window of ${window} bytes, context ${s.context}`);
    const k = this.kernel;
    const choice = transformerKernelChoice();
    const native = choice === 'native';
    this.batch = batch;
    this.window = window;
    this.layerCount = s.layers;
    const n = (this.n = batch * window);
    const d = (this.d = s.dModel);
    this.heads = s.heads;
    const dh = (this.dh = d / s.heads);
    const hidden = (this.hidden = s.mlpRatio * d);
    const r = (this.rank = full ? 0 : lora.rank);
    this.scale = lora.alpha / lora.rank;
    this.trainA = !full && !lora.freezeA;
    const t = window;
    const bh = batch * s.heads;
    this.linears = new Map(
      layers.map((l) => [
        l.name,
        {
          name: l.name,
          weight: full ? k.alloc(l.inputs * l.outputs) : 0,
          gW: full ? k.alloc(l.inputs * l.outputs) : 0,
          gBias: k.alloc(full ? l.outputs : 0),
          inputs: l.inputs,
          outputs: l.outputs,
          codes: l.weight ? k.alloc(l.weight.codes.length / 4) : 0,
          scales: l.weight ? k.alloc(l.weight.scaleCodes.length) : 0,
          A: k.alloc(r * l.inputs),
          B: k.alloc(l.outputs * r),
          bias: k.alloc(l.outputs),
          gA: k.alloc(r * l.inputs),
          gB: k.alloc(l.outputs * r),
          uT: k.alloc(r * n),
        },
      ]),
    );
    const scratchScaleCodes = k.alloc(
      Math.max(0, ...layers.map((l) => l.weight?.scaleCodes.length ?? 0)) / 4,
    );
    const scratchScaleScales = k.alloc(Math.max(0, ...layers.map((l) => l.weight?.scaleScales.length ?? 0)));
    const dn = d * n;
    this.blocks = Array.from({ length: s.layers }, () => ({
      x: k.alloc(dn),
      a1: k.alloc(dn),
      mean1: k.alloc(n + 4),
      rstd1: k.alloc(n + 4),
      q: k.alloc(dn),
      k: k.alloc(dn),
      v: k.alloc(dn),
      qr: k.alloc(dn),
      qc: k.alloc(dn),
      kr: k.alloc(dn),
      kc: k.alloc(dn),
      vr: k.alloc(dn),
      vc: k.alloc(dn),
      p: k.alloc(bh * t * t),
      att: k.alloc(dn),
      mid: k.alloc(dn),
      a2: k.alloc(dn),
      mean2: k.alloc(n + 4),
      rstd2: k.alloc(n + 4),
      up: k.alloc(hidden * n),
      act: k.alloc(hidden * n),
      tanh: k.alloc(s.activation === 'gelu' ? hidden * n : 0),
    }));
    this.finalX = k.alloc(dn);
    this.af = k.alloc(dn);
    this.meanF = k.alloc(n + 4);
    this.rstdF = k.alloc(n + 4);
    this.logits = k.alloc(TRANSFORMER_VOCABULARY * n);
    this.dLogits = k.alloc(TRANSFORMER_VOCABULARY * n);
    this.dx = k.alloc(dn);
    this.da = k.alloc(dn);
    this.dq = k.alloc(dn);
    this.dk = k.alloc(dn);
    this.dv = k.alloc(dn);
    this.dAtt = k.alloc(dn);
    this.dAct = k.alloc(hidden * n);
    this.dOr = k.alloc(t * dh);
    this.dP = k.alloc(t * t);
    this.dQr = k.alloc(t * dh);
    this.dOc = k.alloc(t * dh);
    this.dKc = k.alloc(t * dh);
    this.dVc = k.alloc(t * dh);
    this.oR = k.alloc(t * dh);
    this.uRows = k.alloc(n * r);
    this.duT = k.alloc(r * n);
    this.buf = k.alloc(Math.max(hidden, TRANSFORMER_VOCABULARY, n, t, d, r));
    const widest = Math.max(...layers.map((l) => l.inputs * l.outputs));
    this.xRows = k.alloc(full ? n * hidden : 0);
    this.bigPanel = k.alloc(full ? gemmPanelFloats(n) : 0);
    this.panel = k.alloc(gemmPanelFloats(Math.max(hidden, TRANSFORMER_VOCABULARY, d, t)));
    this.w = k.alloc(widest);
    this.wT = k.alloc(widest);
    this.adapterT = k.alloc(r * Math.max(hidden, TRANSFORMER_VOCABULARY));
    this.duRows = k.alloc(n * r);
    this.gAT = k.alloc(hidden * r);
    this.gelu = s.activation === 'gelu';
    const normList = what.kind === 'qlora' ? what.base.norms : what.model.norms;
    const gNormScratch = full ? undefined : { gamma: k.alloc(d), beta: k.alloc(d) };
    for (const x of normList) {
      this.norms.set(x.name, { gamma: k.alloc(d), beta: k.alloc(d) });
      this.gNorms.set(x.name, gNormScratch ?? { gamma: k.alloc(d), beta: k.alloc(d) });
    }
    this.lnScratch = k.alloc(8 * d);
    this.tokensAt = k.alloc(n);
    this.targetsAt = k.alloc(n);
    const vd = TRANSFORMER_VOCABULARY * d;
    const pd = s.context * d;
    this.embeddingAt = k.alloc(vd);
    this.positionsAt = k.alloc(pd);
    this.gEmbeddingAt = k.alloc(full ? vd : 0);
    this.gPositionsAt = k.alloc(full ? pd : 0);
    this.attentionScratch = k.alloc(native ? 5 * t * dh + t * t : 0);
    this.paramFloats = full
      ? vd +
        pd +
        normList.length * 2 * d +
        layers.reduce((sum, l) => sum + l.inputs * l.outputs + l.outputs, 0)
      : layers.reduce((sum, l) => sum + l.outputs * r + (this.trainA ? r * l.inputs : 0), 0);
    this.moments = k.alloc(native ? 2 * this.paramFloats : 0);
    // the kernel's LayerNorm reads up to 16 bytes past a buffer: none is the memory's last
    k.alloc(4);
    k.commit();
    for (const x of normList) {
      const at = this.norms.get(x.name)!;
      k.f32(at.gamma, d).set(x.gamma);
      k.f32(at.beta, d).set(x.beta);
    }
    this.tk = transformerKernel(k.k.memory, choice);
    this.nk = transformerStepKernel(k.k.memory, choice);
    for (const l of what.kind === 'qlora' ? what.base.layers : []) {
      const at = this.linears.get(l.name)!;
      const w = l.weight;
      k.u8(at.codes, w.codes.length).set(w.codes);
      k.i8(scratchScaleCodes, w.scaleCodes.length).set(w.scaleCodes);
      k.f32(scratchScaleScales, w.scaleScales.length).set(w.scaleScales);
      k.k.nf4_scales(scratchScaleCodes, scratchScaleScales, w.scaleOffset, w.scaleCodes.length, at.scales);
      k.f32(at.bias, l.outputs).set(l.bias);
      this.trained(`${l.name}.lora_B`, at.B, at.gB, l.outputs * r);
      if (this.trainA) this.trained(`${l.name}.lora_A`, at.A, at.gA, r * l.inputs);
    }
    this.embedding = k.f32(this.embeddingAt, vd);
    this.positions = k.f32(this.positionsAt, pd);
    this.gEmbedding = k.f32(this.gEmbeddingAt, full ? vd : 0);
    this.gPositions = k.f32(this.gPositionsAt, full ? pd : 0);
    if (what.kind === 'qlora') {
      this.embedding.set(dequantizeNf4(what.base.embedding));
      this.positions.set(what.base.positions);
    } else {
      // every parameter a copy, trained in place; the gradients beside them
      const m = what.model;
      this.embedding.set(m.embedding);
      this.positions.set(m.positions);
      this.trained('embedding', this.embeddingAt, this.gEmbeddingAt, vd);
      this.trained('positions', this.positionsAt, this.gPositionsAt, pd);
      for (const x of m.norms) {
        const p = this.norms.get(x.name)!;
        const g = this.gNorms.get(x.name)!;
        this.trained(`${x.name}.gamma`, p.gamma, g.gamma, d);
        this.trained(`${x.name}.beta`, p.beta, g.beta, d);
      }
      for (const l of m.linears) {
        const at = this.linears.get(l.name)!;
        const size = l.inputs * l.outputs;
        k.f32(at.weight, size).set(l.weight);
        k.f32(at.bias, l.outputs).set(l.bias);
        this.trained(`${l.name}.weight`, at.weight, at.gW, size);
        this.trained(`${l.name}.bias`, at.bias, at.gBias, l.outputs);
      }
    }
    this.tokens = new Int32Array(k.k.memory.buffer, this.tokensAt, n);
    this.targets = new Int32Array(k.k.memory.buffer, this.targetsAt, n);
  }

  /** Registers a trained tensor: its views in `params` and `grads`, its addresses for the native AdamW. */
  private trained(name: string, p: number, g: number, count: number): void {
    this.params.set(name, this.kernel.f32(p, count));
    this.grads.set(name, this.kernel.f32(g, count));
    this.slots.push({ p, g, count });
  }

  /**
   * An AdamW step of every trained tensor (`optimizerStep()`, step t = 1, 2, ...): the native
   * kernel's fused pass over parameters, gradients and moments when it is in use, else
   * DenseOptimizer's loop; the same float32 operations in the same order either way.
   */
  optimizer(o: {
    learningRate: number;
    weightDecay: number;
    beta1: number;
    beta2: number;
    epsilon: number;
  }): () => void {
    const nk = this.nk;
    if (!nk) {
      const dense = new DenseOptimizer({ kind: 'adamw', ...o });
      return () => dense.step(this.params, this.grads);
    }
    const f = Math.fround;
    const total = this.paramFloats;
    this.kernel.f32(this.moments, 2 * total).fill(0);
    let t = 0;
    return () => {
      t++;
      const c1 = f(1 - Math.pow(o.beta1, t));
      const c2 = f(1 - Math.pow(o.beta2, t));
      const decay = f(1 - o.learningRate * o.weightDecay);
      let offset = 0;
      for (const x of this.slots) {
        const m = this.moments + 4 * offset;
        const v = this.moments + 4 * (total + offset);
        nk.adamw(
          x.p,
          x.g,
          m,
          v,
          x.count,
          f(o.beta1),
          f(1 - o.beta1),
          f(o.beta2),
          f(1 - o.beta2),
          c1,
          c2,
          f(o.epsilon),
          decay,
          f(o.learningRate),
        );
        offset += x.count;
      }
    };
  }

  /**
   * Hands the kernel's memory to the next engine of this thread: this engine and every view it
   * gave (`params`, `grads`, logits) must not be used afterwards (its step functions throw).
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    spareKernel = this.kernel;
  }

  /** Writes the adapters (every `<layer>.lora_A` and `.lora_B`) into the kernel's memory. */
  setAdapters(adapters: Delta): void {
    const byName = new Map(adapters.tensors.map((x) => [x.name, x]));
    for (const l of this.linears.values())
      for (const [suffix, at, size] of [
        ['.lora_A', l.A, this.rank * l.inputs],
        ['.lora_B', l.B, l.outputs * this.rank],
      ] as const) {
        const x = byName.get(`${l.name}${suffix}`);
        if (!x || x.values.length !== size)
          throw new DmlError(
            'DELTA_UNKNOWN_TENSOR',
            `the adapters have no ${l.name}${suffix} of ${size} values`,
          );
        this.kernel.f32(at, size).set(x.values);
      }
  }

  /** The adapters as they are now in the kernel's memory (copies), in the order of `like`. */
  readAdapters(like: Delta): Delta {
    return makeDelta(
      like.tensors.map((x) => {
        const layer = this.linears.get(x.name.replace(/\.lora_[AB]$/, ''))!;
        const at = x.name.endsWith('.lora_A') ? layer.A : layer.B;
        return { name: x.name, shape: [...x.shape], values: this.kernel.f32(at, x.values.length).slice() };
      }),
    );
  }

  /** FP32 mode: the model with its parameters as they are now (copies). */
  readModel(): Transformer {
    const m = this.model;
    if (!m) throw new Error('readModel of a QLoRA engine');
    return transformerWithParams(m, (name) => this.params.get(name)!.slice());
  }

  /** Loads the windows at `starts`: inputs text[s .. s + T), targets text[s + 1 .. s + T + 1). */
  loadWindows(text: Uint8Array, starts: readonly number[]): void {
    if (starts.length !== this.batch)
      throw new DmlError('LM_BATCH', `${starts.length} windows for an engine of ${this.batch}`);
    const t = this.window;
    starts.forEach((s, b) => {
      for (let j = 0; j < t; j++) {
        this.tokens[b * t + j] = text[s + j]!;
        this.targets[b * t + j] = text[s + j + 1]!;
      }
    });
  }

  private f32(at: number, length: number): Float32Array {
    return this.kernel.f32(at, length);
  }

  // ---- forward

  /** y^T [out, N] (=|+=) W x^T + bias + s B (A x^T). */
  private linear(name: string, xT: number, yT: number, accumulate: boolean): void {
    const l = this.linears.get(name)!;
    const k = this.kernel.k;
    const n = this.n;
    const acc = accumulate ? 1 : 0;
    const g = this.tk;
    if (this.full) {
      g.gemm(l.weight, l.outputs, l.inputs, xT, n, yT, 1, acc, this.panel, GEMM_FULL);
      k.bias_relu(yT, l.outputs, n, l.bias, yT, 0);
      return;
    }
    k.nf4_decode(l.codes, l.scales, 0, l.outputs * l.inputs, this.w);
    g.gemm(this.w, l.outputs, l.inputs, xT, n, yT, 1, acc, this.panel, GEMM_FULL);
    g.gemm(l.A, this.rank, l.inputs, xT, n, l.uT, 1, 0, this.panel, GEMM_FULL);
    g.gemm(l.B, l.outputs, this.rank, l.uT, n, yT, this.scale, 1, this.panel, GEMM_FULL);
    k.bias_relu(yT, l.outputs, n, l.bias, yT, 0);
  }

  /** LayerNorm over the d rows of each column of x^T [d, N] into a^T; keeps mean and 1/std. */
  private layerNorm(name: string, xT: number, aT: number, mean: number, rstd: number): void {
    const { gamma, beta } = this.norms.get(name)!;
    this.tk.layer_norm(xT, aT, mean, rstd, gamma, beta, this.d, this.n);
  }

  /** dx^T += the gradient of LayerNorm's input, given da^T its output's (FP32: gamma's and beta's too). */
  private layerNormBackward(
    name: string,
    xT: number,
    daT: number,
    mean: number,
    rstd: number,
    dxT: number,
  ): void {
    const { gamma } = this.norms.get(name)!;
    const g = this.gNorms.get(name)!;
    this.tk.layer_norm_backward(
      xT,
      daT,
      mean,
      rstd,
      gamma,
      dxT,
      g.gamma,
      g.beta,
      this.lnScratch,
      this.d,
      this.n,
    );
  }

  /** Copies head h of window b of z^T [d, N] into rows [T, dh] and columns [dh, T] blocks. */
  private gatherHead(zT: number, b: number, h: number, rows: number, cols: number): void {
    const { n, dh, window: t } = this;
    const z = this.f32(zT, this.d * n);
    const zr = this.f32(rows, t * dh);
    const zc = this.f32(cols, t * dh);
    for (let c = 0; c < dh; c++) {
      const from = (h * dh + c) * n + b * t;
      zc.set(z.subarray(from, from + t), c * t);
      for (let j = 0; j < t; j++) zr[j * dh + c] = z[from + j]!;
    }
  }

  /** z^T [d, N]'s head h of window b (=) a rows block [T, dh]. */
  private scatterHead(rows: number, b: number, h: number, zT: number): void {
    const { n, dh, window: t } = this;
    const z = this.f32(zT, this.d * n);
    const zr = this.f32(rows, t * dh);
    for (let c = 0; c < dh; c++) {
      const to = (h * dh + c) * n + b * t;
      for (let j = 0; j < t; j++) z[to + j] = zr[j * dh + c]!;
    }
  }

  /** z^T [d, N]'s head h of window b (=) a columns block [dh, T] (one contiguous copy per row). */
  private scatterHeadColumns(cols: number, b: number, h: number, zT: number): void {
    const { n, dh, window: t } = this;
    const z = this.f32(zT, this.d * n);
    const zc = this.f32(cols, t * dh);
    for (let c = 0; c < dh; c++) z.set(zc.subarray(c * t, (c + 1) * t), (h * dh + c) * n + b * t);
  }

  private attention(blk: BlockAt): void {
    const { dh, window: t, heads } = this;
    if (this.nk) {
      this.nk.attention(
        blk.q,
        blk.k,
        blk.v,
        blk.qr,
        blk.qc,
        blk.kr,
        blk.kc,
        blk.vr,
        blk.vc,
        blk.p,
        blk.att,
        this.oR,
        this.batch,
        heads,
        t,
        dh,
      );
      return;
    }
    const block = t * dh * 4;
    const alpha = 1 / Math.sqrt(dh);
    for (let b = 0; b < this.batch; b++)
      for (let h = 0; h < heads; h++) {
        const i = b * heads + h;
        const qr = blk.qr + i * block;
        const qc = blk.qc + i * block;
        const kr = blk.kr + i * block;
        const kc = blk.kc + i * block;
        const vr = blk.vr + i * block;
        const vc = blk.vc + i * block;
        const p = blk.p + i * t * t * 4;
        this.gatherHead(blk.q, b, h, qr, qc);
        this.gatherHead(blk.k, b, h, kr, kc);
        this.gatherHead(blk.v, b, h, vr, vc);
        // S [T, T] = Q K^T / sqrt(dh) = Qc^T Kc
        this.tk.gemm(qr, t, dh, kc, t, p, alpha, 0, this.panel, GEMM_LOWER_OUTPUT);
        this.tk.causal_softmax(p, t);
        this.tk.gemm(p, t, t, vr, dh, this.oR, 1, 0, this.panel, GEMM_LOWER_LEFT);
        this.scatterHead(this.oR, b, h, blk.att);
      }
  }

  private attentionBackward(blk: BlockAt): void {
    const g = this.tk;
    const { dh, window: t, heads } = this;
    if (this.nk) {
      this.nk.attention_backward(
        this.dAtt,
        blk.qc,
        blk.kr,
        blk.vc,
        blk.p,
        this.dq,
        this.dk,
        this.dv,
        this.attentionScratch,
        this.batch,
        heads,
        t,
        dh,
      );
      return;
    }
    const block = t * dh * 4;
    const alpha = 1 / Math.sqrt(dh);
    for (let b = 0; b < this.batch; b++)
      for (let h = 0; h < heads; h++) {
        const i = b * heads + h;
        const p = blk.p + i * t * t * 4;
        this.gatherHead(this.dAtt, b, h, this.dOr, this.dOc);
        // dV^T = dO^T P [dh, T] (P lower-triangular on the right: nothing transposed), dP = dO V^T
        g.gemm(this.dOc, dh, t, p, t, this.dVc, 1, 0, this.panel, GEMM_LOWER_RIGHT);
        g.gemm(this.dOr, t, dh, blk.vc + i * block, t, this.dP, 1, 0, this.panel, GEMM_LOWER_OUTPUT);
        g.causal_softmax_backward(p, this.dP, t);
        // dQ = dS K / sqrt(dh), dK^T = Q^T dS / sqrt(dh)
        g.gemm(this.dP, t, t, blk.kr + i * block, dh, this.dQr, alpha, 0, this.panel, GEMM_LOWER_LEFT);
        g.gemm(blk.qc + i * block, dh, t, this.dP, t, this.dKc, alpha, 0, this.panel, GEMM_LOWER_RIGHT);
        this.scatterHead(this.dQr, b, h, this.dq);
        this.scatterHeadColumns(this.dKc, b, h, this.dk);
        this.scatterHeadColumns(this.dVc, b, h, this.dv);
      }
  }

  /** Logits^T [256, N] of the loaded windows. */
  private forward(): Float32Array {
    if (this.released) throw new Error('WasmTransformerEngine used after release()');
    const { n, d, window: t } = this;
    const x0At = this.blocks[0]?.x ?? this.finalX;
    if (this.nk)
      this.nk.embed(
        this.tokensAt,
        this.embeddingAt,
        this.positionsAt,
        x0At,
        d,
        n,
        t,
        TRANSFORMER_VOCABULARY,
        this.positions.length / d,
      );
    else {
      const x0 = this.f32(x0At, d * n);
      const e = this.embedding;
      const pos = this.positions;
      for (let c = 0; c < n; c++) {
        const row = this.tokens[c]! * d;
        const prow = (c % t) * d;
        for (let r = 0; r < d; r++) x0[r * n + c] = e[row + r]! + pos[prow + r]!;
      }
    }
    for (let i = 0; i < this.layerCount; i++) {
      const blk = this.blocks[i]!;
      const out = i + 1 < this.layerCount ? this.blocks[i + 1]!.x : this.finalX;
      this.layerNorm(`h${i}.ln1`, blk.x, blk.a1, blk.mean1, blk.rstd1);
      this.linear(`h${i}.q`, blk.a1, blk.q, false);
      this.linear(`h${i}.k`, blk.a1, blk.k, false);
      this.linear(`h${i}.v`, blk.a1, blk.v, false);
      this.attention(blk);
      this.f32(blk.mid, d * n).set(this.f32(blk.x, d * n));
      this.linear(`h${i}.o`, blk.att, blk.mid, true);
      this.layerNorm(`h${i}.ln2`, blk.mid, blk.a2, blk.mean2, blk.rstd2);
      this.linear(`h${i}.up`, blk.a2, blk.up, false);
      if (this.gelu) this.tk.gelu(blk.up, blk.act, blk.tanh, this.hidden * n);
      else
        activate(this.f32(blk.up, this.hidden * n), this.f32(blk.act, this.hidden * n), new Float32Array(0));
      this.f32(out, d * n).set(this.f32(blk.mid, d * n));
      this.linear(`h${i}.down`, blk.act, out, true);
    }
    this.layerNorm('lnf', this.finalX, this.af, this.meanF, this.rstdF);
    this.linear('head', this.af, this.logits, false);
    return this.f32(this.logits, TRANSFORMER_VOCABULARY * n);
  }

  // ---- backward

  /**
   * The adapters' gradients of a linear layer given dy^T [out, N] and its input x^T; with dxT,
   * also its input's gradient (=|+=) W^T dy^T + A^T du^T.
   */
  private linearBackward(
    name: string,
    dyT: number,
    xT: number,
    dxT: number | undefined,
    accumulate: boolean,
  ): void {
    const l = this.linears.get(name)!;
    const k = this.kernel.k;
    const { n, rank: r, scale: s } = this;
    const g = this.tk;
    const nk = this.nk;
    if (nk) {
      // the same products with their transposes inside the native gemm's packing
      if (this.full) {
        nk.gemm_transposed(dyT, l.outputs, n, xT, l.inputs, l.gW, 1, 0, 2);
        nk.row_sums(dyT, l.outputs, n, l.gBias);
        if (dxT !== undefined)
          nk.gemm_transposed(l.weight, l.inputs, l.outputs, dyT, n, dxT, 1, accumulate ? 1 : 0, 1);
        return;
      }
      nk.gemm_transposed(dyT, l.outputs, n, l.uT, r, l.gB, s, 0, 2);
      nk.gemm_transposed(l.B, r, l.outputs, dyT, n, this.duT, s, 0, 1);
      if (this.trainA) nk.gemm_transposed(this.duT, r, n, xT, l.inputs, l.gA, 1, 0, 2);
      if (dxT === undefined) return;
      k.nf4_decode(l.codes, l.scales, 0, l.outputs * l.inputs, this.w);
      nk.gemm_transposed(this.w, l.inputs, l.outputs, dyT, n, dxT, 1, accumulate ? 1 : 0, 1);
      nk.gemm_transposed(l.A, l.inputs, r, this.duT, n, dxT, 1, 1, 1);
      return;
    }
    if (this.full) {
      // dW = dy^T x [out, in] (x as rows [N, in]), db = row sums of dy^T, dx^T = W^T dy^T
      if (this.xRowsOf !== xT) k.transpose(xT, l.inputs, n, this.xRows);
      this.xRowsOf = xT;
      g.gemm(dyT, l.outputs, n, this.xRows, l.inputs, l.gW, 1, 0, this.bigPanel, GEMM_FULL);
      const dy = this.f32(dyT, l.outputs * n);
      const gBias = this.f32(l.gBias, l.outputs);
      for (let o = 0; o < l.outputs; o++) {
        let sum = 0;
        for (let c = 0, at = o * n; c < n; c++) sum += dy[at + c]!;
        gBias[o] = sum;
      }
      if (dxT === undefined) return;
      k.transpose(l.weight, l.outputs, l.inputs, this.wT);
      g.gemm(this.wT, l.inputs, l.outputs, dyT, n, dxT, 1, accumulate ? 1 : 0, this.panel, GEMM_FULL);
      return;
    }
    // dB = s dy^T u [out, r]; du^T = s B^T dy^T [r, N]
    k.transpose(l.uT, r, n, this.uRows);
    k.rows_times(dyT, l.outputs, n, this.uRows, r, l.gB, s, 0);
    k.transpose(l.B, l.outputs, r, this.adapterT);
    g.gemm(this.adapterT, r, l.outputs, dyT, n, this.duT, s, 0, this.panel, GEMM_FULL);
    if (this.trainA) {
      // dA^T = x^T du [in, r], then transposed
      k.transpose(this.duT, r, n, this.duRows);
      k.rows_times(xT, l.inputs, n, this.duRows, r, this.gAT, 1, 0);
      k.transpose(this.gAT, l.inputs, r, l.gA);
    }
    if (dxT === undefined) return;
    // dx^T = W^T dy^T + A^T du^T
    k.nf4_decode(l.codes, l.scales, 0, l.outputs * l.inputs, this.w);
    k.transpose(this.w, l.outputs, l.inputs, this.wT);
    g.gemm(this.wT, l.inputs, l.outputs, dyT, n, dxT, 1, accumulate ? 1 : 0, this.panel, GEMM_FULL);
    k.transpose(l.A, r, l.inputs, this.adapterT);
    g.gemm(this.adapterT, l.inputs, r, this.duT, n, dxT, 1, 1, this.panel, GEMM_FULL);
  }

  /**
   * The mean next-byte cross-entropy (nats) of the loaded windows and the trainable adapters'
   * gradients (in `grads`).
   */
  lossAndGradients(): number {
    const { n, d } = this;
    const logits = this.forward();
    const loss = this.nk
      ? this.nk.cross_entropy(this.logits, this.targetsAt, this.dLogits, n, TRANSFORMER_VOCABULARY)
      : crossEntropyColumns(
          logits,
          this.targets,
          n,
          TRANSFORMER_VOCABULARY,
          this.f32(this.dLogits, TRANSFORMER_VOCABULARY * n),
        );
    const dx = this.f32(this.dx, d * n);
    dx.fill(0);
    this.xRowsOf = -1;
    this.linearBackward('head', this.dLogits, this.af, this.da, false);
    this.layerNormBackward('lnf', this.finalX, this.da, this.meanF, this.rstdF, this.dx);
    for (let i = this.layerCount - 1; i >= 0; i--) {
      const blk = this.blocks[i]!;
      const hn = this.hidden * n;
      // x_out = mid + down(act(up(ln2(mid))))
      this.linearBackward(`h${i}.down`, this.dx, blk.act, this.dAct, false);
      if (this.gelu) this.tk.gelu_backward(blk.up, this.dAct, blk.tanh, hn);
      else activationBackward(this.f32(blk.up, hn), this.f32(this.dAct, hn), new Float32Array(0));
      this.linearBackward(`h${i}.up`, this.dAct, blk.a2, this.da, false);
      this.layerNormBackward(`h${i}.ln2`, blk.mid, this.da, blk.mean2, blk.rstd2, this.dx);
      // mid = x + o(attention(q, k, v of ln1(x)))
      this.linearBackward(`h${i}.o`, this.dx, blk.att, this.dAtt, false);
      this.attentionBackward(blk);
      const needInput = i > 0 || this.full;
      this.linearBackward(`h${i}.q`, this.dq, blk.a1, needInput ? this.da : undefined, false);
      this.linearBackward(`h${i}.k`, this.dk, blk.a1, needInput ? this.da : undefined, true);
      this.linearBackward(`h${i}.v`, this.dv, blk.a1, needInput ? this.da : undefined, true);
      if (needInput) this.layerNormBackward(`h${i}.ln1`, blk.x, this.da, blk.mean1, blk.rstd1, this.dx);
    }
    if (this.full && this.nk)
      this.nk.embed_backward(
        this.tokensAt,
        this.dx,
        this.gEmbeddingAt,
        this.gPositionsAt,
        d,
        n,
        this.window,
        TRANSFORMER_VOCABULARY,
        this.positions.length / d,
      );
    else if (this.full) {
      // x0 = E[token] + P[t]: the rows' gradients summed by token and by position
      const t = this.window;
      const ge = this.gEmbedding;
      const gp = this.gPositions;
      ge.fill(0);
      gp.fill(0);
      for (let c = 0; c < n; c++) {
        const row = this.tokens[c]! * d;
        const prow = (c % t) * d;
        for (let r = 0; r < d; r++) {
          const g = dx[r * n + c]!;
          ge[row + r] += g;
          gp[prow + r] += g;
        }
      }
    }
    return loss;
  }

  /**
   * Logits^T [256, N] of the loaded windows: a view into the kernel's memory, column n = b T + t
   * (token n's logit of byte c at c N + n), overwritten by the next forward pass.
   */
  logitsTransposed(): Float32Array {
    return this.forward();
  }

  /**
   * A forward pass of the loaded windows, then, over their first `columns` columns, adds to `into`
   * the sum of the next-byte cross-entropies and the number of right guesses (`nextByteLossAndHits`
   * of trainer/transformer-wasm-evaluation.ts, natively when the native kernel is in use).
   */
  addNextByteLoss(columns: number, into: { lossSum: number; hits: number }): void {
    const zT = this.forward();
    if (!this.nk) {
      nextByteLossAndHits(zT, this.targets, this.n, columns, TRANSFORMER_VOCABULARY, into);
      return;
    }
    // the running sum goes in, so that its bits do not depend on the batching
    const [lossSum, hits] = this.nk.next_byte_loss(
      this.logits,
      this.targetsAt,
      this.n,
      columns,
      TRANSFORMER_VOCABULARY,
      into.lossSum,
    );
    into.lossSum = lossSum;
    into.hits += hits;
  }

  /** Logits [N, 256] of the loaded windows (a new array, row-major: token n's 256 logits). */
  logitsOfWindows(): Float32Array {
    const zT = this.forward();
    const n = this.n;
    const out = new Float32Array(n * TRANSFORMER_VOCABULARY);
    for (let c = 0; c < TRANSFORMER_VOCABULARY; c++)
      for (let j = 0; j < n; j++) out[j * TRANSFORMER_VOCABULARY + c] = zT[c * n + j]!;
    return out;
  }
}

/** Each row i of P [T, T] (=) softmax of its entries j <= i, 0 above the diagonal. */
export const causalSoftmaxRows = (p: Float32Array, t: number): void => {
  for (let i = 0; i < t; i++) {
    const o = i * t;
    let max = -Infinity;
    for (let j = 0; j <= i; j++) max = Math.max(max, p[o + j]!);
    let sum = 0;
    for (let j = 0; j <= i; j++) {
      const e = Math.exp(p[o + j]! - max);
      p[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j <= i; j++) p[o + j] = p[o + j]! * inv;
    for (let j = i + 1; j < t; j++) p[o + j] = 0;
  }
};

/** dS = P (dP - rowsum(P dP)) in place of dP, per row (the softmax's gradient). */
export const softmaxRowsBackward = (p: Float32Array, dp: Float32Array, t: number): void => {
  for (let i = 0; i < t; i++) {
    const o = i * t;
    let dot = 0;
    for (let j = 0; j <= i; j++) dot += p[o + j]! * dp[o + j]!;
    for (let j = 0; j <= i; j++) dp[o + j] = p[o + j]! * (dp[o + j]! - dot);
    for (let j = i + 1; j < t; j++) dp[o + j] = 0;
  }
};

/** tanh(u) = 1 - 2 / (e^(2u) + 1): one exp (V8's Math.tanh costs several times as much). */
const tanhOfExp = (u: number): number => 1 - 2 / (Math.exp(2 * u) + 1);

/**
 * out = act(z): GELU in its tanh form, 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))), keeping
 * the tanh term for the backward in `tanh`; ReLU when `tanh` is empty.
 */
export const activate = (z: Float32Array, out: Float32Array, tanh: Float32Array): void => {
  if (tanh.length === 0) {
    for (let i = 0; i < z.length; i++) out[i] = z[i]! > 0 ? z[i]! : 0;
    return;
  }
  for (let i = 0; i < z.length; i++) {
    const x = z[i]!;
    const th = tanhOfExp(GELU_C * (x + 0.044715 * x * x * x));
    tanh[i] = th;
    out[i] = 0.5 * x * (1 + th);
  }
};

/** d (=) d act'(z) in place, with the tanh terms `activate` kept (ReLU when empty). */
export const activationBackward = (z: Float32Array, d: Float32Array, tanh: Float32Array): void => {
  if (tanh.length === 0) {
    for (let i = 0; i < z.length; i++) if (!(z[i]! > 0)) d[i] = 0;
    return;
  }
  for (let i = 0; i < z.length; i++) {
    const x = z[i]!;
    const th = tanh[i]!;
    d[i] = d[i]! * (0.5 * (1 + th) + 0.5 * x * (1 - th * th) * GELU_C * (1 + 3 * 0.044715 * x * x));
  }
};

/**
 * Mean softmax cross-entropy of logits^T [classes, n] against targets; its gradient
 * (softmax - onehot) / n into dT [classes, n].
 */
export const crossEntropyColumns = (
  zT: Float32Array,
  targets: Int32Array,
  n: number,
  classes: number,
  dT: Float32Array,
): number => {
  const max = new Float64Array(n).fill(-Infinity);
  for (let c = 0; c < classes; c++)
    for (let j = 0, o = c * n; j < n; j++) max[j] = Math.max(max[j]!, zT[o + j]!);
  const sum = new Float64Array(n);
  for (let c = 0; c < classes; c++)
    for (let j = 0, o = c * n; j < n; j++) {
      const e = Math.exp(zT[o + j]! - max[j]!);
      dT[o + j] = e;
      sum[j] += e;
    }
  let loss = 0;
  for (let j = 0; j < n; j++) loss -= zT[targets[j]! * n + j]! - max[j]! - Math.log(sum[j]!);
  for (let c = 0; c < classes; c++)
    for (let j = 0, o = c * n; j < n; j++)
      dT[o + j] = (dT[o + j]! / sum[j]! - (targets[j] === c ? 1 : 0)) / n;
  return loss / n;
};

/**
 * Over the first `columns` columns of logits^T [classes, n]: adds to `into` each column's
 * cross-entropy (nats, float64: log-sum-exp with the column's max subtracted) against its target,
 * one column after the other (so the sum's order is the columns' whatever the batches), and
 * counts the columns whose largest logit (the first, on a tie) is the target.
 */
export const nextByteLossAndHits = (
  zT: Float32Array,
  targets: Int32Array,
  n: number,
  columns: number,
  classes = TRANSFORMER_VOCABULARY,
  into: { lossSum: number; hits: number } = { lossSum: 0, hits: 0 },
): { lossSum: number; hits: number } => {
  let { lossSum, hits } = into;
  for (let j = 0; j < columns; j++) {
    let max = -Infinity;
    let best = 0;
    for (let c = 0; c < classes; c++) {
      const z = zT[c * n + j]!;
      if (z > max) {
        max = z;
        best = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(zT[c * n + j]! - max);
    lossSum -= zT[targets[j]! * n + j]! - max - Math.log(sum);
    if (best === targets[j]) hits++;
  }
  into.lossSum = lossSum;
  into.hits = hits;
  return into;
};

/** What the training loop needs from the TransformerTrainingSettings (trainer/transformer-engine.ts). */
export interface WasmTrainingSettings {
  readonly steps: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly window?: number;
  readonly windowStart?: (step: number, b: number) => number;
  readonly learningRate: number;
  readonly weightDecay: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
}

/** The steps: per step a batch of windows, the loss, the gradients, an AdamW step (in place). */
const runWasmSteps = (
  engine: WasmTransformerEngine,
  text: Uint8Array,
  settings: WasmTrainingSettings,
  started: number,
): TrainingReport => {
  const t = engine.window;
  const random = seededRandom(settings.seed);
  const span = text.length - t - 1;
  const startOf = settings.windowStart ?? (() => Math.floor(random() * span));
  const step = engine.optimizer({
    learningRate: settings.learningRate,
    weightDecay: settings.weightDecay,
    beta1: settings.beta1 ?? 0.9,
    beta2: settings.beta2 ?? 0.999,
    epsilon: settings.epsilon ?? 1e-8,
  });
  let total = 0;
  for (let s = 0; s < settings.steps; s++) {
    const starts = Array.from({ length: settings.batchSize }, (_, b) => startOf(s, b) % (span + 1));
    engine.loadWindows(text, starts);
    total += engine.lossAndGradients();
    step();
  }
  return {
    loss: total / Math.max(1, settings.steps),
    samples: settings.steps * settings.batchSize,
    milliseconds: performance.now() - started,
  };
};

const checkWindow = (text: Uint8Array, t: number): void => {
  if (text.length < t + 2) throw new DmlError('TEXT_TOO_SHORT', `text of ${text.length} bytes, window ${t}`);
};

/**
 * QLoRA training on the wasm kernel: the windows and the AdamW of trainQloraTransformer's
 * TensorFlow.js path (same starts for the same seed), only the adapters trained (B alone under
 * FFA-LoRA). Returns all adapter tensors (A included) after the steps.
 */
export const trainQloraTransformerWasm = (
  base: QuantizedTransformer,
  adapters: Delta,
  lora: LoraSettings,
  text: Uint8Array,
  settings: WasmTrainingSettings,
): { adapters: Delta; report: TrainingReport } => {
  const t = settings.window ?? base.shape.context;
  checkWindow(text, t);
  const started = performance.now();
  const engine = new WasmTransformerEngine({ kind: 'qlora', base, lora }, settings.batchSize, t);
  try {
    engine.setAdapters(adapters);
    const report = runWasmSteps(engine, text, settings, started);
    return { adapters: engine.readAdapters(adapters), report };
  } finally {
    engine.release();
  }
};

/** Full-precision training of every parameter on the wasm kernel (trainTransformer's TensorFlow.js path's steps). */
export const trainTransformerWasm = (
  model: Transformer,
  text: Uint8Array,
  settings: WasmTrainingSettings,
): { model: Transformer; report: TrainingReport } => {
  const t = settings.window ?? model.shape.context;
  checkWindow(text, t);
  const started = performance.now();
  const engine = new WasmTransformerEngine({ kind: 'fp32', model }, settings.batchSize, t);
  try {
    const report = runWasmSteps(engine, text, settings, started);
    return { model: engine.readModel(), report };
  } finally {
    engine.release();
  }
};

/** The QLoRA loss on the windows at `starts` and the trainable adapters' gradients (copies), by name. */
export const wasmQloraTransformerLossAndGradients = (
  base: QuantizedTransformer,
  adapters: Delta,
  lora: LoraSettings,
  text: Uint8Array,
  starts: readonly number[],
  window = base.shape.context,
): { loss: number; grads: Map<string, Float32Array> } => {
  const engine = new WasmTransformerEngine({ kind: 'qlora', base, lora }, starts.length, window);
  try {
    engine.setAdapters(adapters);
    engine.loadWindows(text, starts);
    const loss = engine.lossAndGradients();
    return { loss, grads: new Map([...engine.grads].map(([name, g]) => [name, g.slice()])) };
  } finally {
    engine.release();
  }
};

/** The full-precision loss on the windows at `starts` and every parameter's gradient (copies), by name. */
export const wasmTransformerLossAndGradients = (
  model: Transformer,
  text: Uint8Array,
  starts: readonly number[],
  window = model.shape.context,
): { loss: number; grads: Map<string, Float32Array> } => {
  const engine = new WasmTransformerEngine({ kind: 'fp32', model }, starts.length, window);
  try {
    engine.loadWindows(text, starts);
    const loss = engine.lossAndGradients();
    return { loss, grads: new Map([...engine.grads].map(([name, g]) => [name, g.slice()])) };
  } finally {
    engine.release();
  }
};
