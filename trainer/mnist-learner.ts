import type { Learner } from '../offchain/index.js';
import type { Delta } from '../offchain/index.js';
import { loadMnist, selectImages, type LabelledImages } from './mnist.js';
import {
  applyDelta,
  initAdapters,
  initMlp,
  quantizeMlp,
  type LoraSettings,
  type QuantizedMlp,
} from './mlp.js';
import { evaluateQlora, trainMlp, type LocalTrainingSettings } from './mlp-engine.js';
import { scoreDeltas, trainLocalDelta } from './local-round.js';
import { dirichletShards, iidShards } from './shards.js';

/**
 * The MNIST side of a cohort: a base pretrained here on public images and quantised to NF4, the
 * starting adapters, and each party's private shard, validation split and the shared test set.
 * The split is a seeded permutation of the 60,000 training images: the last `publicCount` are
 * public (the base's pretraining data), shards come from the rest.
 */
export interface MnistCohortSetup {
  readonly base: QuantizedMlp;
  readonly lora: LoraSettings;
  readonly startAdapters: Delta;
  readonly shards: readonly LabelledImages[];
  readonly validations: readonly LabelledImages[];
  readonly test: LabelledImages;
  /** Accuracy of the quantised base with the starting adapters on the test set. */
  readonly baseAccuracy: number;
}

export interface MnistCohortOptions {
  readonly parties: number;
  readonly shardSize?: number;
  readonly validationSize?: number;
  readonly testSize?: number;
  readonly hidden?: number;
  readonly rank?: number;
  readonly publicCount?: number;
  readonly pretrainSteps?: number;
  readonly seed?: number;
  /** How the private images are dealt: 'iid' (default) or 'dirichlet' (label skew, `alpha`). */
  readonly split?: 'iid' | 'dirichlet';
  readonly alpha?: number;
}

export const prepareMnistCohort = async (options: MnistCohortOptions): Promise<MnistCohortSetup> => {
  const seed = options.seed ?? 1;
  const shardSize = options.shardSize ?? 2000;
  const validationSize = options.validationSize ?? 300;
  const publicCount = options.publicCount ?? 2000;
  const { train, test: fullTest } = await loadMnist();
  const permutation = iidShards(60000, 1, 60000, seed)[0]!;
  const publicData = selectImages(train, permutation.subarray(60000 - publicCount));
  const base = quantizeMlp(
    trainMlp(initMlp([784, options.hidden ?? 128, 10], seed), publicData, {
      steps: options.pretrainSteps ?? 150,
      batchSize: 64,
      learningRate: 2e-3,
      weightDecay: 1e-4,
      seed,
    }).mlp,
  );
  const lora: LoraSettings = { rank: options.rank ?? 8, alpha: 2 * (options.rank ?? 8), freezeA: true };
  const startAdapters = initAdapters(base, lora, seed + 1);
  const perParty = shardSize + validationSize;
  const shards: LabelledImages[] = [];
  const validations: LabelledImages[] = [];
  const privateIdx = permutation.subarray(0, 60000 - publicCount);
  const dealt =
    options.split === 'dirichlet'
      ? dirichletShards(train.labels, privateIdx, options.parties, perParty, options.alpha ?? 0.5, seed + 7)
      : Array.from({ length: options.parties }, (_, p) =>
          privateIdx.subarray(p * perParty, (p + 1) * perParty),
        );
  for (let p = 0; p < options.parties; p++) {
    const own = dealt[p]!;
    shards.push(selectImages(train, own.subarray(0, shardSize)));
    validations.push(selectImages(train, own.subarray(shardSize)));
  }
  const test = selectImages(
    fullTest,
    Int32Array.from({ length: options.testSize ?? 2000 }, (_, i) => i),
  );
  return {
    base,
    lora,
    startAdapters,
    shards,
    validations,
    test,
    baseAccuracy: evaluateQlora(base, startAdapters, lora, test).accuracy,
  };
};

/** A party's learner on MNIST: trains on its shard, scores on its validation split. */
export const mnistLearner = (
  setup: MnistCohortSetup,
  party: number,
  settings: Omit<LocalTrainingSettings, 'seed'> & { readonly seed: number },
): Learner => {
  const shard = setup.shards[party]!;
  const validation = setup.validations[party]!;
  return {
    train: async (key, global) => {
      const { delta, adapters, report } = trainLocalDelta(setup.base, global, setup.lora, shard, {
        ...settings,
        seed: settings.seed + 1000 * key.epoch + key.round * 17 + party,
      });
      const local = evaluateQlora(setup.base, adapters, setup.lora, validation);
      return { delta, sampleCount: shard.count, metrics: { loss: report.loss, accuracy: local.accuracy } };
    },
    score: async (global, deltas) => scoreDeltas(setup.base, global, setup.lora, deltas, validation),
    advance: (global, update) => applyDelta(global, update),
  };
};

/** Test-set accuracy of adapters on the cohort's base. */
export const mnistTestAccuracy = (setup: MnistCohortSetup, adapters: Delta): number =>
  evaluateQlora(setup.base, adapters, setup.lora, setup.test).accuracy;
