import { createHash } from 'node:crypto';
import { DmlError } from '../offchain/index.js';
import type { DenseLayer, QuantizedLayer } from './mlp.js';
import { type Nf4Tensor, quantizeNf4 } from './nf4.js';
import { gaussian, seededRandom } from './random.js';

/**
 * A byte-level causal transformer (GPT-style, pre-LayerNorm):
 *
 *   x = onehot(bytes) E + P[:T]                       E [256, d], P [context, d]
 *   per block i:  x += o( attention_causal( q(ln1 x), k(ln1 x), v(ln1 x) ) )
 *                 x += down( act( up(ln2 x) ) )        up: d -> ratio d, down: ratio d -> d
 *   logits = head( lnf x )                            head: d -> 256
 *
 * Linear layers (all with a bias) are named `h<i>.q`, `h<i>.k`, `h<i>.v`, `h<i>.o`, `h<i>.up`,
 * `h<i>.down` and `head`; weights are [out, in] row-major as in the MLP. LayerNorms are `h<i>.ln1`,
 * `h<i>.ln2`, `lnf` (gamma, beta).
 */
export interface TransformerShape {
  readonly dModel: number;
  readonly layers: number;
  readonly heads: number;
  readonly context: number;
  readonly mlpRatio: number;
  readonly activation: 'gelu' | 'relu';
}

export const TRANSFORMER_VOCABULARY = 256;

export interface LayerNormParams {
  readonly name: string;
  readonly gamma: Float32Array;
  readonly beta: Float32Array;
}

/** A full-precision transformer (what pretraining produces). */
export interface Transformer {
  readonly shape: TransformerShape;
  /** [256, d] */
  readonly embedding: Float32Array;
  /** [context, d] */
  readonly positions: Float32Array;
  readonly norms: readonly LayerNormParams[];
  readonly linears: readonly DenseLayer[];
}

/** `model`'s shape and layer names with every parameter read by name (`embedding`, `<layer>.weight`, ...). */
export const transformerWithParams = (
  model: Transformer,
  read: (name: string) => Float32Array,
): Transformer => ({
  shape: model.shape,
  embedding: read('embedding'),
  positions: read('positions'),
  norms: model.norms.map((n) => ({
    name: n.name,
    gamma: read(`${n.name}.gamma`),
    beta: read(`${n.name}.beta`),
  })),
  linears: model.linears.map((l) => ({
    ...l,
    weight: read(`${l.name}.weight`),
    bias: read(`${l.name}.bias`),
  })),
});

/**
 * The QLoRA base: every linear layer's weight in NF4 (double-quantised scales), and the token
 * embedding in NF4 too (it is frozen and carries no adapter); biases, positions and LayerNorm
 * parameters stay FP32 (they are vectors: 0.2% of a d-128 model). `layers` are the linear layers
 * in the MLP's `QuantizedLayer` form, so `initAdapters`, `applyDelta` and the delta protocol
 * work unchanged.
 */
export interface QuantizedTransformer {
  readonly shape: TransformerShape;
  readonly embedding: Nf4Tensor;
  readonly positions: Float32Array;
  readonly norms: readonly LayerNormParams[];
  readonly layers: readonly QuantizedLayer[];
  /** SHA-256 over the shape and every quantised or FP32 parameter. */
  readonly hash: string;
}

/** The linear layers of a shape: [name, inputs, outputs], in forward order. */
export const transformerLinearLayout = (s: TransformerShape): Array<[string, number, number]> => {
  const d = s.dModel;
  const out: Array<[string, number, number]> = [];
  for (let i = 0; i < s.layers; i++)
    out.push(
      [`h${i}.q`, d, d],
      [`h${i}.k`, d, d],
      [`h${i}.v`, d, d],
      [`h${i}.o`, d, d],
      [`h${i}.up`, d, s.mlpRatio * d],
      [`h${i}.down`, s.mlpRatio * d, d],
    );
  out.push(['head', d, TRANSFORMER_VOCABULARY]);
  return out;
};

export const transformerNormNames = (s: TransformerShape): string[] => [
  ...Array.from({ length: s.layers }, (_, i) => [`h${i}.ln1`, `h${i}.ln2`]).flat(),
  'lnf',
];

export const checkTransformerShape = (s: TransformerShape): void => {
  const ok = (n: number) => Number.isInteger(n) && n >= 1;
  if (
    !ok(s.dModel) ||
    !ok(s.layers) ||
    !ok(s.heads) ||
    !ok(s.context) ||
    !ok(s.mlpRatio) ||
    s.dModel % s.heads !== 0 ||
    (s.activation !== 'gelu' && s.activation !== 'relu')
  )
    throw new DmlError(
      'MODEL_SIZES',
      `bad transformer shape ${describeTransformerShape(s)}: positive integers, d a multiple of heads, gelu or relu`,
    );
};

export const describeTransformerShape = (s: TransformerShape): string =>
  `d${s.dModel}-l${s.layers}-h${s.heads}-c${s.context}-r${s.mlpRatio}-${s.activation}`;

/** A transformer initialised GPT-2 style: weights N(0, 0.02), residual outputs N(0, 0.02/sqrt(2L)). */
export const initTransformer = (shape: TransformerShape, seed: number): Transformer => {
  checkTransformerShape(shape);
  const random = seededRandom(seed);
  const normal = (n: number, std: number) => Float32Array.from({ length: n }, () => gaussian(random) * std);
  const d = shape.dModel;
  const residualStd = 0.02 / Math.sqrt(2 * shape.layers);
  return {
    shape,
    embedding: normal(TRANSFORMER_VOCABULARY * d, 0.02),
    positions: normal(shape.context * d, 0.02),
    norms: transformerNormNames(shape).map((name) => ({
      name,
      gamma: new Float32Array(d).fill(1),
      beta: new Float32Array(d),
    })),
    linears: transformerLinearLayout(shape).map(([name, inputs, outputs]) => ({
      name,
      inputs,
      outputs,
      weight: normal(inputs * outputs, /\.(o|down)$/.test(name) ? residualStd : 0.02),
      bias: new Float32Array(outputs),
    })),
  };
};

export const transformerParameterCount = (shape: TransformerShape): number => {
  const d = shape.dModel;
  return (
    TRANSFORMER_VOCABULARY * d +
    shape.context * d +
    transformerNormNames(shape).length * 2 * d +
    transformerLinearLayout(shape).reduce((s, [, i, o]) => s + i * o + o, 0)
  );
};

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export const hashQuantizedTransformer = (t: Omit<QuantizedTransformer, 'hash'>): string => {
  const hash = createHash('sha256');
  hash.update(`transformer:${describeTransformerShape(t.shape)};`);
  const nf4 = (w: Nf4Tensor) => {
    for (const part of [w.codes, w.scaleCodes, w.scaleScales, Float32Array.of(w.scaleOffset)])
      hash.update(bytesOf(part));
  };
  hash.update('embedding;');
  nf4(t.embedding);
  hash.update('positions;');
  hash.update(bytesOf(t.positions));
  for (const n of t.norms) {
    hash.update(`${n.name};`);
    hash.update(bytesOf(n.gamma));
    hash.update(bytesOf(n.beta));
  }
  for (const l of t.layers) {
    hash.update(`${l.name}:${l.outputs}x${l.inputs};`);
    nf4(l.weight);
    hash.update(bytesOf(l.bias));
  }
  return hash.digest('hex');
};

/** Quantises a pretrained transformer into the QLoRA base (NF4 linears and embedding). */
export const quantizeTransformer = (t: Transformer): QuantizedTransformer => {
  const body = {
    shape: t.shape,
    embedding: quantizeNf4(t.embedding, [TRANSFORMER_VOCABULARY, t.shape.dModel]),
    positions: Float32Array.from(t.positions),
    norms: t.norms.map((n) => ({
      name: n.name,
      gamma: Float32Array.from(n.gamma),
      beta: Float32Array.from(n.beta),
    })),
    layers: t.linears.map((l) => ({
      name: l.name,
      inputs: l.inputs,
      outputs: l.outputs,
      weight: quantizeNf4(l.weight, [l.outputs, l.inputs]),
      bias: Float32Array.from(l.bias),
    })),
  };
  return { ...body, hash: hashQuantizedTransformer(body) };
};
