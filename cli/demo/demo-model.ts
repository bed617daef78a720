import type { Delta, Learner } from '../../offchain/index.js';
import {
  lmHeldOut,
  lmLearner,
  mnistLearner,
  mnistTestAccuracy,
  prepareLmCohort,
  prepareMnistCohort,
  trainLmParty,
  trainLocalDelta,
} from '../../trainer/index.js';

/** What the demo's table measures: MNIST test accuracy, or held-out bits per byte for the LM. */
export interface DemoMetric {
  /** Column meaning, e.g. 'test accuracy' or 'held-out bits per byte'. */
  readonly label: string;
  readonly higherIsBetter: boolean;
  readonly format: (value: number) => string;
}

export const ACCURACY_METRIC: DemoMetric = {
  label: 'test accuracy (10-class MNIST)',
  higherIsBetter: true,
  format: (x) => `${(100 * x).toFixed(2)}%`,
};

export const BITS_PER_BYTE_METRIC: DemoMetric = {
  label: "held-out bits per byte on the party's own text (lower is better)",
  higherIsBetter: false,
  format: (x) => `${x.toFixed(3)} bpb`,
};

/**
 * A model as the demo's story uses it: the cohort's starting adapters, each party's learner, and
 * how a party's adapters are measured (the table's "alone" and "together" columns).
 */
export interface DemoModel {
  /** The model's name in the cohort's parameters on layer 1. */
  readonly id: string;
  readonly metric: DemoMetric;
  readonly loraRank: number;
  readonly startAdapters: Delta;
  /** The metric of the base before any party trains (for the LM: the mean over the parties' texts). */
  readonly baseMetric: number;
  learner(party: number): Learner;
  /** Party `party`'s measure of adapters (MNIST: the shared test set; LM: its own held-out text). */
  partyMetric(party: number, adapters: Delta): number;
  /** The cohort's measure after a round, for the progress lines. */
  cohortMetric(adapters: Delta, parties: readonly number[]): number;
  /** Trains party `party` alone from the start for `steps` steps; returns its partyMetric. */
  alone(party: number, steps: number, seed: number): number;
}

export interface DemoModelOptions {
  readonly parties: number;
  readonly localSteps: number;
  readonly shardSize: number;
  readonly seed: number;
  readonly progress: (line: string) => void;
  /** LM only: pretraining steps of the small base (default 150). */
  readonly pretrainSteps?: number;
}

export const mnistDemoModel = async (o: DemoModelOptions): Promise<DemoModel> => {
  o.progress('preparing MNIST: pretraining the base on public images, quantising it to NF4');
  const setup = await prepareMnistCohort({
    parties: o.parties,
    shardSize: o.shardSize,
    rank: 16,
    seed: o.seed,
  });
  // Small private shards and a learning rate that lets a few hundred images move the adapter:
  // alone, a party overfits its shard; together the cohort sees them all (measured: ~85% alone,
  // ~89% together on 500 images each, base 87%).
  const training = { steps: o.localSteps, batchSize: 64, learningRate: 1e-2, weightDecay: 0 };
  return {
    id: 'mnist-mlp-nf4',
    metric: ACCURACY_METRIC,
    loraRank: setup.lora.rank,
    startAdapters: setup.startAdapters,
    baseMetric: setup.baseAccuracy,
    learner: (party) => mnistLearner(setup, party, { ...training, seed: o.seed * 7919 }),
    partyMetric: (_party, adapters) => mnistTestAccuracy(setup, adapters),
    cohortMetric: (adapters) => mnistTestAccuracy(setup, adapters),
    alone: (party, steps, seed) =>
      mnistTestAccuracy(
        setup,
        trainLocalDelta(setup.base, setup.startAdapters, setup.lora, setup.shards[party]!, {
          ...training,
          steps,
          seed,
        }).adapters,
      ),
  };
};

/**
 * The byte-level transformer: a small base pretrained on Moby Dick here (seconds), one era of
 * State of the Union addresses per party; `shardSize` x 1,000 bytes of private text per party.
 */
export const lmDemoModel = async (o: DemoModelOptions): Promise<DemoModel> => {
  o.progress(
    'preparing the language model: pretraining a small transformer on Moby Dick, quantising it to NF4',
  );
  const setup = await prepareLmCohort({
    parties: o.parties,
    seed: o.seed,
    pretrainSteps: o.pretrainSteps ?? 150,
    trainBytes: o.shardSize * 1000,
    heldOutBytes: 3000,
    log: o.progress,
  });
  const training = { steps: o.localSteps, batchSize: 16, learningRate: 1e-2, weightDecay: 0 };
  const metric = (party: number, adapters: Delta) => lmHeldOut(setup, party, adapters).loss;
  return {
    id: 'byte-transformer-nf4',
    metric: BITS_PER_BYTE_METRIC,
    loraRank: setup.lora.rank,
    startAdapters: setup.startAdapters,
    baseMetric: setup.baseBitsPerByte.reduce((a, b) => a + b, 0) / setup.baseBitsPerByte.length,
    learner: (party) => lmLearner(setup, party, { ...training, seed: o.seed * 7919 }),
    partyMetric: metric,
    cohortMetric: (adapters, parties) =>
      parties.reduce((s, p) => s + metric(p, adapters), 0) / Math.max(1, parties.length),
    alone: (party, steps, seed) =>
      metric(party, trainLmParty(setup, party, setup.startAdapters, { ...training, steps, seed }).adapters),
  };
};
