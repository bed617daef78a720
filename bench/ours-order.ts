// The shared data order of the side-by-side benchmarks (bench/peers/common.py writes it): read,
// checked, and cut into the parts each experiment uses. Pure, so that both sides provably use
// the same images in the same order.

export interface DataOrder {
  /** A permutation of 0..trainSize-1. */
  readonly train: Int32Array;
  /** Images per party shard: party p holds train[p * partySize .. (p + 1) * partySize). */
  readonly partySize: number;
  /** The public part (for pretraining a base) is train[publicStart ..]. */
  readonly publicStart: number;
}

/** Parses and checks the order JSON: `train` must be a permutation of 0..trainSize-1. */
export const parseDataOrder = (json: string, trainSize = 60000): DataOrder => {
  const raw = JSON.parse(json) as { train?: unknown; partySize?: unknown; publicStart?: unknown };
  if (!Array.isArray(raw.train) || raw.train.length !== trainSize)
    throw new Error(`order file: train must hold ${trainSize} indices`);
  const train = Int32Array.from(raw.train as number[]);
  const seen = new Uint8Array(trainSize);
  for (const i of train) {
    if (!Number.isInteger(i) || i < 0 || i >= trainSize || seen[i] === 1)
      throw new Error(`order file: train is not a permutation of 0..${trainSize - 1}`);
    seen[i] = 1;
  }
  const partySize = Number(raw.partySize);
  const publicStart = Number(raw.publicStart);
  if (!Number.isInteger(partySize) || partySize < 1) throw new Error('order file: bad partySize');
  if (!Number.isInteger(publicStart) || publicStart < 0 || publicStart > trainSize)
    throw new Error('order file: bad publicStart');
  return { train, partySize, publicStart };
};

/** Training-set indices of party p's shard, in order. */
export const partyIndices = (order: DataOrder, party: number): Int32Array => {
  const start = party * order.partySize;
  const end = start + order.partySize;
  if (!Number.isInteger(party) || party < 0 || end > order.publicStart)
    throw new Error(`order file: no shard ${party} (shards must end before the public part)`);
  return order.train.subarray(start, end);
};

/** Training-set indices of the public part, in order. */
export const publicIndices = (order: DataOrder): Int32Array => order.train.subarray(order.publicStart);

/** Optimiser steps in `epochs` passes over `count` examples, the last batch of each pass short. */
export const epochSteps = (count: number, batchSize: number, epochs = 1): number =>
  epochs * Math.ceil(count / batchSize);
