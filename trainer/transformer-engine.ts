import * as tf from '@tensorflow/tfjs';
import { adamwStep } from './adamw-step.js';
import { DmlError, type Delta, makeDelta } from '../offchain/index.js';
import type { LoraSettings } from './mlp.js';
import type { AdamWSettings, Evaluation, TrainingReport } from './mlp-engine.js';
import { dequantizeNf4, dequantizeNf4Into } from './nf4.js';
import { seededRandom } from './random.js';
import { trainQloraTransformerWasm, trainTransformerWasm } from './transformer-wasm.js';
import { evaluateTransformerWasm, evaluationWindowStarts } from './transformer-wasm-evaluation.js';
import {
  type QuantizedTransformer,
  type Transformer,
  type TransformerShape,
  TRANSFORMER_VOCABULARY,
  transformerWithParams,
} from './transformer.js';

/**
 * Forward pass, training and evaluation of the byte-level causal transformer (trainer/transformer.ts)
 * on TensorFlow.js with its autodiff, under three rules that matter on the wasm backend:
 *  - every product goes through `matMulT` or `frozenProduct`, whose gradients (tf.customGrad) use
 *    explicit transposes and plain products: a `matMul` with transpose flags, which autodiff of
 *    `tf.matMul` emits, is 8-10x slower on wasm;
 *  - the token embedding is a one-hot x matrix product when it is trained (`gather` has no
 *    gradient on wasm) and a `gather` when it is frozen (QLoRA: no gradient needed);
 *  - under QLoRA a linear layer's FP32 weight exists only inside its own product: it is
 *    dequantised from NF4 for the forward product and again for the backward one (as QLoRA
 *    recomputes it), never a full FP32 copy of the base; only the adapters are variables.
 */

const transposeLast = (t: tf.Tensor): tf.Tensor =>
  t.rank === 2 ? tf.transpose(t) : tf.transpose(t, [0, 2, 1]);

type Binary = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** a b (2-D, or batched 3-D), with a gradient of explicit transposes: da = dy b^T, db = a^T dy. */
export const matMulT: Binary = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
      return [
        tf.matMul(dy as tf.Tensor2D, transposeLast(sb) as tf.Tensor2D),
        tf.matMul(transposeLast(sa) as tf.Tensor2D, dy as tf.Tensor2D),
      ];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Binary;

/**
 * x R for a frozen R [in, out] made on demand: the gradient flows to x only, dx = dy R^T with
 * R^T [out, in] made on demand too (for a base layer: dequantised again from NF4).
 */
const frozenProduct = (
  x: tf.Tensor2D,
  right: () => tf.Tensor2D,
  rightTransposed: () => tf.Tensor2D,
): tf.Tensor2D =>
  (
    tf.customGrad(((input: tf.Tensor) => ({
      value: tf.matMul(input as tf.Tensor2D, right()),
      gradFunc: (dy: tf.Tensor) => tf.tidy(() => tf.matMul(dy as tf.Tensor2D, rightTransposed())),
    })) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor
  )(x) as tf.Tensor2D;

/** What the forward pass needs from a model: FP32 variables, FP32 constants, or an NF4 base with adapters. */
interface ForwardWeights {
  readonly shape: TransformerShape;
  /** tokens [B, T] int32 -> [B * T, d] */
  embed(tokens: tf.Tensor2D): tf.Tensor2D;
  readonly positions: tf.Tensor2D;
  norm(name: string): { gamma: tf.Tensor1D; beta: tf.Tensor1D };
  /** [N, in] -> [N, out] */
  linear(name: string, x: tf.Tensor2D): tf.Tensor2D;
}

const layerNorm = (x: tf.Tensor2D, p: { gamma: tf.Tensor1D; beta: tf.Tensor1D }): tf.Tensor2D => {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), p.gamma), p.beta);
};

const GELU_C = Math.sqrt(2 / Math.PI);
/** GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
const gelu = (x: tf.Tensor2D): tf.Tensor2D =>
  tf.mul(
    tf.mul(x, 0.5),
    tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), GELU_C)), 1),
  );

/** [B*T, d] -> [B*H, T, dh] */
const splitHeads = (z: tf.Tensor2D, b: number, t: number, h: number, dh: number): tf.Tensor3D =>
  tf.reshape(tf.transpose(tf.reshape(z, [b, t, h, dh]), [0, 2, 1, 3]), [b * h, t, dh]);

/** The causal mask, additive: 0 on and below the diagonal, -1e9 above. */
const causalMask = (t: number): tf.Tensor2D => {
  const m = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) m[i * t + j] = -1e9;
  return tf.tensor2d(m, [t, t]);
};

/** Logits [B * T, 256] of token windows [B, T] (T <= context). */
const forward = (w: ForwardWeights, tokens: tf.Tensor2D): tf.Tensor2D => {
  const s = w.shape;
  const [b, t] = tokens.shape;
  if (t > s.context) throw new DmlError('TEXT_CONTEXT', `window of ${t} bytes, context ${s.context}`);
  const d = s.dModel;
  const h = s.heads;
  const dh = d / h;
  const n = b * t;
  const positions = t === s.context ? w.positions : tf.slice(w.positions, [0, 0], [t, d]);
  let x = tf.reshape(tf.add(tf.reshape(w.embed(tokens), [b, t, d]), positions), [n, d]) as tf.Tensor2D;
  const mask = causalMask(t);
  for (let i = 0; i < s.layers; i++) {
    const a = layerNorm(x, w.norm(`h${i}.ln1`));
    const q = splitHeads(tf.mul(w.linear(`h${i}.q`, a), 1 / Math.sqrt(dh)), b, t, h, dh);
    const k = splitHeads(w.linear(`h${i}.k`, a), b, t, h, dh);
    const v = splitHeads(w.linear(`h${i}.v`, a), b, t, h, dh);
    const scores = tf.add(matMulT(q, transposeLast(k)), mask);
    const attended = matMulT(tf.softmax(scores), v); // [B*H, T, dh]
    const merged = tf.reshape(tf.transpose(tf.reshape(attended, [b, h, t, dh]), [0, 2, 1, 3]), [n, d]);
    x = tf.add(x, w.linear(`h${i}.o`, merged as tf.Tensor2D));
    const up = w.linear(`h${i}.up`, layerNorm(x, w.norm(`h${i}.ln2`)));
    x = tf.add(x, w.linear(`h${i}.down`, s.activation === 'gelu' ? gelu(up) : tf.relu(up)));
  }
  return w.linear('head', layerNorm(x, w.norm('lnf')));
};

/** Mean next-byte cross-entropy (nats) of logits [N, 256] against targets [N]. */
const crossEntropy = (logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar =>
  tf.neg(
    tf.div(
      tf.sum(tf.mul(tf.oneHot(targets, TRANSFORMER_VOCABULARY), tf.logSoftmax(logits))),
      logits.shape[0],
    ),
  ) as tf.Scalar;

// ---- the three kinds of weights

interface Fp32Tensors {
  readonly embedding: tf.Tensor2D;
  readonly positions: tf.Tensor2D;
  readonly norms: Map<string, { gamma: tf.Tensor1D; beta: tf.Tensor1D }>;
  readonly linears: Map<string, { weight: tf.Tensor2D; bias: tf.Tensor1D }>;
}

const fp32Weights = (shape: TransformerShape, p: Fp32Tensors, trainEmbedding: boolean): ForwardWeights => ({
  shape,
  embed: (tokens) =>
    trainEmbedding
      ? (matMulT(
          tf.oneHot(tf.reshape(tokens, [-1]), TRANSFORMER_VOCABULARY).toFloat(),
          p.embedding,
        ) as tf.Tensor2D)
      : (tf.gather(p.embedding, tf.reshape(tokens, [-1])) as tf.Tensor2D),
  positions: p.positions,
  norm: (name) => p.norms.get(name)!,
  linear: (name, x) => {
    const l = p.linears.get(name)!;
    return tf.add(matMulT(x, tf.transpose(l.weight)), l.bias) as tf.Tensor2D;
  },
});

const fp32Tensors = (m: Transformer): Fp32Tensors => {
  const d = m.shape.dModel;
  return {
    embedding: tf.tensor2d(m.embedding, [TRANSFORMER_VOCABULARY, d]),
    positions: tf.tensor2d(m.positions, [m.shape.context, d]),
    norms: new Map(m.norms.map((n) => [n.name, { gamma: tf.tensor1d(n.gamma), beta: tf.tensor1d(n.beta) }])),
    linears: new Map(
      m.linears.map((l) => [
        l.name,
        { weight: tf.tensor2d(l.weight, [l.outputs, l.inputs]), bias: tf.tensor1d(l.bias) },
      ]),
    ),
  };
};

const disposeFp32 = (p: Fp32Tensors): void => {
  p.embedding.dispose();
  p.positions.dispose();
  for (const n of p.norms.values()) tf.dispose([n.gamma, n.beta]);
  for (const l of p.linears.values()) tf.dispose([l.weight, l.bias]);
};

/** The frozen FP32 vectors of a quantised base (biases, positions, norms) as tensors, and the NF4 parts. */
interface QloraTensors {
  readonly positions: tf.Tensor2D;
  readonly norms: Map<string, { gamma: tf.Tensor1D; beta: tf.Tensor1D }>;
  readonly biases: Map<string, tf.Tensor1D>;
  /** Frozen A^T [in, r] per layer under FFA-LoRA (A trainable: undefined). */
  readonly frozenAT: Map<string, { A: tf.Tensor2D; AT: tf.Tensor2D }>;
}

const qloraTensors = (base: QuantizedTransformer, adapters: Delta, lora: LoraSettings): QloraTensors => {
  const d = base.shape.dModel;
  const frozenAT = new Map<string, { A: tf.Tensor2D; AT: tf.Tensor2D }>();
  if (lora.freezeA)
    for (const l of base.layers) {
      const a = adapterTensor(adapters, `${l.name}.lora_A`);
      const A = tf.tensor2d(a.values, [a.shape[0]!, a.shape[1]!]);
      frozenAT.set(l.name, { A, AT: tf.transpose(A) });
    }
  return {
    positions: tf.tensor2d(base.positions, [base.shape.context, d]),
    norms: new Map(
      base.norms.map((n) => [n.name, { gamma: tf.tensor1d(n.gamma), beta: tf.tensor1d(n.beta) }]),
    ),
    biases: new Map(base.layers.map((l) => [l.name, tf.tensor1d(l.bias)])),
    frozenAT,
  };
};

const disposeQlora = (p: QloraTensors): void => {
  p.positions.dispose();
  for (const n of p.norms.values()) tf.dispose([n.gamma, n.beta]);
  for (const b of p.biases.values()) b.dispose();
  for (const a of p.frozenAT.values()) tf.dispose([a.A, a.AT]);
};

const adapterTensor = (adapters: Delta, name: string) => {
  const t = adapters.tensors.find((x) => x.name === name);
  if (!t) throw new DmlError('DELTA_UNKNOWN_TENSOR', `the adapters have no ${name}`);
  return t;
};

/**
 * QLoRA weights: y = x W_nf4^T + b + (alpha/r) (x A^T) B^T for every linear layer, W dequantised
 * on demand into one scratch buffer; `adapter(name)` gives the A and B tensors (variables when trained).
 */
const qloraWeights = (
  base: QuantizedTransformer,
  lora: LoraSettings,
  p: QloraTensors,
  adapter: (name: string) => { A: tf.Tensor2D; B: tf.Tensor2D },
): ForwardWeights => {
  const scratch = new Float32Array(Math.max(...base.layers.map((l) => l.inputs * l.outputs)));
  const byName = new Map(base.layers.map((l) => [l.name, l]));
  const scale = lora.alpha / lora.rank;
  const d = base.shape.dModel;
  return {
    shape: base.shape,
    embed: (tokens) =>
      tf.tidy(() =>
        tf.gather(
          tf.tensor2d(dequantizeNf4(base.embedding), [TRANSFORMER_VOCABULARY, d]),
          tf.reshape(tokens, [-1]),
        ),
      ) as tf.Tensor2D,
    positions: p.positions,
    norm: (name) => p.norms.get(name)!,
    linear: (name, x) => {
      const l = byName.get(name)!;
      const weight = () =>
        tf.tensor2d(dequantizeNf4Into(l.weight, scratch.subarray(0, l.inputs * l.outputs)), [
          l.outputs,
          l.inputs,
        ]);
      const y = frozenProduct(x, () => tf.transpose(weight()), weight);
      const { A, B } = adapter(name);
      const frozen = p.frozenAT.get(name);
      const u = frozen
        ? frozenProduct(
            x,
            () => frozen.AT,
            () => frozen.A,
          )
        : (matMulT(x, tf.transpose(A)) as tf.Tensor2D);
      return tf.add(
        tf.add(y, p.biases.get(name)!),
        tf.mul(matMulT(u, tf.transpose(B)), scale),
      ) as tf.Tensor2D;
    },
  };
};

// ---- data: windows of bytes

/** A batch of windows: inputs text[s .. s+T), targets text[s+1 .. s+T+1), per start s. */
const windowTensors = (
  text: Uint8Array,
  starts: readonly number[],
  t: number,
): { tokens: tf.Tensor2D; targets: tf.Tensor1D } => {
  const inputs = new Int32Array(starts.length * t);
  const targets = new Int32Array(starts.length * t);
  starts.forEach((s, i) => {
    for (let j = 0; j < t; j++) {
      inputs[i * t + j] = text[s + j]!;
      targets[i * t + j] = text[s + j + 1]!;
    }
  });
  return { tokens: tf.tensor2d(inputs, [starts.length, t], 'int32'), targets: tf.tensor1d(targets, 'int32') };
};

export interface TransformerTrainingSettings extends AdamWSettings {
  readonly steps: number;
  /** Windows per step. */
  readonly batchSize: number;
  readonly seed: number;
  /** Window length T (default: the model's context). */
  readonly window?: number;
  /** Where window b of step s starts (default: seeded uniform starts over the text). */
  readonly windowStart?: (step: number, b: number) => number;
  /**
   * The engine of a QLoRA step: 'tfjs' (TensorFlow.js products and autodiff, this file) or 'wasm'
   * (trainer/transformer-wasm.ts: the SIMD kernels and plain loops), for QLoRA and full-precision
   * training alike. Default: the environment's `DML_LM_KERNEL`, else DEFAULT_LM_KERNEL.
   */
  readonly lmKernel?: LmKernelChoice;
}

export type LmKernelChoice = 'tfjs' | 'wasm';

/**
 * The transformer step's engine when neither the settings nor DML_LM_KERNEL say: the wasm engine,
 * measured ~2x less CPU per step than the TensorFlow.js one, QLoRA and all weights alike
 * (design_docs/performance.md, `lmStep`).
 */
export const DEFAULT_LM_KERNEL: LmKernelChoice = 'wasm';

/** The engine asked for (settings, then DML_LM_KERNEL, then the default). */
export const lmKernelOf = (settings: Pick<TransformerTrainingSettings, 'lmKernel'>): LmKernelChoice => {
  if (settings.lmKernel) return settings.lmKernel;
  const env = process.env.DML_LM_KERNEL;
  if (env === undefined || env === '') return DEFAULT_LM_KERNEL;
  if (env === 'tfjs' || env === 'wasm') return env;
  throw new DmlError('LM_KERNEL', `DML_LM_KERNEL=${env} is not a transformer engine`, {
    hint: 'use DML_LM_KERNEL=wasm or DML_LM_KERNEL=tfjs',
  });
};

const checkText = (text: Uint8Array, t: number): void => {
  if (text.length < t + 2) throw new DmlError('TEXT_TOO_SHORT', `text of ${text.length} bytes, window ${t}`);
};

/** AdamW over named variables (decoupled weight decay, bias-corrected moments), as PyTorch's. */
class AdamW {
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  private t = 0;

  constructor(
    readonly params: ReadonlyMap<string, tf.Variable>,
    private readonly settings: AdamWSettings,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  step(grads: ReadonlyMap<string, tf.Tensor>): void {
    this.t++;
    adamwStep(this, grads, this.settings, this.t);
  }

  dispose(): void {
    for (const map of [this.m, this.v]) for (const x of map.values()) x.dispose();
  }
}

/** Runs the steps: per step a batch of windows, the loss, the gradients of `params`, an AdamW step. */
const runSteps = (
  text: Uint8Array,
  t: number,
  settings: TransformerTrainingSettings,
  params: ReadonlyMap<string, tf.Variable>,
  weights: ForwardWeights,
): TrainingReport => {
  checkText(text, t);
  const start = performance.now();
  const random = seededRandom(settings.seed);
  const span = text.length - t - 1;
  const startOf = settings.windowStart ?? (() => Math.floor(random() * span));
  const opt = new AdamW(params, settings);
  const byVariable = new Map([...params].map(([name, v]) => [v.name, name]));
  const varList = [...params.values()];
  let total = 0;
  try {
    for (let s = 0; s < settings.steps; s++) {
      const starts = Array.from({ length: settings.batchSize }, (_, b) => startOf(s, b) % (span + 1));
      const loss = tf.tidy(() => {
        const { tokens, targets } = windowTensors(text, starts, t);
        const { value, grads } = tf.variableGrads(
          () => crossEntropy(forward(weights, tokens), targets),
          varList,
        );
        opt.step(new Map(Object.entries(grads).map(([k, g]) => [byVariable.get(k)!, g])));
        return value;
      });
      total += loss.dataSync()[0]!;
      loss.dispose();
    }
  } finally {
    opt.dispose();
  }
  return {
    loss: total / Math.max(1, settings.steps),
    samples: settings.steps * settings.batchSize,
    milliseconds: performance.now() - start,
  };
};

const fp32Variables = (m: Transformer): { params: Map<string, tf.Variable>; tensors: Fp32Tensors } => {
  const t = fp32Tensors(m);
  const params = new Map<string, tf.Variable>();
  const v = <T extends tf.Tensor>(name: string, x: T): T => {
    const variable = tf.variable(x, true);
    x.dispose();
    params.set(name, variable);
    return variable as unknown as T;
  };
  const tensors: Fp32Tensors = {
    embedding: v('embedding', t.embedding),
    positions: v('positions', t.positions),
    norms: new Map(
      [...t.norms].map(([name, n]) => [
        name,
        { gamma: v(`${name}.gamma`, n.gamma), beta: v(`${name}.beta`, n.beta) },
      ]),
    ),
    linears: new Map(
      [...t.linears].map(([name, l]) => [
        name,
        { weight: v(`${name}.weight`, l.weight), bias: v(`${name}.bias`, l.bias) },
      ]),
    ),
  };
  return { params, tensors };
};

const readTransformer = (m: Transformer, params: ReadonlyMap<string, tf.Variable>): Transformer =>
  transformerWithParams(m, (name) => params.get(name)!.dataSync() as Float32Array);

/** Full-precision training of every parameter (how the base is pretrained, and lmStep with rank 0). */
export const trainTransformer = (
  model: Transformer,
  text: Uint8Array,
  settings: TransformerTrainingSettings,
): { model: Transformer; report: TrainingReport } => {
  if (lmKernelOf(settings) === 'wasm') return trainTransformerWasm(model, text, settings);
  const { params, tensors } = fp32Variables(model);
  try {
    const report = runSteps(
      text,
      settings.window ?? model.shape.context,
      settings,
      params,
      fp32Weights(model.shape, tensors, true),
    );
    return { model: readTransformer(model, params), report };
  } finally {
    for (const p of params.values()) p.dispose();
  }
};

const isTrainable = (lora: LoraSettings) => (name: string) =>
  name.endsWith('.lora_B') || (!lora.freezeA && name.endsWith('.lora_A'));

/** The adapters as tensors: trainable ones as variables, the others as constants. */
const adapterVariables = (base: QuantizedTransformer, adapters: Delta, lora: LoraSettings) => {
  const trainable = isTrainable(lora);
  const params = new Map<string, tf.Variable>();
  const constants = new Map<string, tf.Tensor2D>();
  for (const l of base.layers)
    for (const suffix of ['.lora_A', '.lora_B']) {
      const name = `${l.name}${suffix}`;
      const a = adapterTensor(adapters, name);
      const x = tf.tensor2d(a.values, [a.shape[0]!, a.shape[1]!]);
      if (trainable(name)) {
        params.set(name, tf.variable(x, true));
        x.dispose();
      } else constants.set(name, x);
    }
  const get = (name: string) => (params.get(name) ?? constants.get(name)) as tf.Tensor2D;
  return {
    params,
    adapter: (layer: string) => ({ A: get(`${layer}.lora_A`), B: get(`${layer}.lora_B`) }),
    dispose: () => {
      for (const p of params.values()) p.dispose();
      for (const c of constants.values()) c.dispose();
    },
  };
};

/**
 * QLoRA training: the NF4 base frozen, only the adapters trained with AdamW (B alone under
 * FFA-LoRA). Returns all adapter tensors (A included) after the steps.
 */
export const trainQloraTransformer = (
  base: QuantizedTransformer,
  adapters: Delta,
  lora: LoraSettings,
  text: Uint8Array,
  settings: TransformerTrainingSettings,
): { adapters: Delta; report: TrainingReport } => {
  if (lmKernelOf(settings) === 'wasm') return trainQloraTransformerWasm(base, adapters, lora, text, settings);
  const vars = adapterVariables(base, adapters, lora);
  const frozen = qloraTensors(base, adapters, lora);
  try {
    const report = runSteps(
      text,
      settings.window ?? base.shape.context,
      settings,
      vars.params,
      qloraWeights(base, lora, frozen, vars.adapter),
    );
    return {
      adapters: makeDelta(
        adapters.tensors.map((t) => {
          const p = vars.params.get(t.name);
          return p ? { name: t.name, shape: [...t.shape], values: p.dataSync() as Float32Array } : t;
        }),
      ),
      report,
    };
  } finally {
    vars.dispose();
    disposeQlora(frozen);
  }
};

export interface TextEvaluationOptions {
  /** At most this many predicted bytes (default 20,000). */
  readonly maxBytes?: number;
  /** Windows per forward pass (default 16). */
  readonly batchSize?: number;
  /** Window length (default the context). */
  readonly window?: number;
  /**
   * The engine of the forward passes: 'wasm' (trainer/transformer-wasm-evaluation.ts) or 'tfjs'
   * (this file); the same windows and counts, the same figures within float tolerance. Default:
   * as for training (`lmKernelOf`: DML_LM_KERNEL, else DEFAULT_LM_KERNEL).
   */
  readonly lmKernel?: LmKernelChoice;
}

/**
 * Mean next-byte cross-entropy (nats; `bitsPerByte` converts) and next-byte accuracy over
 * consecutive non-overlapping windows of the text, every position of a window predicted.
 */
const evaluateWith = (weights: ForwardWeights, text: Uint8Array, o: TextEvaluationOptions): Evaluation => {
  const t = o.window ?? weights.shape.context;
  checkText(text, t);
  const starts = evaluationWindowStarts(text.length, t, o.maxBytes ?? 20_000);
  const batch = o.batchSize ?? 16;
  let lossSum = 0;
  let correct = 0;
  for (let i = 0; i < starts.length; i += batch) {
    const chunk = starts.slice(i, i + batch);
    const [l, c] = tf.tidy(() => {
      const { tokens, targets } = windowTensors(text, chunk, t);
      const logits = forward(weights, tokens);
      const loss = tf.mul(crossEntropy(logits, targets), logits.shape[0]);
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), targets), 'float32'));
      return [loss.dataSync()[0]!, hits.dataSync()[0]!];
    });
    lossSum += l;
    correct += c;
  }
  const count = starts.length * t;
  return { loss: lossSum / count, accuracy: correct / count, count };
};

export const evaluateTransformer = (
  model: Transformer,
  text: Uint8Array,
  options: TextEvaluationOptions = {},
): Evaluation => {
  if (lmKernelOf(options) === 'wasm')
    return evaluateTransformerWasm({ kind: 'fp32', model }, undefined, text, options);
  const tensors = fp32Tensors(model);
  try {
    return evaluateWith(fp32Weights(model.shape, tensors, false), text, options);
  } finally {
    disposeFp32(tensors);
  }
};

export const evaluateQloraTransformer = (
  base: QuantizedTransformer,
  adapters: Delta,
  lora: LoraSettings,
  text: Uint8Array,
  options: TextEvaluationOptions = {},
): Evaluation => {
  if (lmKernelOf(options) === 'wasm')
    return evaluateTransformerWasm({ kind: 'qlora', base, lora }, adapters, text, options);
  const vars = adapterVariables(base, adapters, { ...lora, freezeA: true });
  const frozen = qloraTensors(base, adapters, { ...lora, freezeA: true });
  try {
    return evaluateWith(qloraWeights(base, lora, frozen, vars.adapter), text, options);
  } finally {
    vars.dispose();
    disposeQlora(frozen);
  }
};

/** Logits [B * T, 256] of windows given as bytes [B * T] (row-major), QLoRA model. */
export const qloraTransformerLogits = (
  base: QuantizedTransformer,
  adapters: Delta,
  lora: LoraSettings,
  tokens: Int32Array,
  batch: number,
): Float32Array => {
  const vars = adapterVariables(base, adapters, { ...lora, freezeA: true });
  const frozen = qloraTensors(base, adapters, { ...lora, freezeA: true });
  try {
    return tf.tidy(
      () =>
        forward(
          qloraWeights(base, lora, frozen, vars.adapter),
          tf.tensor2d(tokens, [batch, tokens.length / batch], 'int32'),
        ).dataSync() as Float32Array,
    );
  } finally {
    vars.dispose();
    disposeQlora(frozen);
  }
};

/** Logits [B * T, 256] of a full-precision model. */
export const transformerLogits = (model: Transformer, tokens: Int32Array, batch: number): Float32Array => {
  const tensors = fp32Tensors(model);
  try {
    return tf.tidy(
      () =>
        forward(
          fp32Weights(model.shape, tensors, false),
          tf.tensor2d(tokens, [batch, tokens.length / batch], 'int32'),
        ).dataSync() as Float32Array,
    );
  } finally {
    disposeFp32(tensors);
  }
};

/**
 * The QLoRA loss on the windows at `starts` and its gradients with respect to the trainable
 * adapter tensors (by name): what a training step computes, for tests and gradient checks.
 */
export const qloraTransformerLossAndGradients = (
  base: QuantizedTransformer,
  adapters: Delta,
  lora: LoraSettings,
  text: Uint8Array,
  starts: readonly number[],
  window = base.shape.context,
): { loss: number; grads: Map<string, Float32Array> } => {
  const vars = adapterVariables(base, adapters, lora);
  const frozen = qloraTensors(base, adapters, lora);
  const byVariable = new Map([...vars.params].map(([name, v]) => [v.name, name]));
  try {
    const grads = new Map<string, Float32Array>();
    const loss = tf.tidy(() => {
      const weights = qloraWeights(base, lora, frozen, vars.adapter);
      const { tokens, targets } = windowTensors(text, starts, window);
      const result = tf.variableGrads(
        () => crossEntropy(forward(weights, tokens), targets),
        [...vars.params.values()],
      );
      for (const [k, g] of Object.entries(result.grads))
        grads.set(byVariable.get(k)!, g.dataSync() as Float32Array);
      return result.value.dataSync()[0]!;
    });
    return { loss, grads };
  } finally {
    vars.dispose();
    disposeQlora(frozen);
  }
};

/** The full-precision loss on the windows at `starts` and every parameter's gradient, by name (tests). */
export const transformerLossAndGradients = (
  model: Transformer,
  text: Uint8Array,
  starts: readonly number[],
  window = model.shape.context,
): { loss: number; grads: Map<string, Float32Array> } => {
  const { params, tensors } = fp32Variables(model);
  const byVariable = new Map([...params].map(([name, v]) => [v.name, name]));
  try {
    const grads = new Map<string, Float32Array>();
    const loss = tf.tidy(() => {
      const { tokens, targets } = windowTensors(text, starts, window);
      const result = tf.variableGrads(
        () => crossEntropy(forward(fp32Weights(model.shape, tensors, true), tokens), targets),
        [...params.values()],
      );
      for (const [k, g] of Object.entries(result.grads))
        grads.set(byVariable.get(k)!, g.dataSync() as Float32Array);
      return result.value.dataSync()[0]!;
    });
    return { loss, grads };
  } finally {
    for (const p of params.values()) p.dispose();
  }
};

/** The dequantised base as a full-precision model (tests: QLoRA with B = 0 must equal it). */
export const dequantizeTransformer = (base: QuantizedTransformer): Transformer => ({
  shape: base.shape,
  embedding: dequantizeNf4(base.embedding),
  positions: base.positions,
  norms: base.norms,
  linears: base.layers.map((l) => ({
    name: l.name,
    inputs: l.inputs,
    outputs: l.outputs,
    weight: dequantizeNf4(l.weight),
    bias: l.bias,
  })),
});
