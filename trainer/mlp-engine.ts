import * as tf from '@tensorflow/tfjs';
import { DmlError, type Delta, getDeltaTensor, makeDelta } from '../offchain/index.js';
import type { LabelledImages } from './mnist.js';
import { asExamples, fillImageBytes, isExamples, type Examples } from './examples.js';
import { col2im, im2col, maxPool2, maxPool2Grad, type Pooled } from './conv-ops.js';
import type { ConvFrontEnd, LoraSettings, Mlp, QuantizedMlp } from './mlp.js';
import { type AdamWSettings, adamwStep } from './adamw-step.js';
import { dequantizeNf4Into } from './nf4.js';
import {
  DenseOptimizer,
  denseLossAndGradients,
  type DenseQloraLayer,
  denseQloraLayers,
  denseScratch,
  disposeDenseScratch,
} from './dense-qlora.js';
import { seededRandom, shuffleInPlace } from './random.js';
import { WasmDenseEngine } from './dense-wasm.js';
import { type ConvEngineLayer, WasmConvEngine } from './conv-wasm.js';

/**
 * Forward and backward passes of a ReLU MLP written by hand with TensorFlow.js ops, so that
 * (a) every matMul is plain (no transpose flags, 8-10x slower on wasm: transposes are explicit),
 * (b) the NF4 base is dequantised layer by layer when needed and disposed at once, in the
 *     backward pass again (as QLoRA does): never a full FP32 copy of the base,
 * (c) only the adapters (or, for pretraining, the full weights) get gradients.
 * No global state: every call owns its tensors and frees them.
 */

/** A layer as the engine sees it: how to get its weight [out, in], its bias, its adapter. */
interface EngineLayer {
  readonly name: string;
  readonly inputs: number;
  readonly outputs: number;
  /** Returns the layer's weight [out, in]; the caller disposes it. */
  weight(): tf.Tensor2D;
  readonly bias: tf.Tensor1D;
  readonly lora?: { readonly A: tf.Tensor2D; readonly B: tf.Tensor2D; readonly scale: number };
  /** For a convolution: the geometry of its input (its weight is [out, kernel * kernel * channels]). */
  readonly conv?: ConvGeometry;
}

interface ConvGeometry {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly kernel: number;
  readonly pool: boolean;
}

/** The input geometry of each layer of a network (undefined for dense layers). */
const convGeometries = (conv: ConvFrontEnd | undefined, count: number): (ConvGeometry | undefined)[] => {
  const out: (ConvGeometry | undefined)[] = Array.from({ length: count }, () => undefined);
  if (!conv) return out;
  let [height, width, channels] = [conv.height, conv.width, conv.channels];
  conv.stages.forEach((s, i) => {
    out[i] = { height, width, channels, kernel: s.kernel, pool: s.pool };
    [height, width, channels] = s.pool ? [height / 2, width / 2, s.channels] : [height, width, s.channels];
  });
  return out;
};

export type { AdamWSettings } from './adamw-step.js';

export interface LocalTrainingSettings extends AdamWSettings {
  readonly steps: number;
  readonly batchSize: number;
  readonly seed: number;
  /**
   * 'shuffle' (default): a seeded reshuffle each epoch, full batches only. 'given': the data's
   * own order, consecutive batches, the last one of an epoch short when batchSize does not divide
   * the count (how a fixed data order is replayed, e.g. to match a peer step for step).
   */
  readonly order?: 'shuffle' | 'given';
  /**
   * The optimiser: AdamW (default) with the settings above, or SGD with heavy-ball momentum
   * (PyTorch's: buf = momentum * buf + grad; p -= lr * buf; weightDecay ignored).
   */
  readonly optimizer?: { readonly kind: 'adamw' } | { readonly kind: 'sgd'; readonly momentum: number };
  /**
   * How a QLoRA step is computed: 'dense' (default; a dense network: trainer/dense-qlora.ts or
   * trainer/dense-wasm.ts after `denseKernel`; a convolutional network: trainer/conv-wasm.ts, the
   * same wasm kernel over patches, measured ~10x the samples/s of the tensor engine) or 'tensor'
   * (every product a TensorFlow.js op, this file's passes). All decode the NF4 base one layer at
   * a time, in the forward and again in the backward pass.
   */
  readonly engine?: 'dense' | 'tensor';
  /** Called after every step with its 1-based number and loss (progress of long runs; changes nothing computed). */
  readonly onStep?: (step: number, loss: number) => void;
  /**
   * When the dense engine decodes the NF4 base: 'per-step' (default, QLoRA's bound: one layer's
   * FP32 copy at a time, decoded in the forward and again in the backward pass of every step) or
   * 'per-round' (every layer decoded once and kept for the whole local training: an FP32 copy of
   * the whole base held for the round; faster, only with A frozen, else per step).
   */
  readonly decodeBase?: 'per-step' | 'per-round';
  /**
   * What computes the dense engine's step: 'wasm' (trainer/dense-wasm.ts: the WebAssembly SIMD
   * kernel, NF4 decoded inside the products, a row or column at a time; `decodeBase` does not
   * apply) or 'tfjs' (trainer/dense-qlora.ts: one TensorFlow.js product per layer and direction,
   * plain loops for the rest). Default: the environment's `DML_DENSE_KERNEL`, else
   * DEFAULT_DENSE_KERNEL.
   */
  readonly denseKernel?: DenseKernelChoice;
}

export type DenseKernelChoice = 'tfjs' | 'wasm';

/**
 * The dense engine's kernel when neither the settings nor DML_DENSE_KERNEL say: the wasm kernel,
 * measured ~3x less CPU per MNIST step than the TensorFlow.js path (design_docs/performance.md).
 */
export const DEFAULT_DENSE_KERNEL: DenseKernelChoice = 'wasm';

/** The kernel asked for (settings, then DML_DENSE_KERNEL, then the default). */
export const denseKernelOf = (settings: Pick<LocalTrainingSettings, 'denseKernel'>): DenseKernelChoice => {
  if (settings.denseKernel) return settings.denseKernel;
  const env = process.env.DML_DENSE_KERNEL;
  if (env === undefined || env === '') return DEFAULT_DENSE_KERNEL;
  if (env === 'tfjs' || env === 'wasm') return env;
  throw new DmlError('DENSE_KERNEL', `DML_DENSE_KERNEL=${env} is not a dense kernel`, {
    hint: 'use DML_DENSE_KERNEL=wasm or DML_DENSE_KERNEL=tfjs',
  });
};

export interface TrainingReport {
  /** Mean training loss over the steps. */
  readonly loss: number;
  readonly samples: number;
  readonly milliseconds: number;
}

const batchTensors = (data: Examples, indices: ArrayLike<number>): { x: tf.Tensor2D; y: tf.Tensor2D } => {
  const x = new Float32Array(indices.length * data.inputs);
  const labels = new Int32Array(indices.length);
  data.fill(indices, x, labels);
  return tf.tidy(() => ({
    x: tf.tensor2d(x, [indices.length, data.inputs]),
    y: tf.oneHot(tf.tensor1d(labels, 'int32'), data.classes).toFloat() as tf.Tensor2D,
  }));
};

/** Logits of a batch. */
const forward = (layers: readonly EngineLayer[], x: tf.Tensor2D): { logits: tf.Tensor2D; saved: Saved[] } => {
  const saved: Saved[] = [];
  const n = x.shape[0];
  let h: tf.Tensor = x;
  layers.forEach((l, i) => {
    const c = l.conv;
    const input = c
      ? im2col(tf.reshape(h, [n, c.height, c.width, c.channels]), c.kernel)
      : h.rank === 2
        ? (h as tf.Tensor2D)
        : tf.reshape<tf.Rank.R2>(h, [n, l.inputs]);
    const w = l.weight();
    const wt = tf.transpose(w);
    w.dispose();
    let z = tf.add(tf.matMul(input, wt), l.bias) as tf.Tensor2D;
    wt.dispose();
    let u: tf.Tensor2D | undefined;
    if (l.lora) {
      const uu = tf.matMul(input, tf.transpose(l.lora.A)) as tf.Tensor2D;
      z = tf.add(z, tf.mul(tf.matMul(uu, tf.transpose(l.lora.B)), l.lora.scale)) as tf.Tensor2D;
      u = uu;
    }
    if (i === layers.length - 1) {
      saved.push({ input, z, u });
      h = z;
    } else if (c) {
      const maps = tf.reshape(tf.relu(z), [n, c.height, c.width, l.outputs]) as tf.Tensor4D;
      const pooled = c.pool ? maxPool2(maps) : undefined;
      saved.push({ input, z, u, maps, pooled });
      h = pooled?.output ?? maps;
    } else {
      saved.push({ input, z, u });
      h = tf.relu(z);
    }
  });
  return { logits: h as tf.Tensor2D, saved };
};

interface Saved {
  /** The rows the layer multiplies: its input, or the input's patches for a convolution. */
  readonly input: tf.Tensor2D;
  readonly z: tf.Tensor2D;
  readonly u: tf.Tensor2D | undefined;
  /** A convolution's ReLU feature maps [n, h, w, c] and their pooled maps, if pooled. */
  readonly maps?: tf.Tensor4D;
  readonly pooled?: Pooled;
}

/** Mean softmax cross-entropy and the gradients of the trainable tensors, by name. */
const lossAndGradients = (
  layers: readonly EngineLayer[],
  x: tf.Tensor2D,
  y: tf.Tensor2D,
  trainable: (name: string) => boolean,
): { loss: tf.Scalar; grads: Map<string, tf.Tensor> } => {
  const { logits, saved } = forward(layers, x);
  const logp = tf.logSoftmax(logits);
  const n = x.shape[0];
  const loss = tf.neg(tf.div(tf.sum(tf.mul(y, logp)), n)) as tf.Scalar;
  let dz = tf.div(tf.sub(tf.exp(logp), y), n) as tf.Tensor2D;
  const grads = new Map<string, tf.Tensor>();
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i]!;
    const s = saved[i]!;
    const dzT = tf.transpose(dz);
    if (trainable(`${l.name}.weight`)) grads.set(`${l.name}.weight`, tf.matMul(dzT, s.input));
    if (trainable(`${l.name}.bias`)) grads.set(`${l.name}.bias`, tf.sum(dz, 0));
    let du: tf.Tensor2D | undefined;
    if (l.lora && s.u) {
      if (trainable(`${l.name}.lora_B`))
        grads.set(`${l.name}.lora_B`, tf.mul(tf.matMul(dzT, s.u), l.lora.scale));
      du = tf.mul(tf.matMul(dz, l.lora.B), l.lora.scale) as tf.Tensor2D;
      if (trainable(`${l.name}.lora_A`)) grads.set(`${l.name}.lora_A`, tf.matMul(tf.transpose(du), s.input));
    }
    if (i === 0) break;
    const w = l.weight();
    let dInput = tf.matMul(dz, w);
    w.dispose();
    if (du && l.lora) dInput = tf.add(dInput, tf.matMul(du, l.lora.A));
    // the gradient of this layer's input, i.e. of the previous layer's (pooled) output
    const c = l.conv;
    const dh: tf.Tensor = c
      ? col2im(dInput as tf.Tensor2D, [n, c.height, c.width, c.channels], c.kernel)
      : dInput;
    const p = saved[i - 1]!;
    if (p.maps) {
      const dMaps = p.pooled ? maxPool2Grad(dh, p.pooled) : tf.reshape(dh, p.maps.shape);
      dz = tf.mul(tf.reshape(dMaps, p.z.shape), tf.step(p.z)) as tf.Tensor2D;
    } else dz = tf.mul(tf.reshape(dh, p.z.shape), tf.step(p.z)) as tf.Tensor2D;
  }
  return { loss, grads };
};

/** A set of named trainable tensors with AdamW state. */
class AdamW {
  readonly params = new Map<string, tf.Variable>();
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  private t = 0;

  constructor(
    initial: ReadonlyMap<string, { values: Float32Array; shape: readonly number[] }>,
    private readonly settings: AdamWSettings & Pick<LocalTrainingSettings, 'optimizer'>,
  ) {
    for (const [name, { values, shape }] of initial) {
      this.params.set(name, tf.variable(tf.tensor(values, [...shape]), false, undefined, 'float32'));
      this.m.set(name, tf.variable(tf.zeros([...shape]), false));
      this.v.set(name, tf.variable(tf.zeros([...shape]), false));
    }
  }

  step(grads: ReadonlyMap<string, tf.Tensor>): void {
    const lr = this.settings.learningRate;
    this.t++;
    const optimizer = this.settings.optimizer;
    if (optimizer?.kind === 'sgd') {
      tf.tidy(() => {
        for (const [name, g] of grads) {
          const buf = this.m.get(name)!;
          buf.assign(tf.add(tf.mul(buf, optimizer.momentum), g));
          const p = this.params.get(name)!;
          p.assign(tf.sub(p, tf.mul(buf, lr)));
        }
      });
      return;
    }
    adamwStep(this, grads, this.settings, this.t);
  }

  read(name: string): Float32Array {
    return this.params.get(name)!.dataSync() as Float32Array;
  }

  dispose(): void {
    for (const map of [this.params, this.m, this.v]) for (const x of map.values()) x.dispose();
  }
}

/** Runs `steps` minibatch steps on tensors (reshuffling each epoch) and returns the mean loss. */
const runSteps = (
  data: Examples | LabelledImages,
  settings: LocalTrainingSettings,
  step: (x: tf.Tensor2D, y: tf.Tensor2D) => number,
): TrainingReport =>
  runBatches(data, settings, (indices) => {
    const { x, y } = batchTensors(asExamples(data), indices);
    try {
      return step(x, y);
    } finally {
      x.dispose();
      y.dispose();
    }
  });

/** Runs `steps` minibatch steps on the examples' indices (reshuffling each epoch) and returns the mean loss. */
const runBatches = (
  data: Examples | LabelledImages,
  settings: LocalTrainingSettings,
  step: (indices: Int32Array) => number,
): TrainingReport => {
  if (data.count < 1) throw new DmlError('TRAIN_NO_DATA', 'no training data');
  const start = performance.now();
  const random = seededRandom(settings.seed);
  const order = Int32Array.from({ length: data.count }, (_, i) => i);
  const shuffle = (settings.order ?? 'shuffle') === 'shuffle';
  let cursor = data.count;
  let total = 0;
  let samples = 0;
  const bs = Math.min(settings.batchSize, data.count);
  for (let s = 0; s < settings.steps; s++) {
    if (cursor >= data.count || (shuffle && cursor + bs > data.count)) {
      if (shuffle) shuffleInPlace(order, random);
      cursor = 0;
    }
    const end = Math.min(cursor + bs, data.count);
    const indices = order.subarray(cursor, end);
    samples += end - cursor;
    cursor = end;
    const loss = step(indices);
    total += loss;
    settings.onStep?.(s + 1, loss);
  }
  return {
    loss: total / Math.max(1, settings.steps),
    samples,
    milliseconds: performance.now() - start,
  };
};

const denseLayers = (mlp: Mlp): EngineLayer[] => {
  const geometry = convGeometries(mlp.conv, mlp.layers.length);
  return mlp.layers.map((l, i) => ({
    name: l.name,
    inputs: l.inputs,
    outputs: l.outputs,
    weight: () => tf.tensor2d(l.weight, [l.outputs, l.inputs]),
    bias: tf.tensor1d(l.bias),
    ...(geometry[i] ? { conv: geometry[i] } : {}),
  }));
};

/**
 * Full-precision training of all weights (how the base is pretrained on public data). A
 * convolutional network trains on the wasm engine (trainer/conv-wasm.ts) unless `engine` is
 * 'tensor'; a dense one on the tensor passes.
 */
export const trainMlp = (
  mlp: Mlp,
  data: Examples | LabelledImages,
  settings: LocalTrainingSettings,
): { mlp: Mlp; report: TrainingReport } => {
  if (mlp.conv && (settings.engine ?? 'dense') === 'dense')
    return trainConvFull(mlp, mlp.conv, data, settings);
  const initial = new Map<string, { values: Float32Array; shape: readonly number[] }>();
  for (const l of mlp.layers) {
    initial.set(`${l.name}.weight`, { values: l.weight, shape: [l.outputs, l.inputs] });
    initial.set(`${l.name}.bias`, { values: l.bias, shape: [l.outputs] });
  }
  const opt = new AdamW(initial, settings);
  try {
    const geometry = convGeometries(mlp.conv, mlp.layers.length);
    const layers: EngineLayer[] = mlp.layers.map((l, i) => ({
      name: l.name,
      inputs: l.inputs,
      outputs: l.outputs,
      weight: () => tf.clone(opt.params.get(`${l.name}.weight`)!) as tf.Tensor2D,
      bias: opt.params.get(`${l.name}.bias`)! as tf.Variable<tf.Rank.R1>,
      ...(geometry[i] ? { conv: geometry[i] } : {}),
    }));
    const report = runSteps(data, settings, (x, y) => {
      const loss = tf.tidy(() => {
        const r = lossAndGradients(
          layers,
          x,
          y,
          (name) => name.endsWith('.weight') || name.endsWith('.bias'),
        );
        opt.step(r.grads);
        return r.loss;
      });
      const value = loss.dataSync()[0]!;
      loss.dispose();
      return value;
    });
    return {
      mlp: {
        layers: mlp.layers.map((l) => ({
          ...l,
          weight: opt.read(`${l.name}.weight`),
          bias: opt.read(`${l.name}.bias`),
        })),
        ...(mlp.conv ? { conv: mlp.conv } : {}),
      },
      report,
    };
  } finally {
    opt.dispose();
  }
};

const qloraLayers = (
  base: QuantizedMlp,
  lora: LoraSettings,
  adapter: (name: string) => { A: tf.Tensor2D; B: tf.Tensor2D },
): EngineLayer[] => {
  const largest = Math.max(...base.layers.map((l) => l.inputs * l.outputs));
  const scratch = new Float32Array(largest); // one layer's FP32 weight at a time
  const geometry = convGeometries(base.conv, base.layers.length);
  return base.layers.map((l, i) => ({
    name: l.name,
    inputs: l.inputs,
    outputs: l.outputs,
    weight: () =>
      tf.tensor2d(dequantizeNf4Into(l.weight, scratch.subarray(0, l.inputs * l.outputs)), [
        l.outputs,
        l.inputs,
      ]),
    bias: tf.tensor1d(l.bias),
    lora: { ...adapter(l.name), scale: lora.alpha / lora.rank },
    ...(geometry[i] ? { conv: geometry[i] } : {}),
  }));
};

/**
 * QLoRA local training: the base stays NF4 and frozen; A and B (only B under FFA-LoRA) are
 * trained with AdamW. Returns the new adapters (all tensors, A included).
 */
export const trainQlora = (
  base: QuantizedMlp,
  adapters: Delta,
  lora: LoraSettings,
  data: Examples | LabelledImages,
  settings: LocalTrainingSettings,
): { adapters: Delta; report: TrainingReport } => {
  const trainable = (name: string): boolean =>
    name.endsWith('.lora_B') || (!lora.freezeA && name.endsWith('.lora_A'));
  if ((settings.engine ?? 'dense') === 'dense')
    return base.conv
      ? trainConvQlora(base, base.conv, adapters, lora, data, settings, trainable)
      : trainDenseQlora(base, adapters, lora, data, settings, trainable);
  const initial = new Map(
    adapters.tensors
      .filter((t) => trainable(t.name))
      .map((t) => [t.name, { values: t.values, shape: t.shape }]),
  );
  const opt = new AdamW(initial, settings);
  const frozen = adapters.tensors
    .filter((t) => !trainable(t.name))
    .map((t) => [t.name, tf.tensor(t.values, [...t.shape])] as const);
  const frozenMap = new Map(frozen);
  const get = (name: string): tf.Tensor2D => (opt.params.get(name) ?? frozenMap.get(name)) as tf.Tensor2D;
  const layers = qloraLayers(base, lora, (name) => ({ A: get(`${name}.lora_A`), B: get(`${name}.lora_B`) }));
  try {
    const report = runSteps(data, settings, (x, y) => {
      const loss = tf.tidy(() => {
        const r = lossAndGradients(layers, x, y, trainable);
        opt.step(r.grads);
        return r.loss;
      });
      const value = loss.dataSync()[0]!;
      loss.dispose();
      return value;
    });
    return {
      adapters: makeDelta(
        adapters.tensors.map((t) =>
          trainable(t.name) ? { name: t.name, shape: [...t.shape], values: opt.read(t.name) } : t,
        ),
      ),
      report,
    };
  } finally {
    opt.dispose();
    for (const [, t] of frozen) t.dispose();
    for (const l of layers) l.bias.dispose();
  }
};

const denseOptimizerOf = (settings: LocalTrainingSettings): DenseOptimizer => {
  const o = settings.optimizer;
  return new DenseOptimizer(
    o?.kind === 'sgd'
      ? { kind: 'sgd', learningRate: settings.learningRate, momentum: o.momentum }
      : {
          kind: 'adamw',
          learningRate: settings.learningRate,
          weightDecay: settings.weightDecay,
          beta1: settings.beta1 ?? 0.9,
          beta2: settings.beta2 ?? 0.999,
          epsilon: settings.epsilon ?? 1e-8,
        },
  );
};

/** The adapters as the plain-array engines see them: trainable tensors copied (updated in place). */
const plainAdapterLayers = (
  base: QuantizedMlp,
  adapters: Delta,
  lora: LoraSettings,
  trainable: (name: string) => boolean,
): { values: Map<string, Float32Array>; params: Map<string, Float32Array>; layers: DenseQloraLayer[] } => {
  const values = new Map(
    adapters.tensors.map((t) => [t.name, trainable(t.name) ? Float32Array.from(t.values) : t.values]),
  );
  const params = new Map([...values].filter(([name]) => trainable(name)));
  const layers = denseQloraLayers(base.layers, lora, (name) => ({
    A: getDeltaTensor(adapters, `${name}.lora_A`) && values.get(`${name}.lora_A`)!,
    B: getDeltaTensor(adapters, `${name}.lora_B`) && values.get(`${name}.lora_B`)!,
  }));
  return { values, params, layers };
};

/** Puts a batch into a conv engine's input (pixels as bytes, other examples as floats). */
const fillConvInput = (
  engine: WasmConvEngine,
  data: Examples | LabelledImages,
  indices: ArrayLike<number>,
  labels: Int32Array,
): 'bytes' | 'floats' => {
  if (isExamples(data)) {
    data.fill(indices, engine.input, labels);
    return 'floats';
  }
  fillImageBytes(data, indices, engine.inputBytes, labels);
  return 'bytes';
};

/** trainMlp for a convolutional network on the wasm kernel: every weight and bias trained. */
const trainConvFull = (
  mlp: Mlp,
  conv: ConvFrontEnd,
  data: Examples | LabelledImages,
  settings: LocalTrainingSettings,
): { mlp: Mlp; report: TrainingReport } => {
  // copies, which the optimiser updates in place
  const layers = fullPrecisionLayers({
    layers: mlp.layers.map((l) => ({
      ...l,
      weight: Float32Array.from(l.weight),
      bias: Float32Array.from(l.bias),
    })),
  }).map((l) => ({ ...l, weight: l.weight as Float32Array }));
  const params = new Map(
    layers.flatMap((l) => [
      [`${l.name}.weight`, l.weight],
      [`${l.name}.bias`, l.bias],
    ]),
  );
  const batch = Math.min(settings.batchSize, data.count);
  const engine = new WasmConvEngine(conv, layers, batch);
  const optimizer = denseOptimizerOf(settings);
  const labels = new Int32Array(batch);
  const report = runBatches(data, settings, (indices) => {
    const input = fillConvInput(engine, data, indices, labels);
    const r = engine.lossAndGradients(input, labels, indices.length, false);
    optimizer.step(params, r.grads);
    return r.loss;
  });
  return {
    mlp: {
      layers: mlp.layers.map((l, i) => ({ ...l, weight: layers[i]!.weight, bias: layers[i]!.bias })),
      conv,
    },
    report,
  };
};

/** trainQlora for a convolutional network on the wasm kernel (trainer/conv-wasm.ts). */
const trainConvQlora = (
  base: QuantizedMlp,
  conv: ConvFrontEnd,
  adapters: Delta,
  lora: LoraSettings,
  data: Examples | LabelledImages,
  settings: LocalTrainingSettings,
  trainable: (name: string) => boolean,
): { adapters: Delta; report: TrainingReport } => {
  const { values, params, layers } = plainAdapterLayers(base, adapters, lora, trainable);
  const batch = Math.min(settings.batchSize, data.count);
  const engine = new WasmConvEngine(conv, layers, batch);
  const optimizer = denseOptimizerOf(settings);
  const labels = new Int32Array(batch);
  const report = runBatches(data, settings, (indices) => {
    const input = fillConvInput(engine, data, indices, labels);
    const r = engine.lossAndGradients(input, labels, indices.length, !lora.freezeA);
    optimizer.step(params, r.grads);
    return r.loss;
  });
  return {
    adapters: makeDelta(
      adapters.tensors.map((t) =>
        trainable(t.name) ? { name: t.name, shape: [...t.shape], values: values.get(t.name)! } : t,
      ),
    ),
    report,
  };
};

/** trainQlora for a dense network on plain arrays (trainer/dense-qlora.ts). */
const trainDenseQlora = (
  base: QuantizedMlp,
  adapters: Delta,
  lora: LoraSettings,
  data: Examples | LabelledImages,
  settings: LocalTrainingSettings,
  trainable: (name: string) => boolean,
): { adapters: Delta; report: TrainingReport } => {
  // the optimiser updates copies of the trainable tensors in place; frozen ones are read as given
  const { values, params, layers } = plainAdapterLayers(base, adapters, lora, trainable);
  const batch = Math.min(settings.batchSize, data.count);
  const wasm = denseKernelOf(settings) === 'wasm' ? new WasmDenseEngine(layers, batch) : undefined;
  // the wasm kernel decodes inside its products: no FP32 scratch of a layer
  const scratch = wasm
    ? undefined
    : denseScratch(
        layers,
        batch,
        lora.freezeA && settings.decodeBase === 'per-round' ? 'per-round' : 'per-step',
      );
  const optimizer = denseOptimizerOf(settings);
  const examples = asExamples(data);
  const images = isExamples(data) ? undefined : data;
  const x = new Float32Array(batch * examples.inputs);
  const labels = new Int32Array(batch);
  let report: TrainingReport;
  try {
    report = runBatches(data, settings, (indices) => {
      const n = indices.length;
      let r: { loss: number; grads: Map<string, Float32Array> };
      if (wasm && images) {
        // the kernel maps the pixels to their values (as imageExamples does) and transposes them
        fillImageBytes(images, indices, wasm.inputBytes, labels);
        r = wasm.lossAndGradients('bytes', labels, n, !lora.freezeA);
      } else if (wasm) {
        examples.fill(indices, wasm.input, labels);
        r = wasm.lossAndGradients(wasm.input, labels, n, !lora.freezeA);
      } else {
        examples.fill(indices, x, labels);
        r = denseLossAndGradients(layers, x, labels, n, scratch!, !lora.freezeA);
      }
      optimizer.step(params, r.grads);
      return r.loss;
    });
  } finally {
    if (scratch) disposeDenseScratch(scratch);
  }
  return {
    adapters: makeDelta(
      adapters.tensors.map((t) =>
        trainable(t.name) ? { name: t.name, shape: [...t.shape], values: values.get(t.name)! } : t,
      ),
    ),
    report,
  };
};

export interface Evaluation {
  readonly accuracy: number;
  readonly loss: number;
  readonly count: number;
}

const evaluateLayers = (
  layers: readonly EngineLayer[],
  data: Examples | LabelledImages,
  batchSize: number,
): Evaluation => {
  let correct = 0;
  let lossSum = 0;
  // a convolution keeps its patches (k*k times its input) alive for the batch: smaller batches
  if (layers.some((l) => l.conv)) batchSize = Math.min(batchSize, 250);
  for (let start = 0; start < data.count; start += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, data.count - start) }, (_, i) => start + i);
    const { x, y } = batchTensors(asExamples(data), idx);
    const [c, l] = tf.tidy(() => {
      const { logits } = forward(layers, x);
      const logp = tf.logSoftmax(logits);
      const hit = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'float32'));
      return [hit.dataSync()[0]!, -tf.sum(tf.mul(y, logp)).dataSync()[0]!];
    });
    correct += c;
    lossSum += l;
    x.dispose();
    y.dispose();
  }
  return { accuracy: correct / data.count, loss: lossSum / data.count, count: data.count };
};

/** Accuracy and mean loss of a full-precision network (a convolutional one on the wasm engine unless `engine` is 'tensor'). */
export const evaluateMlp = (
  mlp: Mlp,
  data: Examples | LabelledImages,
  batchSize = 1000,
  engine: 'dense' | 'tensor' = 'dense',
): Evaluation => {
  if (mlp.conv && engine === 'dense')
    return evaluateConvLayers(mlp.conv, fullPrecisionLayers(mlp), data, batchSize);
  const layers = denseLayers(mlp);
  try {
    return evaluateLayers(layers, data, batchSize);
  } finally {
    for (const l of layers) l.bias.dispose();
  }
};

/**
 * Accuracy and mean loss of the adapters on the data. A convolutional base is evaluated on the
 * wasm engine (trainer/conv-wasm.ts) unless `engine` is 'tensor'; a dense one on this file's
 * tensor passes.
 */
export const evaluateQlora = (
  base: QuantizedMlp,
  adapters: Delta,
  lora: LoraSettings,
  data: Examples | LabelledImages,
  batchSize = 1000,
  engine: 'dense' | 'tensor' = 'dense',
): Evaluation => {
  if (base.conv && engine === 'dense')
    return evaluateConvWasm(base, base.conv, adapters, lora, data, batchSize);
  if (!base.conv && engine === 'dense' && denseKernelOf({}) === 'wasm')
    return evaluateDenseKernel(base, adapters, lora, data, batchSize);
  const tensors = new Map(
    adapters.tensors.map((t) => [t.name, tf.tensor2d(t.values, [t.shape[0]!, t.shape[1]!])]),
  );
  const layers = qloraLayers(base, lora, (name) => {
    getDeltaTensor(adapters, `${name}.lora_A`);
    return { A: tensors.get(`${name}.lora_A`)!, B: tensors.get(`${name}.lora_B`)! };
  });
  try {
    return evaluateLayers(layers, data, batchSize);
  } finally {
    for (const t of tensors.values()) t.dispose();
    for (const l of layers) l.bias.dispose();
  }
};

/** Loss and accuracy of batches of logits [n, classes], summed as they come. */
class LogitsTally {
  private correct = 0;
  private lossSum = 0;

  add(logits: Float32Array, labels: Int32Array, n: number): void {
    const classes = logits.length / n;
    for (let b = 0; b < n; b++) {
      let best = 0;
      let max = -Infinity;
      for (let c = 0; c < classes; c++)
        if (logits[b * classes + c]! > max) max = logits[(best = c) + b * classes]!;
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(logits[b * classes + c]! - max);
      this.lossSum += Math.log(sum) + max - logits[b * classes + labels[b]!]!;
      if (best === labels[b]) this.correct++;
    }
  }

  evaluation(count: number): Evaluation {
    return { accuracy: this.correct / count, loss: this.lossSum / count, count };
  }
}

/**
 * Rows per forward pass when evaluating on the dense kernel: its products are built for the
 * training's batches (32 columns a pass); 300 validation images in one pass of 300 columns took
 * 3-4x the CPU of 10 passes of 32 (the NF4 rows decoded for every block of columns, the wider
 * activations out of cache).
 */
const DENSE_EVALUATION_BATCH = 32;

/**
 * A QLoRA network without a convolutional front end, evaluated on the dense kernel (its products
 * native or wasm, NF4 decoded inside them): what the parties' scoring of every delta runs.
 */
const evaluateDenseKernel = (
  base: QuantizedMlp,
  adapters: Delta,
  lora: LoraSettings,
  data: Examples | LabelledImages,
  batchSize: number,
): Evaluation => {
  const { layers } = plainAdapterLayers(base, adapters, lora, () => false);
  const batch = Math.max(1, Math.min(batchSize, DENSE_EVALUATION_BATCH, data.count));
  const engine = new WasmDenseEngine(layers, batch);
  const examples = asExamples(data);
  const labels = new Int32Array(batch);
  const tally = new LogitsTally();
  for (let start = 0; start < data.count; start += batch) {
    const n = Math.min(batch, data.count - start);
    const idx = Int32Array.from({ length: n }, (_, i) => start + i);
    examples.fill(idx, engine.input, labels);
    tally.add(engine.forward(engine.input, n), labels, n);
  }
  return tally.evaluation(data.count);
};

const evaluateConvWasm = (
  base: QuantizedMlp,
  conv: ConvFrontEnd,
  adapters: Delta,
  lora: LoraSettings,
  data: Examples | LabelledImages,
  batchSize: number,
): Evaluation =>
  evaluateConvLayers(conv, plainAdapterLayers(base, adapters, lora, () => false).layers, data, batchSize);

/** Full-precision layers of a network as the conv engine takes them (rank 0, no adapters). */
const fullPrecisionLayers = (mlp: Mlp): ConvEngineLayer[] =>
  mlp.layers.map((l) => ({
    name: l.name,
    inputs: l.inputs,
    outputs: l.outputs,
    rank: 0,
    scale: 0,
    weight: l.weight,
    bias: l.bias,
    A: new Float32Array(0),
    B: new Float32Array(0),
  }));

const evaluateConvLayers = (
  conv: ConvFrontEnd,
  layers: readonly ConvEngineLayer[],
  data: Examples | LabelledImages,
  batchSize: number,
): Evaluation => {
  // the patches of a batch are k*k times its feature maps: batches of at most 100 images
  const batch = Math.max(1, Math.min(batchSize, 100, data.count));
  const engine = new WasmConvEngine(conv, layers, batch, { training: false });
  const labels = new Int32Array(batch);
  const tally = new LogitsTally();
  for (let start = 0; start < data.count; start += batch) {
    const n = Math.min(batch, data.count - start);
    const idx = Int32Array.from({ length: n }, (_, i) => start + i);
    tally.add(engine.forward(fillConvInput(engine, data, idx, labels), n), labels, n);
  }
  return tally.evaluation(data.count);
};

/**
 * Loss, logits and adapter gradients of one batch, read back as arrays (for tests and
 * gradient checks; training uses the same passes without reading back).
 */
export const qloraLossAndGradients = (
  base: QuantizedMlp,
  adapters: Delta,
  lora: LoraSettings,
  data: Examples | LabelledImages,
): { loss: number; logits: Float32Array; grads: Map<string, Float32Array> } => {
  const tensors = new Map(
    adapters.tensors.map((t) => [t.name, tf.tensor2d(t.values, [t.shape[0]!, t.shape[1]!])]),
  );
  const layers = qloraLayers(base, lora, (name) => ({
    A: tensors.get(`${name}.lora_A`)!,
    B: tensors.get(`${name}.lora_B`)!,
  }));
  const { x, y } = batchTensors(
    asExamples(data),
    Int32Array.from({ length: data.count }, (_, i) => i),
  );
  try {
    tf.engine().startScope();
    const logits = forward(layers, x).logits.dataSync() as Float32Array;
    const r = lossAndGradients(layers, x, y, (name) => name.includes('.lora_'));
    const grads = new Map<string, Float32Array>();
    for (const [name, g] of r.grads) grads.set(name, g.dataSync() as Float32Array);
    return { loss: r.loss.dataSync()[0]!, logits, grads };
  } finally {
    tf.engine().endScope();
    x.dispose();
    y.dispose();
    for (const t of tensors.values()) t.dispose();
    for (const l of layers) l.bias.dispose();
  }
};
