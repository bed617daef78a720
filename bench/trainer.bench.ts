/**
 * Trainer benchmarks: training throughput on the backend in use, the memory of an NF4 base vs
 * FP32, the bytes a party uploads per round vs sending full weights (the original's way), and
 * (f32 and q8 deltas, bench/delta-upload-bytes.ts), and the time of the bit-exact aggregation for 4 and 10 parties.
 */
import { loadavg } from 'node:os';
import { aggregateDeltas, encodeDelta, makeDelta, type AggregationRule } from '../offchain/index.js';
import {
  type LoraSettings,
  type PartyJob,
  type TransformerShape,
  LM_SHAPE,
  MNIST_CNN,
  createPartyPool,
  denseKernelDescription,
  initCnn,
  trainPartiesInOrder,
  initAdapters,
  initMlp,
  initTransformer,
  loadMnist,
  loadMobyDick,
  nf4ByteSize,
  quantizeMlp,
  quantizeTransformer,
  selectImages,
  selectTrainerBackend,
  trainLocalDelta,
  trainMlp,
  trainQloraTransformer,
} from '../trainer/index.js';
import { deltaUploadRows } from './delta-upload-bytes.js';

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
    note: `dense engine on the dense kernel (default; ${denseKernelDescription()}), NF4 decoded inside the products, a row at a time`,
  });
  // the same with the base decoded once per run (opt-in) and with the tensor engine (before)
  for (const [variant, extra] of [
    ['TensorFlow.js products + JS loops (DML_DENSE_KERNEL=tfjs)', { denseKernel: 'tfjs' }],
    [
      'TensorFlow.js products, NF4 base decoded once per round (an FP32 copy held)',
      { denseKernel: 'tfjs', decodeBase: 'per-round' },
    ],
    ['tensor engine (every operation a TensorFlow.js op)', { engine: 'tensor' }],
  ] as const) {
    trainLocalDelta(base, adapters, lora, data, { ...settings, ...extra, steps: 5 });
    const v = trainLocalDelta(base, adapters, lora, data, { ...settings, ...extra });
    rows.push({
      name: `MNIST QLoRA training (784-256-10, r=32, FFA-LoRA, batch 64), ${variant}`,
      value: (v.report.samples / v.report.milliseconds) * 1000,
      unit: 'samples/s',
      backend,
    });
  }
  const cnnBase = quantizeMlp(initCnn(MNIST_CNN, [128, 10], 1));
  const cnnLora: LoraSettings = { rank: 16, alpha: 32, freezeA: true };
  const cnnAdapters = initAdapters(cnnBase, cnnLora, 2);
  for (const [variant, extra] of [
    [
      `dense kernel over patches (trainer/conv-wasm.ts, the default; ${denseKernelDescription()})`,
      { engine: 'dense' },
    ],
    ['tensor engine (TensorFlow.js products)', { engine: 'tensor' }],
  ] as const) {
    const steps = extra.engine === 'dense' ? 30 : 5;
    trainLocalDelta(cnnBase, cnnAdapters, cnnLora, data, { ...settings, ...extra, steps: 2 });
    const c = trainLocalDelta(cnnBase, cnnAdapters, cnnLora, data, { ...settings, ...extra, steps });
    rows.push({
      name: `MNIST QLoRA training (CNN 3x3x16 pool, 3x3x32 pool, 1568-128-10; r=16, FFA-LoRA, batch 64), ${variant}`,
      value: (c.report.samples / c.report.milliseconds) * 1000,
      unit: 'samples/s',
      backend,
    });
  }

  // the byte-level LM: a QLoRA step (FFA-LoRA, rank 16) at the results' shape and at LM_SHAPE
  const text = await loadMobyDick();
  const resultsShape: TransformerShape = { ...LM_SHAPE, dModel: 64, context: 64 };
  for (const [label, shape, steps] of [
    ["d 64, 2 layers, 4 heads, context 64 (the results' base)", resultsShape, 12],
    ['d 128, 2 layers, 4 heads, context 128 (LM_SHAPE)', LM_SHAPE, 6],
  ] as const) {
    const lmBase = quantizeTransformer(initTransformer(shape, 1));
    const lmLora: LoraSettings = { rank: 16, alpha: 32, freezeA: true };
    const lmSettings = { batchSize: 16, learningRate: 1e-2, weightDecay: 0, seed: 3 };
    const warm = trainQloraTransformer(lmBase, initAdapters(lmBase, lmLora, 2), lmLora, text, {
      ...lmSettings,
      steps: 1,
    });
    const cpu = process.cpuUsage();
    const lm = trainQloraTransformer(lmBase, warm.adapters, lmLora, text, { ...lmSettings, steps });
    const used = process.cpuUsage(cpu);
    const windows = steps * lmSettings.batchSize;
    rows.push({
      name: `LM QLoRA training (${label}; r=16, FFA-LoRA, batch 16 windows)`,
      value: (windows / lm.report.milliseconds) * 1000,
      unit: 'samples/s',
      backend,
      note: `a sample is one window of ${shape.context} bytes (${((windows * shape.context) / lm.report.milliseconds).toFixed(1)}k tokens/s); ${(windows / ((used.user + used.system) / 1e6)).toFixed(1)} samples per CPU-second; wasm engine (DML_LM_KERNEL=${process.env.DML_LM_KERNEL ?? 'default'}), ${steps} steps after 1 warm-up`,
    });
  }

  // four parties of a round: one after another here, then in a pool of two worker threads
  const jobs: PartyJob[] = [0, 1, 2, 3].map((p) => ({
    partyId: `party-${p}`,
    shard: selectImages(
      train,
      Int32Array.from({ length: 1024 }, (_, i) => p * 1024 + i),
    ),
    settings: { ...settings, steps: 20, seed: p },
  }));
  let t0 = performance.now();
  trainPartiesInOrder(base, adapters, lora, jobs);
  const serialMs = performance.now() - t0;
  t0 = performance.now();
  const pool = await createPartyPool(base, { workers: 2, log: () => {} });
  const startMs = performance.now() - t0;
  try {
    // a cohort's rounds after its first: the workers' first round (their engines built, their
    // code compiled) is timed apart, as this thread's was warm before the serial round
    t0 = performance.now();
    await pool.train(adapters, lora, jobs);
    const firstMs = performance.now() - t0;
    t0 = performance.now();
    await pool.train(adapters, lora, jobs);
    const parallelMs = performance.now() - t0;
    rows.push({
      name: 'round of 4 MNIST parties (MLP, 20 steps each) in 2 worker threads: speed-up over one after another',
      value: serialMs / parallelMs,
      unit: 'x',
      backend,
      note: `${serialMs.toFixed(0)} ms one after another, ${parallelMs.toFixed(0)} ms in 2 warm workers (their first round ${firstMs.toFixed(0)} ms; ${startMs.toFixed(0)} ms to start the pool, once); load average ${loadavg()[0]!.toFixed(1)}`,
    });
  } finally {
    await pool.close();
  }

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
  // the LM and the conv model at the results' shapes, f32 and q8 deltas, sealed as stored
  rows.push(...(await deltaUploadRows()));

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
