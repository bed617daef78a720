import * as tf from '@tensorflow/tfjs';

/**
 * Convolution as a matrix product. `im2col` cuts 'same'-padded k x k patches into rows, the
 * layer multiplies them by its [out, k*k*in] weight like a dense layer, and `col2im` is the
 * exact adjoint of `im2col` (each patch value added back at its pixel). Both, and 2x2 max
 * pooling with its gradient, are plain loops over Float32Arrays: on the wasm backend the tensor
 * way (pad, nine slices, a concat on the channel axis; split, pad, addN; MaxPoolGrad) measured
 * 10-100x slower than these loops plus one copy in and out (design_docs/trainer.md).
 * The products themselves stay in TensorFlow.js.
 */

/** [n, h, w, c] -> [n*h*w, k*k*c]: row (n, y, x) holds x[n, y+dy-p, x+dx-p, :] (0 outside) for dy, dx in 0..k-1. */
export const im2colValues = (
  x: Float32Array,
  [n, h, w, c]: readonly [number, number, number, number],
  kernel: number,
): Float32Array => {
  const p = (kernel - 1) / 2;
  const width = kernel * kernel * c;
  const out = new Float32Array(n * h * w * width);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        let o = ((b * h + y) * w + xx) * width;
        for (let dy = 0; dy < kernel; dy++) {
          const sy = y + dy - p;
          for (let dx = 0; dx < kernel; dx++, o += c) {
            const sx = xx + dx - p;
            if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
            const s = ((b * h + sy) * w + sx) * c;
            for (let ch = 0; ch < c; ch++) out[o + ch] = x[s + ch]!;
          }
        }
      }
  return out;
};

/** The adjoint of `im2colValues`: patch gradients [n*h*w, k*k*c] summed back into [n, h, w, c]. */
export const col2imValues = (
  d: Float32Array,
  [n, h, w, c]: readonly [number, number, number, number],
  kernel: number,
): Float32Array => {
  const p = (kernel - 1) / 2;
  const width = kernel * kernel * c;
  const out = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        let o = ((b * h + y) * w + xx) * width;
        for (let dy = 0; dy < kernel; dy++) {
          const sy = y + dy - p;
          for (let dx = 0; dx < kernel; dx++, o += c) {
            const sx = xx + dx - p;
            if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
            const s = ((b * h + sy) * w + sx) * c;
            for (let ch = 0; ch < c; ch++) out[s + ch] += d[o + ch]!;
          }
        }
      }
  return out;
};

export const im2col = (x: tf.Tensor4D, kernel: number): tf.Tensor2D => {
  const [n, h, w, c] = x.shape;
  return tf.tensor2d(im2colValues(x.dataSync() as Float32Array, [n, h, w, c], kernel), [
    n * h * w,
    kernel * kernel * c,
  ]);
};

export const col2im = (
  d: tf.Tensor2D,
  shape: readonly [number, number, number, number],
  kernel: number,
): tf.Tensor4D => tf.tensor4d(col2imValues(d.dataSync() as Float32Array, shape, kernel), [...shape]);

/** 2x2 max pooling, stride 2, and where each maximum came from (the first of equal values). */
export interface Pooled {
  readonly output: tf.Tensor4D;
  /** For each output element, the flat index of its maximum in the input. */
  readonly argmax: Int32Array;
  readonly inputShape: readonly [number, number, number, number];
}

export const maxPool2 = (x: tf.Tensor4D): Pooled => {
  const [n, h, w, c] = x.shape;
  const v = x.dataSync() as Float32Array;
  const [oh, ow] = [h / 2, w / 2];
  const out = new Float32Array(n * oh * ow * c);
  const argmax = new Int32Array(out.length);
  let o = 0;
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++)
        for (let ch = 0; ch < c; ch++, o++) {
          const i0 = ((b * h + 2 * y) * w + 2 * xx) * c + ch;
          let best = i0;
          for (const i of [i0 + c, i0 + w * c, i0 + w * c + c]) if (v[i]! > v[best]!) best = i;
          out[o] = v[best]!;
          argmax[o] = best;
        }
  return { output: tf.tensor4d(out, [n, oh, ow, c]), argmax, inputShape: [n, h, w, c] };
};

/** The gradient of `maxPool2`: each output gradient goes to its window's maximum. */
export const maxPool2Grad = (dy: tf.Tensor, pooled: Pooled): tf.Tensor4D => {
  const d = dy.dataSync() as Float32Array;
  const [n, h, w, c] = pooled.inputShape;
  const out = new Float32Array(n * h * w * c);
  for (let i = 0; i < d.length; i++) out[pooled.argmax[i]!] += d[i]!;
  return tf.tensor4d(out, [n, h, w, c]);
};
