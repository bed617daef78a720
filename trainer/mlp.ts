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

/** A ReLU multilayer perceptron (the last layer gives logits). */
export interface Mlp {
  readonly layers: readonly DenseLayer[];
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

export const quantizeMlp = (mlp: Mlp): QuantizedMlp => {
  const hash = createHash('sha256');
  const layers = mlp.layers.map((l) => {
    const weight = quantizeNf4(l.weight, [l.outputs, l.inputs]);
    const bias = Float32Array.from(l.bias);
    hash.update(`${l.name}:${l.outputs}x${l.inputs};`);
    for (const part of [
      weight.codes,
      weight.scaleCodes,
      weight.scaleScales,
      Float32Array.of(weight.scaleOffset),
      bias,
    ])
      hash.update(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
    return { name: l.name, inputs: l.inputs, outputs: l.outputs, weight, bias };
  });
  return { layers, hash: hash.digest('hex') };
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
