/**
 * Peak memory of a trainer with the NF4 base vs an FP32 base: fresh child processes run the same
 * training (same model, steps, adapters, data) and report their peak RSS
 * (`process.resourceUsage().maxRSS`):
 * - `nf4`: the base loaded from its NF4 file and decoded layer by layer inside the training, as
 *   the trainer does (never a whole FP32 copy);
 * - `fp32`: the same, with an FP32 copy of the whole base decoded once and held for the whole
 *   training (what a trainer whose base is FP32 holds at least);
 * - `runtime`: the same process loaded (Node, tsx, TensorFlow.js and its wasm backend, the
 *   project's modules) with the data in memory, and no base, no training: what the runtime
 *   itself takes.
 * For the convolutional MNIST model and the byte-level LM at the results' shape.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withDmlMallocTunables } from '../offchain/index.js';
import {
  type LoraSettings,
  type TransformerShape,
  MNIST_CNN,
  dequantizeNf4,
  dequantizeTransformer,
  initAdapters,
  initCnn,
  initTransformer,
  loadMnist,
  loadMobyDick,
  loadQuantizedBase,
  loadQuantizedTransformer,
  nf4ByteSize,
  quantizeMlp,
  quantizeTransformer,
  saveQuantizedBase,
  saveQuantizedTransformer,
  selectImages,
  selectTrainerBackend,
  trainLocalDelta,
  trainQloraTransformer,
} from '../trainer/index.js';
import type { BenchFigure } from './result.js';

type Model = 'cnn' | 'lm';
type Variant = 'runtime' | 'nf4' | 'fp32';

/** The LM of the results (design_docs/trainer.md: `scripts/lm-base.ts --d 64 --layers 2 --heads 4 --context 64`). */
const RESULTS_LM_SHAPE: TransformerShape = {
  dModel: 64,
  layers: 2,
  heads: 4,
  context: 64,
  mlpRatio: 4,
  activation: 'gelu',
};
const CNN_LORA: LoraSettings = { rank: 16, alpha: 32, freezeA: true };
const LM_LORA: LoraSettings = { rank: 16, alpha: 32, freezeA: true };
const CNN_STEPS = 8;
const LM_STEPS = 8;
const LM_BATCH = 16;

interface ChildFigures {
  readonly maxRssBytes: number;
  /** FP32 floats held by the fp32 variant's copy of the base. */
  readonly fp32Floats: number;
  readonly trainMs: number;
}

const RESULT_LINE = 'trainer-memory-child ';

/** The child's work: load, (decode,) train, report the peak RSS. */
const child = async (model: Model, variant: Variant, baseFile: string): Promise<ChildFigures> => {
  await selectTrainerBackend({ log: () => {} });
  let fp32Floats = 0;
  let trainMs = 0;
  if (model === 'cnn') {
    const { train } = await loadMnist();
    const data = selectImages(
      train,
      Int32Array.from({ length: 4096 }, (_, i) => i),
    );
    if (variant !== 'runtime') {
      const base = await loadQuantizedBase(baseFile);
      const held = variant === 'fp32' ? base.layers.map((l) => dequantizeNf4(l.weight)) : [];
      const adapters = initAdapters(base, CNN_LORA, 2);
      const r = trainLocalDelta(base, adapters, CNN_LORA, data, {
        steps: CNN_STEPS,
        batchSize: 64,
        learningRate: 3e-3,
        weightDecay: 0,
        seed: 3,
      });
      trainMs = r.report.milliseconds;
      fp32Floats = held.reduce((s, w) => s + w.length, 0);
    }
  } else {
    const text = await loadMobyDick();
    if (variant !== 'runtime') {
      const base = await loadQuantizedTransformer(baseFile);
      const held = variant === 'fp32' ? dequantizeTransformer(base) : undefined;
      const adapters = initAdapters(base, LM_LORA, 2);
      const r = trainQloraTransformer(base, adapters, LM_LORA, text, {
        steps: LM_STEPS,
        batchSize: LM_BATCH,
        learningRate: 1e-2,
        weightDecay: 0,
        seed: 3,
      });
      trainMs = r.report.milliseconds;
      if (held) fp32Floats = held.embedding.length + held.linears.reduce((s, l) => s + l.weight.length, 0);
    }
  }
  return { maxRssBytes: process.resourceUsage().maxRSS * 1024, fp32Floats, trainMs };
};

const CHILD_BOUND_MS = 180_000;

const runChild = (model: Model, variant: Variant, baseFile: string): Promise<ChildFigures> =>
  new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', model, variant, baseFile],
      {
        // the allocator settings `dml` runs with (bin/dml.js): they shape the RSS
        env: { ...process.env, GLIBC_TUNABLES: withDmlMallocTunables(process.env.GLIBC_TUNABLES) },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(
        new Error(
          `trainer-memory child ${model} ${variant} not done after ${CHILD_BOUND_MS / 1000} s: ${output}`,
        ),
      );
    }, CHILD_BOUND_MS);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      const line = output.split('\n').find((l) => l.startsWith(RESULT_LINE));
      if (code === 0 && line) resolve(JSON.parse(line.slice(RESULT_LINE.length)) as ChildFigures);
      else
        reject(new Error(`trainer-memory child ${model} ${variant} ended with ${signal ?? code}: ${output}`));
    });
  });

const MB = 1024 * 1024;

export default async (): Promise<BenchFigure[]> => {
  const dir = await mkdtemp(join(tmpdir(), 'dml-trainer-memory-'));
  const rows: BenchFigure[] = [];
  try {
    const cnn = quantizeMlp(initCnn(MNIST_CNN, [128, 10], 1));
    const lm = quantizeTransformer(initTransformer(RESULTS_LM_SHAPE, 1));
    const files: Record<Model, string> = {
      cnn: await saveQuantizedBase(dir, 'cnn', cnn),
      lm: await saveQuantizedTransformer(dir, 'lm', lm),
    };
    const baseBytes: Record<Model, { nf4: number; fp32: number }> = {
      cnn: {
        nf4: cnn.layers.reduce((s, l) => s + nf4ByteSize(l.weight), 0),
        fp32: cnn.layers.reduce((s, l) => s + 4 * l.weight.length, 0),
      },
      lm: {
        nf4: nf4ByteSize(lm.embedding) + lm.layers.reduce((s, l) => s + nf4ByteSize(l.weight), 0),
        fp32: 4 * lm.embedding.length + lm.layers.reduce((s, l) => s + 4 * l.weight.length, 0),
      },
    };
    const load = loadavg()[0]!.toFixed(1);
    const jobs = (['cnn', 'lm'] as const).flatMap((model) =>
      (['runtime', 'nf4', 'fp32'] as const).map((variant) => ({ model, variant })),
    );
    // the six processes at once: each one's peak RSS is its own
    const figures = await Promise.all(jobs.map((j) => runChild(j.model, j.variant, files[j.model])));
    const of = (model: Model, variant: Variant) =>
      figures[jobs.findIndex((j) => j.model === model && j.variant === variant)]!;
    for (const model of ['cnn', 'lm'] as const) {
      const runtime = of(model, 'runtime');
      const nf4 = of(model, 'nf4');
      const fp32 = of(model, 'fp32');
      const what =
        model === 'cnn'
          ? `CNN MNIST (3x3x16 pool, 3x3x32 pool, 1568-128-10), r ${CNN_LORA.rank} FFA-LoRA, ${CNN_STEPS} steps of batch 64`
          : `LM d ${RESULTS_LM_SHAPE.dModel}, ${RESULTS_LM_SHAPE.layers} layers, ${RESULTS_LM_SHAPE.heads} heads, context ${RESULTS_LM_SHAPE.context}, r ${LM_LORA.rank} FFA-LoRA, ${LM_STEPS} steps of ${LM_BATCH} windows`;
      const b = baseBytes[model];
      const where = `fresh process each, dml's allocator settings, ${availableParallelism()} cores, load average ${load}`;
      rows.push(
        {
          name: `trainer peak RSS, NF4 base (${what})`,
          value: nf4.maxRssBytes / MB,
          unit: 'MB',
          note: `base decoded layer by layer inside the steps; the base's NF4 bytes ${(b.nf4 / 1024).toFixed(0)} KB; ${where}`,
        },
        {
          name: `trainer peak RSS, FP32 base held (${what})`,
          value: fp32.maxRssBytes / MB,
          unit: 'MB',
          note: `the same training with the whole base decoded to FP32 once and held (${((4 * fp32.fp32Floats) / MB).toFixed(2)} MB); ${where}`,
        },
        {
          name: `trainer peak RSS, FP32 / NF4 (${what})`,
          value: fp32.maxRssBytes / nf4.maxRssBytes,
          unit: 'x',
          note: `the base alone: FP32 ${(b.fp32 / 1024).toFixed(0)} KB vs NF4 ${(b.nf4 / 1024).toFixed(0)} KB (${(b.fp32 / b.nf4).toFixed(2)}x); the runtime dominates the RSS, see the next row`,
        },
        {
          name: `process peak RSS with no base and no training (runtime + data; the ${model === 'cnn' ? 'CNN' : 'LM'} rows' baseline)`,
          value: runtime.maxRssBytes / MB,
          unit: 'MB',
          note: `Node + tsx + TensorFlow.js (wasm backend) + the project's modules, ${model === 'cnn' ? '4,096 MNIST images (and the IDX files read)' : "Moby Dick's 1.2 MB of text"}: ${((100 * runtime.maxRssBytes) / nf4.maxRssBytes).toFixed(0)}% of the NF4 trainer's peak`,
        },
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
};

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--child') {
  const [model, variant, file] = process.argv.slice(3) as [Model, Variant, string];
  process.stdout.write(`${RESULT_LINE}${JSON.stringify(await child(model, variant, file))}\n`);
}
