/**
 * Trainer benchmarks: training throughput on the backend in use, the memory of an NF4 base vs
 * FP32, the bytes a party uploads per round vs sending full weights (the original's way), and
 * the time of the bit-exact aggregation for 4 and 10 parties.
 */
import { aggregateDeltas, encodeDelta, makeDelta, type AggregationRule } from '../offchain/index.js';
import {
  type LoraSettings,
  initAdapters,
  initMlp,
  loadMnist,
  nf4ByteSize,
  quantizeMlp,
  selectImages,
  selectTrainerBackend,
  trainLocalDelta,
  trainMlp,
} from '../trainer/index.js';

type Row = { name: string; value: number; unit: string; backend?: string; note?: string };

export default async (): Promise<Row[]> => {
  const rows: Row[] = [];
  const backend = await selectTrainerBackend({ log: () => {} });
  const { train } = await loadMnist();
  const data = selectImages(
    train,
    Int32Array.from({ length: 4096 }, (_, i) => i),
  );
  const sizes = [784, 256, 10];
  const lora: LoraSettings = { rank: 32, alpha: 64, freezeA: true };
  const fp = initMlp(sizes, 1);
  const base = quantizeMlp(fp);
  const adapters = initAdapters(base, lora, 2);
  const steps = 60;
  const batchSize = 64;
  const settings = { steps, batchSize, learningRate: 3e-3, weightDecay: 0, seed: 3 };
  trainLocalDelta(base, adapters, lora, data, { ...settings, steps: 5 }); // warm-up
  const q = trainLocalDelta(base, adapters, lora, data, settings);
  rows.push({
    name: 'MNIST QLoRA training (784-256-10, r=32, FFA-LoRA, batch 64)',
    value: (q.report.samples / q.report.milliseconds) * 1000,
    unit: 'samples/s',
    backend,
  });
  const f = trainMlp(fp, data, settings);
  rows.push({
    name: 'MNIST full FP32 training (784-256-10, batch 64)',
    value: (f.report.samples / f.report.milliseconds) * 1000,
    unit: 'samples/s',
    backend,
  });

  for (const shape of [sizes, [784, 1024, 1024, 10]]) {
    const m = initMlp(shape, 5);
    const params = m.layers.reduce((s, l) => s + l.weight.length, 0);
    const nf4 = quantizeMlp(m).layers.reduce((s, l) => s + nf4ByteSize(l.weight), 0);
    rows.push({
      name: `base weights in memory, NF4 vs FP32 (${shape.join('-')})`,
      value: nf4,
      unit: 'bytes',
      note: `FP32 ${params * 4} bytes; ${((params * 4) / nf4).toFixed(2)}x smaller; ${((8 * nf4) / params).toFixed(3)} bits/param`,
    });
  }

  const deltaBytes = encodeDelta(q.delta).length;
  const fullBytes = encodeDelta(
    makeDelta(
      fp.layers.flatMap((l) => [
        { name: `${l.name}.weight`, shape: [l.outputs, l.inputs], values: l.weight },
        { name: `${l.name}.bias`, shape: [l.outputs], values: l.bias },
      ]),
    ),
  ).length;
  rows.push({
    name: 'bytes uploaded per round, MNIST FFA-LoRA delta (r=32)',
    value: deltaBytes,
    unit: 'bytes',
    note: `full FP32 weights ${fullBytes} bytes: ${(fullBytes / deltaBytes).toFixed(1)}x fewer`,
  });

  for (const parties of [4, 10]) {
    const round = Array.from({ length: parties }, (_, p) => ({
      partyId: `party-${p}`,
      sampleCount: 5500,
      delta: makeDelta(
        q.delta.tensors.map((t) => ({
          ...t,
          values: t.values.map((v, i) => v * (1 + ((p * 31 + i) % 7) / 50)),
        })),
      ),
    }));
    const rules: AggregationRule[] = [
      { kind: 'ffa-lora' },
      { kind: 'median' },
      { kind: 'trimmed-mean', trim: 1 },
      { kind: 'krum', byzantine: Math.floor((parties - 3) / 2) },
    ];
    for (const rule of rules) {
      const t0 = performance.now();
      const reps = 5;
      for (let i = 0; i < reps; i++) aggregateDeltas(rule, round);
      rows.push({
        name: `aggregation ${rule.kind}, ${parties} parties, MNIST delta (incl. SHA-256)`,
        value: (performance.now() - t0) / reps,
        unit: 'ms',
      });
    }
  }
  return rows;
};
