import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { PlaneShape } from './conv-planes.js';
import { convPlanesKernel } from './conv-planes-kernel.js';
import { DenseKernel, type DenseKernelChoice } from './dense-kernel.js';
import {
  machineHasAvx2Fma,
  nativeAddonBuilt,
  nativeAddonRequired,
  describeNativeDense,
  nativeDenseAvailable,
} from './testing/index.js';

const shapes = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  height: fc.integer({ min: 1, max: 10 }).map((v) => 2 * v),
  width: fc.integer({ min: 1, max: 10 }).map((v) => 2 * v),
  channels: fc.integer({ min: 1, max: 4 }),
});
const kernels = fc.constantFrom(1, 3, 5);

const count = (s: PlaneShape): number => s.channels * s.n * s.height * s.width;

/** Values with a fixed seed; `ties`: a few integers, so that pooling windows hold equal maxima. */
const valuesFor = (length: number, seed: number, ties = false): Float32Array =>
  Float32Array.from({ length }, (_, i) => {
    const v = Math.sin(seed + i * 1.7) * 3;
    return ties ? Math.round(v) : Math.fround(v);
  });

/**
 * Runs the planes' functions of a fresh kernel of `choice` on the inputs: im2col of x, col2im of
 * d, pooling of x and its gradient for dOut. Returns every output, copied out of the memory.
 */
const runOn = (choice: DenseKernelChoice, s: PlaneShape, k: number, seed: number, ties: boolean) => {
  const kernel = new DenseKernel(choice);
  const planes = convPlanesKernel(kernel);
  const [c, pc, oc] = [count(s), k * k * count(s), count(s) / 4];
  const [x, p, d, dx, pooled, argmax, dOut, da] = [c, pc, pc, c, oc, oc, oc, c].map((f) => kernel.alloc(f));
  kernel.commit();
  kernel.f32(x!, c).set(valuesFor(c, seed, ties));
  kernel.f32(d!, pc).set(valuesFor(pc, seed + 1));
  kernel.f32(dOut!, oc).set(valuesFor(oc, seed + 2));
  // outputs start as NaN: every element must be written
  for (const [at, length] of [
    [p!, pc],
    [dx!, c],
    [pooled!, oc],
    [da!, c],
  ] as const)
    kernel.f32(at, length).fill(Number.NaN);
  planes.im2col(x!, s, k, p!);
  planes.col2im(d!, s, k, dx!);
  planes.maxPool2(x!, s, pooled!, argmax!);
  planes.maxPool2Grad(dOut!, argmax!, oc, da!, c);
  return {
    patches: Float32Array.from(kernel.f32(p!, pc)),
    col2im: Float32Array.from(kernel.f32(dx!, c)),
    pooled: Float32Array.from(kernel.f32(pooled!, oc)),
    argmax: Int32Array.from(kernel.i32(argmax!, oc)),
    poolGrad: Float32Array.from(kernel.f32(da!, c)),
  };
};

describe('the conv planes on a kernel’s memory (trainer/conv-planes-kernel.ts)', () => {
  it('are native wherever the dense products are, and must be in CI', () => {
    if (nativeAddonBuilt && machineHasAvx2Fma()) expect(nativeDenseAvailable).toBe(true);
    if (nativeAddonRequired && machineHasAvx2Fma()) expect(nativeDenseAvailable).toBe(true);
    expect(new DenseKernel('wasm').native).toBeUndefined();
  });

  it('the JavaScript path writes every output (no NaN left) and pools to the window maxima', () => {
    const s = { n: 2, height: 4, width: 6, channels: 3 };
    const out = runOn('wasm', s, 3, 5, true);
    for (const v of [out.patches, out.col2im, out.pooled, out.poolGrad])
      expect(v.some(Number.isNaN)).toBe(false);
    expect(out.pooled.every((v, i) => v === valuesFor(count(s), 5, true)[out.argmax[i]!])).toBe(true);
  });

  describeNativeDense('natively (trainer/native/conv-planes.c)', () => {
    it('im2col, col2im, pooling and its gradient give the JavaScript loops’ bits (shapes, kernels 1/3/5, ties)', () => {
      fc.assert(
        fc.property(shapes, kernels, fc.integer({ min: 0, max: 1000 }), fc.boolean(), (s, k, seed, ties) => {
          const native = runOn('native', s, k, seed, ties);
          const wasm = runOn('wasm', s, k, seed, ties);
          expect(native.patches).toEqual(wasm.patches);
          expect(native.col2im).toEqual(wasm.col2im);
          expect(native.pooled).toEqual(wasm.pooled);
          expect(native.argmax).toEqual(wasm.argmax);
          expect(native.poolGrad).toEqual(wasm.poolGrad);
        }),
        { numRuns: 40 },
      );
    });

    it('refuses operands past the memory, bad sizes and an argmax past the count (a RangeError)', () => {
      const kernel = new DenseKernel('native');
      const planes = convPlanesKernel(kernel);
      const [x, p] = [kernel.alloc(64), kernel.alloc(9 * 64)];
      kernel.commit();
      const size = kernel.k.memory.buffer.byteLength;
      const s = { n: 1, height: 8, width: 8, channels: 1 };
      expect(() => planes.im2col(x, s, 3, size - 64)).toThrow(/an operand reaches past the memory/);
      expect(() => planes.col2im(size - 64, s, 3, x)).toThrow(/an operand reaches past the memory/);
      expect(() => planes.im2col(x, s, 2, p)).toThrow(/the kernel odd/);
      expect(() => planes.im2col(x, { ...s, n: 0 }, 3, p)).toThrow(/sizes must be positive/);
      expect(() => planes.im2col(x, { ...s, n: 65536, channels: 65536 }, 3, p)).toThrow(
        /sizes must be positive/,
      );
      expect(() => planes.im2col(x, s, 3, x + 4)).toThrow(/overlap/);
      expect(() => planes.maxPool2(x, { ...s, width: 7 }, p, p + 256)).toThrow(/even/);
      expect(() => planes.maxPool2(x, s, size - 32, p)).toThrow(/an operand reaches past the memory/);
      kernel.i32(p, 16).fill(3);
      kernel.i32(p, 16)[5] = 64;
      expect(() => planes.maxPool2Grad(x, p, 16, p + 256, 64)).toThrow(/an argmax is not below the count/);
      kernel.i32(p, 16)[5] = -1;
      expect(() => planes.maxPool2Grad(x, p, 16, p + 256, 64)).toThrow(/an argmax is not below the count/);
      kernel.i32(p, 16)[5] = 63;
      kernel.f32(x, 16).fill(2);
      planes.maxPool2Grad(x, p, 16, p + 256, 64);
      expect(kernel.f32(p + 256, 64)[63]).toBe(2);
      expect(kernel.f32(p + 256, 64)[3]).toBe(2);
      expect(kernel.f32(p + 256, 64)[0]).toBe(0);
    });
  });
});
