// The MNIST engines on the dense kernel's two builds side by side in one process
// (design_docs/performance.md, "The MNIST CNN on the native dense kernel"): CPU-seconds per
// training step of the convolutional engine (trainer/conv-wasm.ts: QLoRA at the trainer
// benchmark's shape, and the FP32 pretraining of the base) and of the dense MLP engine
// (trainer/dense-wasm.ts), with the native products (DML_DENSE_NATIVE=1: AVX2 + FMA, and the
// conv planes) and the wasm ones (DML_DENSE_NATIVE=0), alternating, several rounds, medians.
// Without the native kernel (not built, DML_DENSE_NATIVE=0, no AVX2) only the wasm figures.
import { cpus, loadavg } from 'node:os';
import {
  type LabelledImages,
  type LoraSettings,
  MNIST_CNN,
  denseKernelDescription,
  initAdapters,
  initCnn,
  initMlp,
  loadMnist,
  quantizeMlp,
  selectImages,
  trainMlp,
  trainQlora,
} from '../trainer/index.js';

type Record = { name: string; value: number; unit: string; backend?: string; note?: string };
type Products = 'native' | 'wasm';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** CPU-seconds per step of `train(steps)` on the named products, after one untimed warm-up step. */
const stepSeconds = (products: Products, steps: number, train: (steps: number) => void): number => {
  const saved = process.env.DML_DENSE_NATIVE;
  process.env.DML_DENSE_NATIVE = products === 'native' ? '1' : '0';
  try {
    train(1);
    const start = process.cpuUsage();
    train(steps);
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1e6 / steps;
  } finally {
    if (saved === undefined) delete process.env.DML_DENSE_NATIVE;
    else process.env.DML_DENSE_NATIVE = saved;
  }
};

/** The figures' cases: a name, steps per round, the batch and one training run of `steps`. */
const cases = (data: LabelledImages): Array<[string, number, number, (steps: number) => void]> => {
  const settings = { learningRate: 1e-3, weightDecay: 0, seed: 3, order: 'given' as const };
  const cnnBase = quantizeMlp(initCnn(MNIST_CNN, [128, 10], 1));
  const cnnLora: LoraSettings = { rank: 16, alpha: 32, freezeA: true };
  const cnnAdapters = initAdapters(cnnBase, cnnLora, 2);
  const cnnFp = initCnn(MNIST_CNN, [128, 10], 1);
  const mlpBase = quantizeMlp(initMlp([784, 128, 10], 1));
  const mlpLora: LoraSettings = { rank: 8, alpha: 16, freezeA: true };
  const mlpAdapters = initAdapters(mlpBase, mlpLora, 2);
  return [
    [
      'MNIST CNN QLoRA step CPU time (3x3x16 pool, 3x3x32 pool, 1568-128-10; r 16, FFA-LoRA, batch 64)',
      8,
      64,
      (steps) => trainQlora(cnnBase, cnnAdapters, cnnLora, data, { ...settings, steps, batchSize: 64 }),
    ],
    [
      'MNIST CNN FP32 training step CPU time (the base pretraining: 3x3x16 pool, 3x3x32 pool, 1568-128-10, batch 64)',
      8,
      64,
      (steps) => trainMlp(cnnFp, data, { ...settings, steps, batchSize: 64 }),
    ],
    [
      'MNIST MLP QLoRA step CPU time (784-128-10, r 8, FFA-LoRA, batch 32)',
      200,
      32,
      (steps) => trainQlora(mlpBase, mlpAdapters, mlpLora, data, { ...settings, steps, batchSize: 32 }),
    ],
  ];
};

export default async (): Promise<Record[]> => {
  const saved = process.env.DML_DENSE_NATIVE;
  delete process.env.DML_DENSE_NATIVE;
  const native = denseKernelDescription().startsWith('native');
  if (saved !== undefined) process.env.DML_DENSE_NATIVE = saved;
  const kernels: Products[] = native && saved !== '0' ? ['native', 'wasm'] : ['wasm'];
  const { train } = await loadMnist();
  const data = selectImages(
    train,
    Int32Array.from({ length: 4096 }, (_, i) => i),
  );
  const rounds = 3;
  const note = `${rounds} alternating rounds, median; load average ${loadavg()[0]!.toFixed(1)} at start on ${cpus().length} cores`;
  const records: Record[] = [];
  for (const [name, steps, batch, train] of cases(data)) {
    const seconds = new Map<Products, number[]>(kernels.map((k) => [k, []]));
    for (let round = 0; round < rounds; round++)
      for (const k of kernels) seconds.get(k)!.push(stepSeconds(k, steps, train));
    for (const k of kernels) {
      const s = median(seconds.get(k)!);
      records.push({
        name,
        value: s * 1000,
        unit: 'CPU-ms/step',
        backend:
          k === 'native' ? 'native AVX2 + FMA (products, conv planes)' : 'wasm SIMD (DML_DENSE_NATIVE=0)',
        note: `${(batch / s).toFixed(0)} samples per CPU-second; ${note}; ${steps} steps after 1 warm-up per round: ${seconds
          .get(k)!
          .map((v) => (v * 1000).toFixed(2))
          .join(', ')} ms`,
      });
    }
  }
  return records;
};
