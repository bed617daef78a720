import { DmlError } from '../offchain/index.js';
import type { Examples } from './examples.js';
import { type LabelledImages, MNIST_CLASSES, MNIST_PIXELS } from './mnist.js';
import { MNIST_CNN, type Mlp, type QuantizedMlp, initCnn, initMlp, quantizeMlp } from './mlp.js';
import { type TrainingReport, trainMlp } from './mlp-engine.js';
import { iidShards } from './shards.js';

/** The MNIST base networks: the original's MLP and a small convolutional network. */
export type MnistBaseModel = 'mlp' | 'cnn';

/**
 * The public/private split of the MNIST training images: a seeded permutation of [0, 60000);
 * its last `publicCount` indices are the public data a base is pretrained on, the rest are
 * where the parties' private shards come from (so a base never sees private data).
 */
export const mnistPublicSplit = (
  seed: number,
  publicCount = 5000,
): { publicIdx: Int32Array; privateIdx: Int32Array } => {
  const permutation = iidShards(60000, 1, 60000, seed)[0]!;
  return {
    publicIdx: permutation.subarray(60000 - publicCount),
    privateIdx: permutation.subarray(0, 60000 - publicCount),
  };
};

/** A fresh MNIST network: `mlp` = 784-hidden-10, `cnn` = MNIST_CNN then hidden-10. */
export const initMnistNetwork = (model: MnistBaseModel, hidden: number, seed: number): Mlp => {
  if (model === 'mlp') return initMlp([MNIST_PIXELS, hidden, MNIST_CLASSES], seed);
  if (model === 'cnn') return initCnn(MNIST_CNN, [hidden, MNIST_CLASSES], seed);
  throw new DmlError('MODEL_UNKNOWN', `unknown MNIST model ${String(model)}`, { hint: 'use mlp or cnn' });
};

/**
 * Pretrains an MNIST base in FP32 (AdamW, batch 64) on public data, then quantises it to NF4.
 * The base's hash names it (scripts/mnist-base.ts stores it under that name).
 */
export const pretrainMnistBase = (
  publicData: LabelledImages | Examples,
  options: {
    model: MnistBaseModel;
    hidden: number;
    steps: number;
    seed: number;
    learningRate?: number;
    /** Progress: called after every step (see LocalTrainingSettings.onStep). */
    onStep?: (step: number, loss: number) => void;
  },
): { fp32: Mlp; base: QuantizedMlp; report: TrainingReport } => {
  const { mlp, report } = trainMlp(
    initMnistNetwork(options.model, options.hidden, options.seed),
    publicData,
    {
      steps: options.steps,
      batchSize: 64,
      learningRate: options.learningRate ?? 2e-3,
      weightDecay: 1e-4,
      seed: options.seed,
      ...(options.onStep ? { onStep: options.onStep } : {}),
    },
  );
  return { fp32: mlp, base: quantizeMlp(mlp), report };
};
