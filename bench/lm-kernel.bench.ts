// The language model's kernels side by side in one process (design_docs/performance.md, "LM step
// on the native kernel"): gemm's GFLOP per CPU-second on the layer shapes and the CPU-seconds of
// one training step at lmStep's shape, the native kernel (trainer/native, AVX2 + FMA) against the
// wasm one (fused build where relaxed SIMD validates), alternating, several rounds, medians.
// Without the native kernel (not built, DML_LM_NATIVE=0, no AVX2) only the wasm figures.
import { cpus, loadavg } from 'node:os';
import {
  GEMM_FULL,
  type TransformerKernelChoice,
  gemmPanelFloats,
  initTransformer,
  nativeTransformerKernel,
  trainTransformer,
  transformerKernel,
  transformerKernelVariant,
} from '../trainer/index.js';

type Record = { name: string; value: number; unit: string; backend?: string; note?: string };

const cpuSeconds = (from: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1e6;
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** GFLOP per CPU-second of `repeats` products C[m, n] = L[m, k] R[k, n] with the named kernel. */
const gemmRate = (
  choice: TransformerKernelChoice,
  m: number,
  k: number,
  n: number,
  repeats: number,
): number => {
  const floats = m * k + k * n + m * n + gemmPanelFloats(k) + 64;
  const memory = new WebAssembly.Memory({ initial: Math.ceil((floats * 4) / 65536) + 1 });
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < floats; i++) f[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  const [l, r, c, panel] = [0, 4 * m * k, 4 * (m * k + k * n), 4 * (m * k + k * n + m * n)];
  const g = transformerKernel(memory, choice);
  g.gemm(l, m, k, r, n, c, 1, 0, panel, GEMM_FULL);
  const start = process.cpuUsage();
  for (let i = 0; i < repeats; i++) g.gemm(l, m, k, r, n, c, 1, 0, panel, GEMM_FULL);
  return (2 * m * k * n * repeats) / 1e9 / cpuSeconds(start);
};

/** CPU-seconds per all-weights training step at lmStep's shape (d 128, 2 layers, 4 heads, T 128, batch 16). */
const stepSeconds = (native: boolean, steps: number): number => {
  const saved = process.env.DML_LM_NATIVE;
  process.env.DML_LM_NATIVE = native ? '1' : '0';
  try {
    const shape = {
      dModel: 128,
      layers: 2,
      heads: 4,
      context: 128,
      mlpRatio: 4,
      activation: 'gelu' as const,
    };
    const model = initTransformer(shape, 1);
    const text = Uint8Array.from({ length: 200_000 }, (_, i) => 32 + ((i * 2654435761) % 90));
    const settings = {
      batchSize: 16,
      learningRate: 1e-3,
      weightDecay: 0.01,
      seed: 1,
      lmKernel: 'wasm' as const,
    };
    const warm = trainTransformer(model, text, { ...settings, steps: 1 });
    const start = process.cpuUsage();
    trainTransformer(warm.model, text, { ...settings, steps });
    return cpuSeconds(start) / steps;
  } finally {
    if (saved === undefined) delete process.env.DML_LM_NATIVE;
    else process.env.DML_LM_NATIVE = saved;
  }
};

export default async (): Promise<Record[]> => {
  const hasNative = process.env.DML_LM_NATIVE !== '0' && nativeTransformerKernel().addon !== undefined;
  const wasm = transformerKernelVariant();
  const kernels: TransformerKernelChoice[] = hasNative ? ['native', wasm] : [wasm];
  const rounds = 3;
  const note = `${rounds} alternating rounds, median; load average ${loadavg()[0]!.toFixed(1)} at start on ${cpus().length} cores`;
  const records: Record[] = [];
  const shapes: Array<[number, number, number]> = [
    [128, 128, 2048],
    [512, 128, 2048],
    [128, 512, 2048],
    [128, 2048, 512],
  ];
  for (const [m, k, n] of shapes) {
    const rates = new Map<TransformerKernelChoice, number[]>(kernels.map((x) => [x, []]));
    for (let round = 0; round < rounds; round++)
      for (const x of kernels)
        rates.get(x)!.push(gemmRate(x, m, k, n, Math.max(3, Math.round(4e9 / (2 * m * k * n)))));
    for (const x of kernels)
      records.push({
        name: `LM gemm ${m}x${k} by ${k}x${n}`,
        value: median(rates.get(x)!),
        unit: 'GFLOP/CPU-s',
        backend: x === 'native' ? 'native AVX2 + FMA' : `wasm SIMD ${x}`,
        note: `${note}; rounds ${rates
          .get(x)!
          .map((v) => v.toFixed(1))
          .join(', ')}`,
      });
  }
  const steps = new Map<boolean, number[]>([
    [true, []],
    [false, []],
  ]);
  for (let round = 0; round < rounds; round++)
    for (const native of hasNative ? [true, false] : [false]) steps.get(native)!.push(stepSeconds(native, 4));
  for (const native of hasNative ? [true, false] : [false])
    records.push({
      name: 'LM step CPU time (all weights, d 128, 2 layers, T 128, batch 16)',
      value: median(steps.get(native)!),
      unit: 'CPU-s/step',
      backend: native ? 'native AVX2 + FMA (whole step)' : `wasm SIMD ${wasm}`,
      note: `${note}; 1 warm-up + 4 timed steps per round: ${steps
        .get(native)!
        .map((v) => v.toFixed(3))
        .join(', ')}`,
    });
  return records;
};
