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

/** MNIST images as examples: pixels / 255. */
export const imageExamples = (data: LabelledImages): Examples => ({
  inputs: MNIST_PIXELS,
  classes: MNIST_CLASSES,
  count: data.count,
  fill(indices, x, labels) {
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i]!;
      for (let p = 0; p < MNIST_PIXELS; p++)
        x[i * MNIST_PIXELS + p] = data.images[k * MNIST_PIXELS + p]! / 255;
      labels[i] = data.labels[k]!;
    }
  },
});

export const asExamples = (data: Examples | LabelledImages): Examples =>
  isExamples(data) ? data : imageExamples(data);
