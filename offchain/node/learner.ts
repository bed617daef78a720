import type { Delta } from '../delta/index.js';
import type { RoundKey } from '../round/index.js';

/**
 * What a participant node needs from its trainer (the port the trainer/ folder implements; the
 * node never sees TensorFlow). Everything is deterministic in its inputs.
 */
export interface Learner {
  /** Trains the party's adapter from the global one on its private shard; returns the delta. */
  train(
    key: RoundKey,
    global: Delta,
  ): Promise<{ delta: Delta; sampleCount: number; metrics: { loss: number; accuracy: number } }>;
  /** Scores each delta (applied to the global adapter) on the party's own validation split. */
  score(
    global: Delta,
    deltas: ReadonlyArray<{ partyId: string; delta: Delta }>,
  ): Promise<Array<{ partyId: string; loss: number; accuracy: number }>>;
  /** The next global adapter: the global one plus the round's aggregate update. */
  advance(global: Delta, update: Delta): Delta;
}
