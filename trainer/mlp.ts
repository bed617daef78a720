import { createHash } from 'node:crypto';
import { DmlError, type Delta, makeDelta } from '../offchain/index.js';
import { type Nf4Tensor, quantizeNf4 } from './nf4.js';
import { gaussian, seededRandom } from './random.js';

/** A dense layer of a full-precision network: y = x W^T + b, W stored [out, in] row-major. */
export interface DenseLayer {
  readonly name: string;
  readonly inputs: number;
  readonly outputs: number;
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

/**
 * A convolutional front end: images `height x width x channels` (row-major, channels last) go
 * through `stages`, each a `kernel x kernel` convolution with 'same' zero padding and stride 1,
 * ReLU, then (if `pool`) 2x2 max pooling with stride 2. Each convolution is a linear layer over
 * image patches (im2col): its weight is [channels out, kernel * kernel * channels in], the patch
 * ordered (row offset, column offset, channel). The flattened (h, w, c) output feeds the dense layers.
 */
export interface ConvFrontEnd {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly stages: readonly ConvStage[];
}

export interface ConvStage {
  readonly kernel: number;
  readonly channels: number;
  readonly pool: boolean;
}

/**
 * A ReLU network (the last layer gives logits): dense layers only (a multilayer perceptron), or,
 * with `conv`, its first `conv.stages.length` layers are convolutions as linear layers over patches.
 */
export interface Mlp {
  readonly layers: readonly DenseLayer[];
  readonly conv?: ConvFrontEnd;
}

/** A frozen layer of the QLoRA base: NF4 weight (double-quantised scales) and an FP32 bias. */
export interface QuantizedLayer {
  readonly name: string;
  readonly inputs: number;
  readonly outputs: number;
  readonly weight: Nf4Tensor;
  readonly bias: Float32Array;
}

export interface QuantizedMlp {
  readonly layers: readonly QuantizedLayer[];
  /** The convolutional front end, when the base is a convolutional network. */
  readonly conv?: ConvFrontEnd;
  /** SHA-256 over the quantised weights and biases: the base a cohort agrees on. */
  readonly hash: string;
}

/** LoRA settings of a cohort: rank r, scale alpha / r, and whether A is frozen (FFA-LoRA). */
export interface LoraSettings {
  readonly rank: number;
  readonly alpha: number;
  readonly freezeA: boolean;
}

export const layerName = (i: number): string => `fc${i + 1}`;

/** He-initialised MLP with the given layer sizes, e.g. [784, 256, 10]. */
export const initMlp = (sizes: readonly number[], seed: number): Mlp => {
  if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1))
    throw new DmlError('MODEL_SIZES', `bad layer sizes ${sizes.join('-')}`);
  const random = seededRandom(seed);
  return {
    layers: sizes.slice(1).map((outputs, i) => {
      const inputs = sizes[i]!;
      const std = Math.sqrt(2 / inputs);
      return {
        name: layerName(i),
        inputs,
        outputs,
        weight: Float32Array.from({ length: outputs * inputs }, () => gaussian(random) * std),
        bias: new Float32Array(outputs),
      };
    }),
  };
};

/** The output size of a convolutional front end: [height, width, channels] after its last stage. */
export const convOutputShape = (conv: ConvFrontEnd): [number, number, number] => {
  let [h, w, c] = [conv.height, conv.width, conv.channels];
  for (const s of conv.stages) {
    if (s.pool && (h % 2 !== 0 || w % 2 !== 0))
      throw new DmlError('MODEL_SIZES', `cannot pool an odd ${h}x${w} feature map`);
    [h, w, c] = s.pool ? [h / 2, w / 2, s.channels] : [h, w, s.channels];
  }
  return [h, w, c];
};

/**
 * A He-initialised convolutional network: the front end's convolutions (named conv1, conv2, ...)
 * then dense layers of the given sizes after the flattened features (fc1, fc2, ...), e.g.
 * `initCnn(MNIST_CNN, [128, 10], seed)`.
 */
export const initCnn = (conv: ConvFrontEnd, denseSizes: readonly number[], seed: number): Mlp => {
  if (
    conv.stages.length < 1 ||
    conv.stages.some((s) => !Number.isInteger(s.kernel) || s.kernel % 2 !== 1 || s.channels < 1) ||
    denseSizes.length < 1
  )
    throw new DmlError('MODEL_SIZES', 'bad convolutional network: odd kernels, channels >= 1, dense sizes');
  const [h, w, c] = convOutputShape(conv);
  const random = seededRandom(seed);
  const layer = (name: string, inputs: number, outputs: number): DenseLayer => {
    const std = Math.sqrt(2 / inputs);
    return {
      name,
      inputs,
      outputs,
      weight: Float32Array.from({ length: outputs * inputs }, () => gaussian(random) * std),
      bias: new Float32Array(outputs),
    };
  };
  let channels = conv.channels;
  const convs = conv.stages.map((s, i) => {
    const l = layer(`conv${i + 1}`, s.kernel * s.kernel * channels, s.channels);
    channels = s.channels;
    return l;
  });
  const sizes = [h * w * c, ...denseSizes];
  const dense = denseSizes.map((outputs, i) => layer(layerName(i), sizes[i]!, outputs));
  return { layers: [...convs, ...dense], conv };
};

/** The MNIST convolutional front end: 3x3 convolutions of 16 and 32 channels, each pooled. */
export const MNIST_CNN: ConvFrontEnd = {
  height: 28,
  width: 28,
  channels: 1,
  stages: [
    { kernel: 3, channels: 16, pool: true },
    { kernel: 3, channels: 32, pool: true },
  ],
};

/** A canonical text of a front end (hashed with the base). */
export const describeConv = (conv: ConvFrontEnd): string =>
  `${conv.height}x${conv.width}x${conv.channels}` +
  conv.stages.map((s) => `|k${s.kernel}c${s.channels}${s.pool ? 'p' : ''}`).join('');

/** SHA-256 over a base's structure, quantised weights and biases (what a cohort agrees on). */
export const hashQuantizedBase = (layers: readonly QuantizedLayer[], conv?: ConvFrontEnd): string => {
  const hash = createHash('sha256');
  if (conv) hash.update(`conv:${describeConv(conv)};`);
  for (const l of layers) {
    hash.update(`${l.name}:${l.outputs}x${l.inputs};`);
    const w = l.weight;
    for (const part of [w.codes, w.scaleCodes, w.scaleScales, Float32Array.of(w.scaleOffset), l.bias])
      hash.update(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
  }
  return hash.digest('hex');
};

export const quantizeMlp = (mlp: Mlp): QuantizedMlp => {
  const layers = mlp.layers.map((l) => ({
    name: l.name,
    inputs: l.inputs,
    outputs: l.outputs,
    weight: quantizeNf4(l.weight, [l.outputs, l.inputs]),
    bias: Float32Array.from(l.bias),
  }));
  return { layers, ...(mlp.conv ? { conv: mlp.conv } : {}), hash: hashQuantizedBase(layers, mlp.conv) };
};

/**
 * The initial adapters of a cohort: for every linear layer A [r, in] uniform in
 * +-1/sqrt(in) (seeded by the cohort, so every party has the same A) and B [out, r] zero.
 */
export const initAdapters = (base: QuantizedMlp, lora: LoraSettings, seed: number): Delta => {
  const random = seededRandom(seed);
  return makeDelta(
    base.layers.flatMap((l) => {
      const bound = 1 / Math.sqrt(l.inputs);
      return [
        {
          name: `${l.name}.lora_A`,
          shape: [lora.rank, l.inputs],
          values: Float32Array.from({ length: lora.rank * l.inputs }, () => (2 * random() - 1) * bound),
        },
        {
          name: `${l.name}.lora_B`,
          shape: [l.outputs, lora.rank],
          values: new Float32Array(l.outputs * lora.rank),
        },
      ];
    }),
  );
};

/** adapters + scale * delta, by tensor name (tensors absent from the delta are unchanged). */
export const applyDelta = (adapters: Delta, delta: Delta, scale = 1): Delta => {
  const byName = new Map(delta.tensors.map((t) => [t.name, t]));
  for (const t of delta.tensors)
    if (!adapters.tensors.some((a) => a.name === t.name))
      throw new DmlError('DELTA_UNKNOWN_TENSOR', `delta tensor ${t.name} is not in the adapters`);
  return makeDelta(
    adapters.tensors.map((a) => {
      const d = byName.get(a.name);
      if (!d) return a;
      if (d.values.length !== a.values.length)
        throw new DmlError('DELTA_SHAPE', `delta tensor ${a.name} has the wrong shape`);
      return { name: a.name, shape: [...a.shape], values: a.values.map((v, i) => v + scale * d.values[i]!) };
    }),
  );
};

/** after - before for the tensors named by `include` (the trainable ones). */
export const diffAdapters = (after: Delta, before: Delta, include: (name: string) => boolean): Delta =>
  makeDelta(
    after.tensors
      .filter((t) => include(t.name))
      .map((t) => {
        const b = before.tensors.find((x) => x.name === t.name);
        if (!b) throw new DmlError('DELTA_UNKNOWN_TENSOR', `no ${t.name} in the previous adapters`);
        return { name: t.name, shape: [...t.shape], values: t.values.map((v, i) => v - b.values[i]!) };
      }),
  );

export const trainableAdapterNames =
  (lora: LoraSettings) =>
  (name: string): boolean =>
    name.endsWith('.lora_B') || (!lora.freezeA && name.endsWith('.lora_A'));
