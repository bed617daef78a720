import { DmlError } from '../offchain/index.js';
import { DENSE_KERNEL_WASM_BASE64 } from './dense-kernel-wasm.js';
import { NF4_CODEBOOK } from './nf4.js';
import { nativeTransformerKernel } from './transformer-kernel.js';

/**
 * The dense engine's WebAssembly SIMD kernel (source: trainer/dense-kernel.wat, built by
 * `npm run build:kernels`): products with NF4 decoded inside them, transposes, bias + ReLU and
 * the ReLU's gradient, on float32 matrices in the kernel's own memory. Addresses are byte
 * offsets into that memory; matrices are row-major.
 */
export interface DenseKernelExports {
  readonly memory: WebAssembly.Memory;
  /** C[m, n] (=|+=) alpha L[m, k] R[k, n]. */
  rows_times(
    l: number,
    m: number,
    k: number,
    r: number,
    n: number,
    c: number,
    alpha: number,
    acc: number,
  ): void;
  /** C[k, n] (=|+=) alpha L^T R, L [m, k], R [m, n]; buf holds m floats. */
  cols_times(
    l: number,
    m: number,
    k: number,
    r: number,
    n: number,
    c: number,
    alpha: number,
    acc: number,
    buf: number,
  ): void;
  /** C[rows, n] (=|+=) alpha W R, W NF4 [rows, cols] (codes + per-block scales), R [cols, n]; buf: cols floats. */
  nf4_rows_times(
    codes: number,
    scales: number,
    rows: number,
    cols: number,
    r: number,
    n: number,
    c: number,
    alpha: number,
    acc: number,
    buf: number,
  ): void;
  /** C[cols, n] (=|+=) alpha W^T R, W NF4 [rows, cols], R [rows, n]; buf: rows floats. */
  nf4_cols_times(
    codes: number,
    scales: number,
    rows: number,
    cols: number,
    r: number,
    n: number,
    c: number,
    alpha: number,
    acc: number,
    buf: number,
  ): void;
  /** out[0..count) = the NF4 weights of flat indices start..start + count. */
  nf4_decode(codes: number, scales: number, start: number, count: number, out: number): void;
  /** out[b] = the dequantised absmax of block b (nf4BlockScale, bit for bit). */
  nf4_scales(scaleCodes: number, scaleScales: number, offset: number, blocks: number, out: number): void;
  /** T [cols, rows] = A [rows, cols] transposed. */
  transpose(a: number, rows: number, cols: number, t: number): void;
  /** T [cols, rows] = table[A] transposed, A bytes [rows, cols], table 256 floats. */
  bytes_transposed(a: number, rows: number, cols: number, table: number, t: number): void;
  /** Z [rows, n] += bias per row; with relu, A = max(Z, 0). */
  bias_relu(z: number, rows: number, n: number, bias: number, a: number, relu: number): void;
  /** d[i] = z[i] > 0 ? d[i] : 0. */
  relu_mask(d: number, z: number, count: number): void;
}

/** The dense products the native addon has (trainer/native/dense-kernel.c). */
type DenseProduct = 'rows_times' | 'cols_times' | 'nf4_rows_times' | 'nf4_cols_times';

/**
 * The conv engine's data movement in the native addon (trainer/native/conv-planes.c): the loops
 * of trainer/conv-planes.ts on the kernel's memory (byte addresses; planes `[c, n, h, w]`
 * float32, argmax int32), the same bits. Each takes the memory's current buffer first.
 */
export interface NativeConvPlanes {
  /** p [k*k*c, n*h*w] = the patches of x [c, n*h*w] (`im2colPlanes`). */
  im2col_planes(
    buffer: ArrayBuffer,
    x: number,
    n: number,
    h: number,
    w: number,
    c: number,
    kernel: number,
    p: number,
  ): void;
  /** dx [c, n*h*w] = the adjoint of im2col of dp [k*k*c, n*h*w] (`col2imPlanes`). */
  col2im_planes(
    buffer: ArrayBuffer,
    dp: number,
    n: number,
    h: number,
    w: number,
    c: number,
    kernel: number,
    dx: number,
  ): void;
  /** out [c, n, h/2, w/2] and argmax = 2x2 max pooling of a [c, n, h, w] (`maxPool2Planes`). */
  max_pool2_planes(
    buffer: ArrayBuffer,
    a: number,
    n: number,
    h: number,
    w: number,
    c: number,
    out: number,
    argmax: number,
  ): void;
  /** da [count] = 0 but dOut [outputs] at each argmax (`maxPool2PlanesGrad`); a RangeError for an argmax >= count. */
  max_pool2_planes_grad(
    buffer: ArrayBuffer,
    dOut: number,
    argmax: number,
    outputs: number,
    da: number,
    count: number,
  ): void;
}

/**
 * The native addon's functions of the dense and conv engines: the dense products (each takes the
 * memory's current buffer first) and the conv planes.
 */
export type NativeDenseAddon = {
  [F in DenseProduct]: (buffer: ArrayBuffer, ...args: Parameters<DenseKernelExports[F]>) => void;
} & NativeConvPlanes;

/**
 * Where the dense products run: 'native' (the addon of trainer/native, AVX2 + FMA, the same one
 * as the LM's: rows_times, cols_times, nf4_rows_times, nf4_cols_times; the rest stays wasm) or
 * 'wasm' (trainer/dense-kernel.wat, every function).
 */
export type DenseKernelChoice = 'native' | 'wasm';

/**
 * Whether the loaded addon has the dense products and the conv planes (an addon built before
 * them has not).
 */
const nativeDenseAddon = (): { readonly addon?: NativeDenseAddon; readonly reason: string } => {
  const loaded = nativeTransformerKernel();
  if (!loaded.addon) return { reason: loaded.reason };
  const addon = loaded.addon as unknown as Partial<NativeDenseAddon>;
  const needed = ['rows_times', 'nf4_cols_times', 'im2col_planes', 'max_pool2_planes_grad'] as const;
  if (needed.some((f) => typeof addon[f] !== 'function'))
    return {
      reason:
        'built from an older source without the dense products or the conv planes: `npm run build:native`',
    };
  return { addon: addon as NativeDenseAddon, reason: loaded.reason };
};

/**
 * The dense engine's choice in this process: 'native' when the addon loads on an AVX2 + FMA CPU,
 * unless DML_DENSE_NATIVE=0; DML_DENSE_NATIVE=1 requires it (a DmlError if it does not load).
 */
export const denseKernelChoice = (): DenseKernelChoice => {
  const env = process.env.DML_DENSE_NATIVE;
  if (env === '0') return 'wasm';
  const loaded = nativeDenseAddon();
  if (loaded.addon) return 'native';
  if (env === '1')
    throw new DmlError(
      'DENSE_NATIVE',
      `DML_DENSE_NATIVE=1 but the native dense kernel is unavailable: ${loaded.reason}`,
      { hint: "run `npm run build:native` (needs gcc and Node's headers), or unset DML_DENSE_NATIVE" },
    );
  return 'wasm';
};

/** One line saying where the dense products run and, for wasm, why not natively. */
export const denseKernelDescription = (): string => {
  let choice: DenseKernelChoice;
  try {
    choice = denseKernelChoice();
  } catch (error) {
    return (error as Error).message;
  }
  if (choice === 'native')
    return 'native (AVX2 + FMA, trainer/native): the products and the conv planes; wasm SIMD: the rest';
  const why = process.env.DML_DENSE_NATIVE === '0' ? 'DML_DENSE_NATIVE=0' : nativeDenseAddon().reason;
  return `wasm SIMD (native products: ${why})`;
};

let compiled: WebAssembly.Module | undefined;

/** The compiled module, once per thread (synchronous: it is a few kilobytes). */
const denseKernelModule = (): WebAssembly.Module =>
  (compiled ??= new WebAssembly.Module(Buffer.from(DENSE_KERNEL_WASM_BASE64, 'base64')));

/**
 * Bytes 0..63 of the kernel's memory hold the NF4 levels as float32, bytes 64..127 the same as
 * 4 planes of 16 bytes (byte b of level c at 64 + 16 b + c, for the SIMD decode's swizzles);
 * allocations start after them.
 */
const FIRST_FREE_BYTE = 128;

const NF4_LEVEL_PLANES = ((): Uint8Array => {
  const bytes = new Uint8Array(NF4_CODEBOOK.buffer, NF4_CODEBOOK.byteOffset, 64);
  return Uint8Array.from({ length: 64 }, (_, i) => bytes[(i & 15) * 4 + (i >> 4)]!);
})();

/**
 * One instance of the kernel with its own memory, and a bump allocator over it: a caller sizes
 * everything once (`alloc`), then calls `commit()`, which grows the memory once; the views it
 * returns stay valid for the instance's life (the memory never grows again).
 */
export class DenseKernel {
  readonly k: DenseKernelExports;
  /** The native addon when the products are native (for the conv planes, trainer/conv-planes-kernel.ts). */
  readonly native: NativeDenseAddon | undefined;
  private next = FIRST_FREE_BYTE;
  private committed = false;

  /**
   * `products`: where rows_times, cols_times, nf4_rows_times and nf4_cols_times run ('wasm' unless
   * named: the engines that share this memory with other kernels keep it; the dense engine passes
   * denseKernelChoice()). Natively each call takes `memory.buffer` afresh (a grown memory is followed).
   */
  constructor(products: DenseKernelChoice = 'wasm') {
    const wasm = new WebAssembly.Instance(denseKernelModule()).exports as unknown as DenseKernelExports;
    if (products === 'wasm') {
      this.k = wasm;
      this.native = undefined;
      return;
    }
    const { addon, reason } = nativeDenseAddon();
    if (!addon) throw new DmlError('DENSE_NATIVE', `the native dense kernel is unavailable: ${reason}`);
    this.native = addon;
    const memory = wasm.memory;
    this.k = {
      ...wasm,
      memory,
      rows_times: (l, m, k, r, n, c, alpha, acc) =>
        addon.rows_times(memory.buffer, l, m, k, r, n, c, alpha, acc),
      cols_times: (l, m, k, r, n, c, alpha, acc, buf) =>
        addon.cols_times(memory.buffer, l, m, k, r, n, c, alpha, acc, buf),
      nf4_rows_times: (codes, scales, rows, cols, r, n, c, alpha, acc, buf) =>
        addon.nf4_rows_times(memory.buffer, codes, scales, rows, cols, r, n, c, alpha, acc, buf),
      nf4_cols_times: (codes, scales, rows, cols, r, n, c, alpha, acc, buf) =>
        addon.nf4_cols_times(memory.buffer, codes, scales, rows, cols, r, n, c, alpha, acc, buf),
    };
  }

  /** Reserves `floats` float32 (or `floats * 4` bytes), 16-byte aligned; returns the address. */
  alloc(floats: number): number {
    if (this.committed) throw new Error('DenseKernel.alloc after commit');
    const at = this.next;
    this.next += (Math.ceil((floats * 4) / 16) || 1) * 16;
    return at;
  }

  /**
   * Makes the instance new again for another user: every byte of its memory zeroed (as a fresh
   * memory's), the allocator back at the start, `alloc` allowed until the next `commit` (which
   * grows the memory only if the new allocations need more). Views taken before are left
   * pointing at the zeroed memory: the previous user must be done with them.
   */
  reset(): void {
    new Uint8Array(this.k.memory.buffer).fill(0);
    this.next = FIRST_FREE_BYTE;
    this.committed = false;
  }

  /** Grows the memory to hold every allocation and writes the NF4 levels (both forms). */
  commit(): void {
    const pages = Math.ceil(this.next / 65536);
    const have = this.k.memory.buffer.byteLength / 65536;
    if (pages > have) this.k.memory.grow(pages - have);
    this.committed = true;
    this.f32(0, 16).set(NF4_CODEBOOK);
    this.u8(64, 64).set(NF4_LEVEL_PLANES);
  }

  /** A float32 view of `length` floats at byte address `at`. */
  f32(at: number, length: number): Float32Array {
    return new Float32Array(this.k.memory.buffer, at, length);
  }

  u8(at: number, length: number): Uint8Array {
    return new Uint8Array(this.k.memory.buffer, at, length);
  }

  i8(at: number, length: number): Int8Array {
    return new Int8Array(this.k.memory.buffer, at, length);
  }

  i32(at: number, length: number): Int32Array {
    return new Int32Array(this.k.memory.buffer, at, length);
  }
}
