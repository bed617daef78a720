/**
 * Data augmentation of the public MNIST images for pretraining a base: every image shifted by
 * each offset (dy, dx) in [-maxShift, maxShift]^2, the pixels shifted out dropped and the ones
 * shifted in zero (MNIST's background). The copies come offset by offset, each offset a copy of
 * the whole set in its order, the unshifted one (0, 0) included, so (2 maxShift + 1)^2 x count
 * images in all.
 */
import type { LabelledImages } from '../trainer/index.js';

const SIDE = 28;
const PIXELS = SIDE * SIDE;

/** One image shifted by (dy, dx): out[y][x] = in[y - dy][x - dx], zero outside. */
export const shiftImage = (image: Uint8Array, dy: number, dx: number, out: Uint8Array): void => {
  out.fill(0);
  for (let y = Math.max(0, dy); y < Math.min(SIDE, SIDE + dy); y++) {
    const from = (y - dy) * SIDE;
    const to = y * SIDE;
    for (let x = Math.max(0, dx); x < Math.min(SIDE, SIDE + dx); x++) out[to + x] = image[from + x - dx]!;
  }
};

/** Every image of `set` at every shift in [-maxShift, maxShift]^2 (labels kept). */
export const shiftedCopies = (set: LabelledImages, maxShift: number): LabelledImages => {
  if (!Number.isInteger(maxShift) || maxShift < 0 || maxShift >= SIDE)
    throw new RangeError(`maxShift must be an integer in [0, ${SIDE - 1}], got ${maxShift}`);
  const side = 2 * maxShift + 1;
  const count = set.count * side * side;
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let k = 0;
  for (let dy = -maxShift; dy <= maxShift; dy++)
    for (let dx = -maxShift; dx <= maxShift; dx++)
      for (let i = 0; i < set.count; i++, k++) {
        shiftImage(
          set.images.subarray(i * PIXELS, (i + 1) * PIXELS),
          dy,
          dx,
          images.subarray(k * PIXELS, (k + 1) * PIXELS),
        );
        labels[k] = set.labels[i]!;
      }
  return { images, labels, count };
};
