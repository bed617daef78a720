import type { Delta } from '../offchain/index.js';
import type { Examples } from './examples.js';
import type { LabelledImages } from './mnist.js';
import {
  applyDelta,
  diffAdapters,
  trainableAdapterNames,
  type LoraSettings,
  type QuantizedMlp,
} from './mlp.js';
import {
  evaluateQlora,
  trainQlora,
  type Evaluation,
  type LocalTrainingSettings,
  type TrainingReport,
} from './mlp-engine.js';

/**
 * One party's part of a round: start from the global adapters, train H local steps on the
 * private shard, and return the delta (trainable tensors only: B alone under FFA-LoRA).
 * Pure in its inputs (no global state): parties may run it in worker threads.
 */
export const trainLocalDelta = (
  base: QuantizedMlp,
  globalAdapters: Delta,
  lora: LoraSettings,
  shard: Examples | LabelledImages,
  settings: LocalTrainingSettings,
): { delta: Delta; adapters: Delta; report: TrainingReport } => {
  const { adapters, report } = trainQlora(base, globalAdapters, lora, shard, settings);
  return { delta: diffAdapters(adapters, globalAdapters, trainableAdapterNames(lora)), adapters, report };
};

/** A party's score of another party's delta: the global adapters plus that delta, on its own validation split. */
export interface DeltaScore {
  readonly partyId: string;
  readonly accuracy: number;
  readonly loss: number;
}

export const scoreDeltas = (
  base: QuantizedMlp,
  globalAdapters: Delta,
  lora: LoraSettings,
  deltas: ReadonlyArray<{ partyId: string; delta: Delta }>,
  validation: Examples | LabelledImages,
): DeltaScore[] =>
  deltas.map(({ partyId, delta }) => {
    const e: Evaluation = evaluateQlora(base, applyDelta(globalAdapters, delta), lora, validation);
    return { partyId, accuracy: e.accuracy, loss: e.loss };
  });
