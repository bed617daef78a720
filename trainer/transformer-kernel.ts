import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { DmlError } from '../offchain/index.js';
import {
  TRANSFORMER_KERNEL_FMA_WASM_BASE64,
  TRANSFORMER_KERNEL_WASM_BASE64,
} from './transformer-kernel-wasm.js';

/**
 * The transformer engine's WebAssembly SIMD kernel (source: trainer/transformer-kernel.wat, built
 * by `npm run build:kernels`), instantiated on the memory of a dense kernel's instance
 * (trainer/dense-kernel.ts) so that both modules work on the same buffers. Addresses are byte
 * offsets into that memory; matrices are row-major float32.
 *
 * Two builds of the same source: the fused one (every multiply-add of the products one
 * `f32x4.relaxed_madd`, a vfmadd on a CPU with FMA) where relaxed SIMD validates, the plain one
 * (fixed-width SIMD, a multiply then an add) otherwise or with DML_LM_FMA=0.
 */
export interface TransformerKernelExports {
  /**
   * C[m, n] (=|+=) alpha L[m, k] R[k, n], R taken in panels of 16 columns, L two rows at a time; panel: scratch of
   * `gemmPanelFloats(k)` floats. tri: 0 the whole product; 1 only C[i, j] with j <= i needed (the
   * rest may or may not be written); 2 L lower-triangular (its zeros above the diagonal skipped);
   * 3 L upper-triangular (its zeros below skipped); 4 R lower-triangular (its zeros above skipped).
   */
  gemm(
    l: number,
    m: number,
    k: number,
    r: number,
    n: number,
    c: number,
    alpha: number,
    acc: number,
    panel: number,
    tri: GemmTriangle,
  ): void;
  /**
   * LayerNorm of each column of x [d, n] into a [d, n], with gamma, beta [d]; writes mean and
   * 1/std [n] (float32). Reads up to 3 floats past x's rows (16 bytes of memory after it).
   */
  layer_norm(
    x: number,
    a: number,
    mean: number,
    rstd: number,
    gamma: number,
    beta: number,
    d: number,
    n: number,
  ): void;
  /**
   * dx [d, n] += the gradient of LayerNorm's input given da [d, n]; dgamma, dbeta [d] (=) the
   * parameters' gradients; scratch: 8 d floats.
   */
  layer_norm_backward(
    x: number,
    da: number,
    mean: number,
    rstd: number,
    gamma: number,
    dx: number,
    dgamma: number,
    dbeta: number,
    scratch: number,
    d: number,
    n: number,
  ): void;
  /** out = GELU(z) (tanh form) and its tanh term into tanh, `count` floats. */
  gelu(z: number, out: number, tanh: number, count: number): void;
  /** d (=) d GELU'(z) in place, with the tanh terms `gelu` kept. */
  gelu_backward(z: number, d: number, tanh: number, count: number): void;
  /** Each row i of P [t, t] (=) the softmax of its entries j <= i, 0 above the diagonal. */
  causal_softmax(p: number, t: number): void;
  /** dS = P (dP - rowsum(P dP)) in place of dP [t, t], 0 above the diagonal. */
  causal_softmax_backward(p: number, dp: number, t: number): void;
}

/**
 * The native kernel's functions for the rest of the step (trainer/native/transformer-kernel.c),
 * which the wasm kernel does not have: there the engine keeps its JS loops and the dense kernel's
 * transposes (trainer/transformer-wasm.ts), the same maths within float tolerance. Addresses are
 * byte offsets into the kernel's memory, as in TransformerKernelExports; tokens and targets int32.
 */
export interface TransformerStepExports {
  /** C[m, n] (=|+=) alpha L R with L given as L^T [k, m] when transpose & 1, R as R^T [n, k] when transpose & 2. */
  gemm_transposed(
    l: number,
    m: number,
    k: number,
    r: number,
    n: number,
    c: number,
    alpha: number,
    acc: number,
    transpose: 0 | 1 | 2 | 3,
  ): void;
  /**
   * The mean softmax cross-entropy of logits^T [classes, n] against targets [n] (returned), and
   * its gradient (softmax - onehot) / n into dT [classes, n], in one pass over 8 columns at a time.
   */
  cross_entropy(z: number, targets: number, dT: number, n: number, classes: number): number;
  /**
   * Over the first `columns` columns of logits^T [classes, n]: lossSum plus their cross-entropies
   * against targets [n] (float64, added column after column) and the number whose largest logit (the
   * first on a tie) is the target (the evaluation's figures, trainer/transformer-wasm-evaluation.ts).
   */
  next_byte_loss(
    z: number,
    targets: number,
    n: number,
    columns: number,
    classes: number,
    lossSum: number,
  ): [number, number];
  /** out[r] (=) the sum of row r of a [rows, n]. */
  row_sums(a: number, rows: number, n: number, out: number): void;
  /** x0^T [d, n] (=) E[tokens[c]] + P[c mod t] per column c; E [vocab, d], P [posRows, d]. */
  embed(
    tokens: number,
    e: number,
    pos: number,
    x0: number,
    d: number,
    n: number,
    t: number,
    vocab: number,
    posRows: number,
  ): void;
  /** gE [vocab, d], gP [posRows, d] (=) the sums of dx0^T's columns by token and by position. */
  embed_backward(
    tokens: number,
    dx0: number,
    gE: number,
    gP: number,
    d: number,
    n: number,
    t: number,
    vocab: number,
    posRows: number,
  ): void;
  /**
   * One AdamW step over `count` floats of p with gradient g and moments m, v, PyTorch's float32
   * operations in DenseOptimizer's order (the constants rounded as it rounds them).
   */
  adamw(
    p: number,
    g: number,
    m: number,
    v: number,
    count: number,
    beta1: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    correction1: number,
    correction2: number,
    epsilon: number,
    decay: number,
    learningRate: number,
  ): void;
  /**
   * Causal attention of every window and head of q^T, k^T, v^T [d, n] (d = heads dh, n = batch t):
   * Q, K, V gathered into rows [t, dh] and columns [dh, t] blocks (block i = b heads + h of each
   * of qr .. vc, kept for the backward), P = causal softmax(Q K^T / sqrt(dh)) kept in p [t, t] per
   * block, O = P V (scratch o [t, dh]) scattered into att^T [d, n].
   */
  attention(
    q: number,
    k: number,
    v: number,
    qr: number,
    qc: number,
    kr: number,
    kc: number,
    vr: number,
    vc: number,
    p: number,
    att: number,
    o: number,
    batch: number,
    heads: number,
    t: number,
    dh: number,
  ): void;
  /** Its backward given datt^T [d, n]: dq^T, dk^T, dv^T [d, n] (=); scratch: 5 t dh + t t floats. */
  attention_backward(
    datt: number,
    qc: number,
    kr: number,
    vc: number,
    p: number,
    dq: number,
    dk: number,
    dv: number,
    scratch: number,
    batch: number,
    heads: number,
    t: number,
    dh: number,
  ): void;
}

/** gemm's `tri`: the part of the product needed or nonzero (see TransformerKernelExports.gemm). */
export const GEMM_FULL = 0;
export const GEMM_LOWER_OUTPUT = 1;
export const GEMM_LOWER_LEFT = 2;
export const GEMM_UPPER_LEFT = 3;
export const GEMM_LOWER_RIGHT = 4;
export type GemmTriangle =
  | typeof GEMM_FULL
  | typeof GEMM_LOWER_OUTPUT
  | typeof GEMM_LOWER_LEFT
  | typeof GEMM_UPPER_LEFT
  | typeof GEMM_LOWER_RIGHT;

/** The floats of `gemm`'s panel scratch for an inner dimension k. */
export const gemmPanelFloats = (k: number): number => 16 * k + 16;

/** The smallest module with one `f32x4.relaxed_madd`: it validates where relaxed SIMD is on. */
const RELAXED_SIMD_PROBE = Buffer.from(
  'AGFzbQEAAAABCAFgA3t7ewF7AwIBAAcFAQFmAAAKDQELACAAIAEgAv2FAgs=',
  'base64',
);

let relaxed: boolean | undefined;

/**
 * Whether this process compiles relaxed SIMD: on by default from V8 11.4 (Node 21); Node 20's
 * V8 11.3 has it behind --experimental-wasm-relaxed-simd, which is switched on here, before the
 * first kernel compiles (V8 reads the flag at each compilation; it holds for the process and the
 * worker threads it starts later).
 */
export const relaxedSimdAvailable = (): boolean => {
  if (relaxed !== undefined) return relaxed;
  if (!WebAssembly.validate(RELAXED_SIMD_PROBE)) setFlagsFromString('--experimental-wasm-relaxed-simd');
  return (relaxed = WebAssembly.validate(RELAXED_SIMD_PROBE));
};

/** The kernel's build this process uses: 'fma' (relaxed SIMD's fused multiply-add) or 'plain'. */
export const transformerKernelVariant = (): 'fma' | 'plain' =>
  process.env.DML_LM_FMA !== '0' && relaxedSimdAvailable() ? 'fma' : 'plain';

const compiled = new Map<'fma' | 'plain', WebAssembly.Module>();

/** The compiled module of a build, once per thread. */
const transformerKernelModule = (variant: 'fma' | 'plain'): WebAssembly.Module => {
  let module = compiled.get(variant);
  if (!module) {
    const base64 = variant === 'fma' ? TRANSFORMER_KERNEL_FMA_WASM_BASE64 : TRANSFORMER_KERNEL_WASM_BASE64;
    module = new WebAssembly.Module(Buffer.from(base64, 'base64'));
    compiled.set(variant, module);
  }
  return module;
};

/**
 * The optional native kernel's exports (trainer/native/transformer-kernel.c): every function of
 * TransformerKernelExports, taking the memory's current buffer as its first argument.
 */
type NativeTransformerAddon = {
  [F in keyof TransformerKernelExports]: (
    buffer: ArrayBuffer,
    ...args: Parameters<TransformerKernelExports[F]>
  ) => void;
} & {
  [F in keyof TransformerStepExports]: (
    buffer: ArrayBuffer,
    ...args: Parameters<TransformerStepExports[F]>
  ) => ReturnType<TransformerStepExports[F]>;
} & {
  /** Whether this CPU has AVX2 and FMA (the kernel's instructions). */
  supported(): boolean;
};

/** Where `npm run build:native` writes the native kernel (relative to this file). */
const NATIVE_KERNEL_PATH = './native/build/transformer_kernel.node';

let native: { readonly addon?: NativeTransformerAddon; readonly reason: string } | undefined;

/**
 * The native kernel when it is built and loads and the CPU has AVX2 + FMA (loaded once per
 * thread), else why not. Any failure to load (not built, another platform, a Node without N-API 8,
 * a CPU without AVX2) is a reason, never an error.
 */
export const nativeTransformerKernel = (): {
  readonly addon?: NativeTransformerAddon;
  readonly reason: string;
} => {
  if (native) return native;
  try {
    const addon = createRequire(import.meta.url)(NATIVE_KERNEL_PATH) as NativeTransformerAddon;
    native = addon.supported() ? { addon, reason: 'AVX2 + FMA' } : { reason: 'the CPU lacks AVX2 or FMA' };
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? '';
    native = {
      reason: /Cannot find module/.test(message)
        ? 'not built: `npm run build:native`'
        : `does not load: ${message}`,
    };
  }
  return native;
};

/**
 * The kernel the transformer engine uses in this process: 'native' (trainer/native, AVX2 + FMA)
 * when it loads, unless DML_LM_NATIVE=0; else the wasm kernel's build ('fma' or 'plain', see
 * transformerKernelVariant). DML_LM_NATIVE=1 requires the native one (a DmlError if it does not load).
 */
export type TransformerKernelChoice = 'native' | 'fma' | 'plain';

export const transformerKernelChoice = (): TransformerKernelChoice => {
  const env = process.env.DML_LM_NATIVE;
  if (env === '0') return transformerKernelVariant();
  const loaded = nativeTransformerKernel();
  if (loaded.addon) return 'native';
  if (env === '1')
    throw new DmlError(
      'LM_NATIVE',
      `DML_LM_NATIVE=1 but the native LM kernel is unavailable: ${loaded.reason}`,
      {
        hint: "run `npm run build:native` (needs gcc and Node's headers), or unset DML_LM_NATIVE",
      },
    );
  return transformerKernelVariant();
};

/** One line saying which kernel the transformer engine uses and, for wasm, why not the native one. */
export const transformerKernelDescription = (): string => {
  let choice: TransformerKernelChoice;
  try {
    choice = transformerKernelChoice();
  } catch (error) {
    return (error as Error).message;
  }
  if (choice === 'native')
    return 'native (AVX2 + FMA, trainer/native): products, LayerNorm, GELU, attention, loss, embedding, AdamW';
  const why = process.env.DML_LM_NATIVE === '0' ? 'DML_LM_NATIVE=0' : nativeTransformerKernel().reason;
  return `wasm SIMD, ${choice} build (native kernel: ${why})`;
};

/**
 * An instance of the kernel on `memory` (the dense kernel's exported memory), of this process's
 * choice unless named. 'native': the native `gemm` (it takes `memory.buffer` at every call, so
 * a grown memory is followed): every function natively (the dense kernel's functions stay wasm).
 */
export const transformerKernel = (
  memory: WebAssembly.Memory,
  variant: TransformerKernelChoice = transformerKernelChoice(),
): TransformerKernelExports => {
  if (variant !== 'native')
    return new WebAssembly.Instance(transformerKernelModule(variant), { env: { memory } })
      .exports as unknown as TransformerKernelExports;
  const { addon, reason } = nativeTransformerKernel();
  if (!addon) throw new DmlError('LM_NATIVE', `the native LM kernel is unavailable: ${reason}`);
  return {
    gemm: (l, m, k, r, n, c, alpha, acc, panel, tri) =>
      addon.gemm(memory.buffer, l, m, k, r, n, c, alpha, acc, panel, tri),
    layer_norm: (x, a, mean, rstd, gamma, beta, d, n) =>
      addon.layer_norm(memory.buffer, x, a, mean, rstd, gamma, beta, d, n),
    layer_norm_backward: (x, da, mean, rstd, gamma, dx, dgamma, dbeta, scratch, d, n) =>
      addon.layer_norm_backward(memory.buffer, x, da, mean, rstd, gamma, dx, dgamma, dbeta, scratch, d, n),
    gelu: (z, out, tanh, count) => addon.gelu(memory.buffer, z, out, tanh, count),
    gelu_backward: (z, d, tanh, count) => addon.gelu_backward(memory.buffer, z, d, tanh, count),
    causal_softmax: (p, t) => addon.causal_softmax(memory.buffer, p, t),
    causal_softmax_backward: (p, dp, t) => addon.causal_softmax_backward(memory.buffer, p, dp, t),
  };
};

/**
 * The native kernel's step functions on `memory` when this process's (or the named) kernel is
 * the native one, else undefined (the engine then runs its JS loops and the dense kernel's
 * transposes instead). Like `transformerKernel`, each call takes `memory.buffer` afresh.
 */
export const transformerStepKernel = (
  memory: WebAssembly.Memory,
  variant: TransformerKernelChoice = transformerKernelChoice(),
): TransformerStepExports | undefined => {
  if (variant !== 'native') return undefined;
  const { addon, reason } = nativeTransformerKernel();
  if (!addon) throw new DmlError('LM_NATIVE', `the native LM kernel is unavailable: ${reason}`);
  return {
    gemm_transposed: (l, m, k, r, n, c, alpha, acc, transpose) =>
      addon.gemm_transposed(memory.buffer, l, m, k, r, n, c, alpha, acc, transpose),
    cross_entropy: (z, targets, dT, n, classes) =>
      addon.cross_entropy(memory.buffer, z, targets, dT, n, classes),
    next_byte_loss: (z, targets, n, columns, classes, lossSum) =>
      addon.next_byte_loss(memory.buffer, z, targets, n, columns, classes, lossSum),
    row_sums: (a, rows, n, out) => addon.row_sums(memory.buffer, a, rows, n, out),
    embed: (tokens, e, pos, x0, d, n, t, vocab, posRows) =>
      addon.embed(memory.buffer, tokens, e, pos, x0, d, n, t, vocab, posRows),
    embed_backward: (tokens, dx0, gE, gP, d, n, t, vocab, posRows) =>
      addon.embed_backward(memory.buffer, tokens, dx0, gE, gP, d, n, t, vocab, posRows),
    adamw: (p, g, m, v, count, b1, a1, b2, a2, c1, c2, eps, decay, lr) =>
      addon.adamw(memory.buffer, p, g, m, v, count, b1, a1, b2, a2, c1, c2, eps, decay, lr),
    attention: (q, k, v, qr, qc, kr, kc, vr, vc, p, att, o, batch, heads, t, dh) =>
      addon.attention(memory.buffer, q, k, v, qr, qc, kr, kc, vr, vc, p, att, o, batch, heads, t, dh),
    attention_backward: (datt, qc, kr, vc, p, dq, dk, dv, scratch, batch, heads, t, dh) =>
      addon.attention_backward(memory.buffer, datt, qc, kr, vc, p, dq, dk, dv, scratch, batch, heads, t, dh),
  };
};
