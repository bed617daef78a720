import { TRANSFORMER_KERNEL_WASM_BASE64 } from './transformer-kernel-wasm.js';

/**
 * The transformer engine's WebAssembly SIMD kernel (source: trainer/transformer-kernel.wat, built
 * by `npm run build:kernels`), instantiated on the memory of a dense kernel's instance
 * (trainer/dense-kernel.ts) so that both modules work on the same buffers. Addresses are byte
 * offsets into that memory; matrices are row-major float32.
 */
export interface TransformerKernelExports {
  /**
   * C[m, n] (=|+=) alpha L[m, k] R[k, n], R taken in panels of 16 columns, L two rows at a time; panel: scratch of
   * `gemmPanelFloats(k)` floats.
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
  ): void;
}

/** The floats of `gemm`'s panel scratch for an inner dimension k. */
export const gemmPanelFloats = (k: number): number => 16 * k + 16;

let compiled: WebAssembly.Module | undefined;

/** The compiled module, once per thread. */
const transformerKernelModule = (): WebAssembly.Module =>
  (compiled ??= new WebAssembly.Module(Buffer.from(TRANSFORMER_KERNEL_WASM_BASE64, 'base64')));

/** An instance of the kernel on `memory` (the dense kernel's exported memory). */
export const transformerKernel = (memory: WebAssembly.Memory): TransformerKernelExports =>
  new WebAssembly.Instance(transformerKernelModule(), { env: { memory } })
    .exports as unknown as TransformerKernelExports;
