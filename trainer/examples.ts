import { MNIST_CLASSES, MNIST_PIXELS, type LabelledImages } from './mnist.js';

/**
 * A classification data set as the engine sees it: `count` examples of `inputs` features and
 * one of `classes` labels; `fill` writes the features and labels of the given examples.
 * MNIST images and byte-level text windows are both examples.
 */
export interface Examples {
  readonly inputs: number;
  readonly classes: number;
  readonly count: number;
  fill(indices: ArrayLike<number>, x: Float32Array, labels: Int32Array): void;
}

export const isExamples = (data: Examples | LabelledImages): data is Examples => 'fill' in data;

/** p / 255 in float32 for every byte p (a table look-up is cheaper than a division per pixel). */
export const PIXEL_VALUES = Float32Array.from({ length: 256 }, (_, p) => p / 255);

/** MNIST images as examples: pixels / 255. */
export const imageExamples = (data: LabelledImages): Examples => ({
  inputs: MNIST_PIXELS,
  classes: MNIST_CLASSES,
  count: data.count,
  fill(indices, x, labels) {
    const images = data.images;
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i]!;
      const from = k * MNIST_PIXELS;
      const to = i * MNIST_PIXELS;
      for (let p = 0; p < MNIST_PIXELS; p++) x[to + p] = PIXEL_VALUES[images[from + p]!]!;
      labels[i] = data.labels[k]!;
    }
  },
});

/** The raw pixels (bytes) and labels of the given images, as imageExamples' fill gives their values. */
export const fillImageBytes = (
  data: LabelledImages,
  indices: ArrayLike<number>,
  bytes: Uint8Array,
  labels: Int32Array,
): void => {
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i]!;
    bytes.set(data.images.subarray(k * MNIST_PIXELS, (k + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
    labels[i] = data.labels[k]!;
  }
};

export const asExamples = (data: Examples | LabelledImages): Examples =>
  isExamples(data) ? data : imageExamples(data);
