import type { DenseKernel } from './dense-kernel.js';
import {
  type PlaneShape,
  col2imPlanes,
  im2colPlanes,
  maxPool2Planes,
  maxPool2PlanesGrad,
} from './conv-planes.js';

/**
 * The conv engine's data movement on a kernel's memory, by byte address (planes `[c, n, h, w]`
 * float32, argmax int32): natively (trainer/native/conv-planes.c) when the kernel's products are
 * native, else the JavaScript loops of trainer/conv-planes.ts on views of the memory. Both give
 * the same bits.
 */
export interface ConvPlanesKernel {
  /** p [k*k*c, n*h*w] = the patches of x [c, n*h*w] ('same' zero padding). */
  im2col(x: number, s: PlaneShape, kernel: number, p: number): void;
  /** dx [c, n*h*w] = the adjoint of im2col applied to dp [k*k*c, n*h*w]. */
  col2im(dp: number, s: PlaneShape, kernel: number, dx: number): void;
  /** out [c, n, h/2, w/2] = 2x2 max pooling of a (shape s), argmax [c*n*h*w/4] its indices in a. */
  maxPool2(a: number, s: PlaneShape, out: number, argmax: number): void;
  /** da [count] = 0 but dOut [outputs] at each argmax. */
  maxPool2Grad(dOut: number, argmax: number, outputs: number, da: number, count: number): void;
}

const planeCount = (s: PlaneShape): number => s.channels * s.n * s.height * s.width;

/** The conv planes of `kernel`'s memory: native when its products are (`kernel.native`). */
export const convPlanesKernel = (kernel: DenseKernel): ConvPlanesKernel => {
  const native = kernel.native;
  if (native) {
    const memory = kernel.k.memory;
    return {
      im2col: (x, s, k, p) =>
        native.im2col_planes(memory.buffer, x, s.n, s.height, s.width, s.channels, k, p),
      col2im: (dp, s, k, dx) =>
        native.col2im_planes(memory.buffer, dp, s.n, s.height, s.width, s.channels, k, dx),
      maxPool2: (a, s, out, argmax) =>
        native.max_pool2_planes(memory.buffer, a, s.n, s.height, s.width, s.channels, out, argmax),
      maxPool2Grad: (dOut, argmax, outputs, da, count) =>
        native.max_pool2_planes_grad(memory.buffer, dOut, argmax, outputs, da, count),
    };
  }
  return {
    im2col: (x, s, k, p) =>
      im2colPlanes(kernel.f32(x, planeCount(s)), s, k, kernel.f32(p, k * k * planeCount(s))),
    col2im: (dp, s, k, dx) =>
      col2imPlanes(kernel.f32(dp, k * k * planeCount(s)), s, k, kernel.f32(dx, planeCount(s))),
    maxPool2: (a, s, out, argmax) =>
      maxPool2Planes(
        kernel.f32(a, planeCount(s)),
        s,
        kernel.f32(out, planeCount(s) / 4),
        kernel.i32(argmax, planeCount(s) / 4),
      ),
    maxPool2Grad: (dOut, argmax, outputs, da, count) =>
      maxPool2PlanesGrad(
        kernel.f32(dOut, outputs),
        kernel.i32(argmax, outputs),
        outputs,
        kernel.f32(da, count),
        count,
      ),
  };
};
