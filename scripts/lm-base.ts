/**
 * Pretrains the byte-level causal transformer (full precision, AdamW) on Moby Dick, quantises it
 * to NF4 and writes the base file, named by its hash, under --out (default .dml/bases):
 *
 *   npx tsx scripts/lm-base.ts [--size small|big] [--d D] [--layers L] [--heads H] [--context T]
 *     [--steps N] [--max-minutes M] [--batch 32] [--lr 3e-3] [--seed 1] [--out .dml/bases]
 *
 * small: d 32, 1 layer, 2 heads, context 32 (builds in seconds: tests, demo); big: d 128,
 * 2 layers, 4 heads, context 128 (the benchmark's shape); --d, --layers, --heads, --context
 * override the size's fields (the file is then named lm-d<D>-l<L>-h<H>-c<T>). Prints the held-out
 * bits per byte of the FP32 model and of the NF4 base on the last 5% of the book, the path, the
 * hash, and the wall and CPU time. --max-minutes stops after the first chunk of 100 steps that ends
 * past M minutes (a time budget on a loaded machine): the base is then exactly the one
 * `--steps <steps done>` builds, and the line printed says how many.
 */
import { parseArgs } from 'node:util';
import {
  describeTransformerShape,
  pretrainLmBase,
  saveQuantizedTransformer,
  selectTrainerBackend,
  transformerParameterCount,
} from '../trainer/index.js';
import { lmShapeFromOptions, runLmScript } from './lm-options.js';

const usage = `npx tsx scripts/lm-base.ts [--size small|big] [--d D] [--layers L] [--heads H] [--context T]
  [--steps N (small 300, else 1500)] [--max-minutes M] [--batch 32] [--lr 3e-3] [--seed 1] [--out .dml/bases]`;

await runLmScript('lm-base', async () => {
  const { values: opt } = parseArgs({
    options: {
      size: { type: 'string', default: 'small' },
      d: { type: 'string' },
      layers: { type: 'string' },
      heads: { type: 'string' },
      context: { type: 'string' },
      steps: { type: 'string' },
      'max-minutes': { type: 'string' },
      batch: { type: 'string', default: '32' },
      lr: { type: 'string', default: '3e-3' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string', default: '.dml/bases' },
      help: { type: 'boolean', default: false },
    },
  });
  if (opt.help) {
    console.log(usage);
    process.exit(0);
  }
  const { shape, name } = lmShapeFromOptions(opt);
  const steps = Number(opt.steps ?? (name === 'lm-small' ? 300 : 1500));
  const log = (line: string): void =>
    void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  const backend = await selectTrainerBackend({ log });
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  log(
    `pretraining ${describeTransformerShape(shape)} (${transformerParameterCount(shape)} parameters) on Moby Dick: ${steps} steps of ${opt.batch} windows`,
  );
  const budget = opt['max-minutes'] === undefined ? Infinity : Number(opt['max-minutes']) * 60_000;
  const {
    base,
    fp32BitsPerByte,
    nf4BitsPerByte,
    steps: done,
  } = await pretrainLmBase(
    shape,
    {
      steps,
      batchSize: Number(opt.batch),
      learningRate: Number(opt.lr),
      seed: Number(opt.seed),
      stopAfter: () => performance.now() - started > budget,
    },
    log,
  );
  const path = await saveQuantizedTransformer(String(opt.out), name, base);
  const cpu = process.cpuUsage(cpuStart);
  console.log(
    `base ${describeTransformerShape(shape)}: Moby Dick held-out ${fp32BitsPerByte.toFixed(3)} bits/byte FP32, ` +
      `${nf4BitsPerByte.toFixed(3)} NF4 (${done} steps, backend ${backend}, ${((performance.now() - started) / 1000).toFixed(0)} s wall, ` +
      `${((cpu.user + cpu.system) / 1e6).toFixed(0)} s CPU)\n` +
      `file ${path}\nhash ${base.hash}`,
  );
});
