import { type Delta, makeDelta } from '../../offchain/index.js';
import { MNIST_PIXELS, type LabelledImages } from '../mnist.js';
import { gaussian, seededRandom } from '../random.js';

/** `count` images of seeded random pixels and random labels (throughput and equivalence tests). */
export const randomMnistImages = (count: number, seed: number): LabelledImages => {
  const random = seededRandom(seed);
  return {
    images: Uint8Array.from({ length: count * MNIST_PIXELS }, () => Math.floor(random() * 256)),
    labels: Uint8Array.from({ length: count }, () => Math.floor(random() * 10)),
    count,
  };
};

/** The adapters with every LoRA B drawn from a seeded normal of standard deviation `scale`. */
export const withRandomB = (adapters: Delta, seed: number, scale = 0.1): Delta => {
  const random = seededRandom(seed);
  return makeDelta(
    adapters.tensors.map((t) =>
      t.name.endsWith('.lora_B') ? { ...t, values: t.values.map(() => gaussian(random) * scale) } : t,
    ),
  );
};
