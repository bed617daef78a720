/**
 * The convolution's data movement in the wasm engine's layout (trainer/conv-wasm.ts): feature
 * maps as channel planes, `[channels, n, height, width]` row-major, i.e. `[channels, cols]` with
 * one column per (image, row, column) position. In that layout a convolution's patches
 * transposed, `P^T [k*k*c, cols]`, are k*k*c shifted copies of the input planes, and the layer is
 * one product `z^T = W P^T` with 4 to 32 positions per SIMD step (trainer/dense-kernel.wat).
 * Patch rows are ordered (row offset, column offset, channel), the order of `ConvStage` weights
 * and of `im2colValues` (trainer/conv-ops.ts), so both engines use the same weights.
 * Plain loops, one fixed order each (deterministic); every output element is written.
 */

/** Geometry of a stack of planes: `channels` planes of `n` images of `height x width`. */
export interface PlaneShape {
  readonly n: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/**
 * `x [c, n*h*w]` -> `p [k*k*c, n*h*w]`: `p[(dy*k + dx)*c + ch][b, y, x] = x[ch][b, y+dy-q, x+dx-q]`
 * ('same' zero padding, q = (k-1)/2; 0 outside the image).
 */
export const im2colPlanes = (x: Float32Array, s: PlaneShape, kernel: number, p: Float32Array): void => {
  const { n, height: h, width: w, channels: c } = s;
  const cols = n * h * w;
  const q = (kernel - 1) / 2;
  for (let dy = 0; dy < kernel; dy++)
    for (let dx = 0; dx < kernel; dx++) {
      const oy = dy - q;
      const ox = dx - q;
      const lo = Math.max(0, -ox);
      const hi = Math.min(w, w - ox);
      for (let ch = 0; ch < c; ch++) {
        const row = ((dy * kernel + dx) * c + ch) * cols;
        const plane = ch * cols;
        for (let b = 0; b < n; b++)
          for (let y = 0; y < h; y++) {
            const dst = row + (b * h + y) * w;
            const sy = y + oy;
            if (sy < 0 || sy >= h) {
              p.fill(0, dst, dst + w);
              continue;
            }
            const src = plane + (b * h + sy) * w + ox;
            for (let xx = 0; xx < lo; xx++) p[dst + xx] = 0;
            for (let xx = lo; xx < hi; xx++) p[dst + xx] = x[src + xx]!;
            for (let xx = hi; xx < w; xx++) p[dst + xx] = 0;
          }
      }
    }
};

/** The adjoint of `im2colPlanes`: `dp [k*k*c, cols]` summed back into `dx [c, cols]` (overwritten). */
export const col2imPlanes = (dp: Float32Array, s: PlaneShape, kernel: number, dx: Float32Array): void => {
  const { n, height: h, width: w, channels: c } = s;
  const cols = n * h * w;
  const q = (kernel - 1) / 2;
  dx.fill(0, 0, c * cols);
  for (let dy = 0; dy < kernel; dy++)
    for (let dxo = 0; dxo < kernel; dxo++) {
      const oy = dy - q;
      const ox = dxo - q;
      const lo = Math.max(0, -ox);
      const hi = Math.min(w, w - ox);
      for (let ch = 0; ch < c; ch++) {
        const row = ((dy * kernel + dxo) * c + ch) * cols;
        const plane = ch * cols;
        for (let b = 0; b < n; b++)
          for (let y = 0; y < h; y++) {
            const sy = y + oy;
            if (sy < 0 || sy >= h) continue;
            const src = row + (b * h + y) * w;
            const dst = plane + (b * h + sy) * w + ox;
            for (let xx = lo; xx < hi; xx++) dx[dst + xx] += dp[src + xx]!;
          }
      }
    }
};

/**
 * 2x2 max pooling, stride 2: `a [c, n, h, w]` -> `out [c, n, h/2, w/2]`, and `argmax[i]`, the
 * index in `a` of output i's maximum (the first of equal values in the order (0,0), (0,1), (1,0),
 * (1,1): the tensor engine's maxPool2 rule).
 */
export const maxPool2Planes = (
  a: Float32Array,
  s: PlaneShape,
  out: Float32Array,
  argmax: Int32Array,
): void => {
  const { n, height: h, width: w, channels: c } = s;
  const [oh, ow] = [h >> 1, w >> 1];
  let o = 0;
  for (let img = 0; img < c * n; img++)
    for (let y = 0; y < oh; y++) {
      let i0 = (img * h + 2 * y) * w;
      for (let xx = 0; xx < ow; xx++, o++, i0 += 2) {
        let best = i0;
        let v = a[i0]!;
        if (a[i0 + 1]! > v) v = a[(best = i0 + 1)]!;
        if (a[i0 + w]! > v) v = a[(best = i0 + w)]!;
        if (a[i0 + w + 1]! > v) v = a[(best = i0 + w + 1)]!;
        out[o] = v;
        argmax[o] = best;
      }
    }
};

/** The gradient of `maxPool2Planes`: `da` (`count` = c*n*h*w elements) zero but at each maximum, which gets its output's gradient. */
export const maxPool2PlanesGrad = (
  dOut: Float32Array,
  argmax: Int32Array,
  outputs: number,
  da: Float32Array,
  count: number,
): void => {
  da.fill(0, 0, count);
  for (let i = 0; i < outputs; i++) da[argmax[i]!] = dOut[i]!;
};

/**
 * Planes `[c, n, h, w]` -> the dense layers' input transposed, `[(y*w + x)*c + ch, n]` (the
 * flattened (h, w, c) features of each image, one column per image).
 */
export const flattenPlanes = (planes: Float32Array, s: PlaneShape, out: Float32Array): void => {
  const { n, height: h, width: w, channels: c } = s;
  for (let ch = 0; ch < c; ch++)
    for (let b = 0; b < n; b++)
      for (let y = 0; y < h; y++) {
        const src = ((ch * n + b) * h + y) * w;
        for (let xx = 0; xx < w; xx++) out[((y * w + xx) * c + ch) * n + b] = planes[src + xx]!;
      }
};

/** The inverse of `flattenPlanes` (how the gradient of the features goes back to the planes). */
export const unflattenPlanes = (flat: Float32Array, s: PlaneShape, planes: Float32Array): void => {
  const { n, height: h, width: w, channels: c } = s;
  for (let ch = 0; ch < c; ch++)
    for (let b = 0; b < n; b++)
      for (let y = 0; y < h; y++) {
        const dst = ((ch * n + b) * h + y) * w;
        for (let xx = 0; xx < w; xx++) planes[dst + xx] = flat[((y * w + xx) * c + ch) * n + b]!;
      }
};
