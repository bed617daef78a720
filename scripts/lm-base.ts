/**
 * Pretrains the byte-level causal transformer (full precision, AdamW) on Moby Dick, quantises it
 * to NF4 and writes the base file, named by its hash, under --out (default .dml/bases):
 *
 *   npx tsx scripts/lm-base.ts [--size small|big] [--steps N] [--batch 32] [--lr 3e-3] [--seed 1] [--out .dml/bases]
 *
 * small: d 32, 1 layer, 2 heads, context 32 (builds in seconds: tests, demo); big: d 128,
 * 2 layers, 4 heads, context 128 (the benchmark's shape). Prints the held-out bits per byte of
 * the FP32 model and of the NF4 base on the last 5% of the book, the path and the hash.
 */
import { parseArgs } from 'node:util';
import {
  LM_SHAPE,
  SMALL_LM_SHAPE,
  describeTransformerShape,
  pretrainLmBase,
  saveQuantizedTransformer,
  selectTrainerBackend,
  transformerParameterCount,
} from '../trainer/index.js';

const { values: opt } = parseArgs({
  options: {
    size: { type: 'string', default: 'small' },
    steps: { type: 'string' },
    batch: { type: 'string', default: '32' },
    lr: { type: 'string', default: '3e-3' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: '.dml/bases' },
  },
});
if (opt.size !== 'small' && opt.size !== 'big') throw new Error('--size is small or big');
const shape = opt.size === 'big' ? LM_SHAPE : SMALL_LM_SHAPE;
const steps = Number(opt.steps ?? (opt.size === 'big' ? 1500 : 300));
const log = (line: string): void =>
  void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const backend = await selectTrainerBackend({ log });
const started = performance.now();
log(
  `pretraining ${describeTransformerShape(shape)} (${transformerParameterCount(shape)} parameters) on Moby Dick: ${steps} steps of ${opt.batch} windows`,
);
const { base, fp32BitsPerByte, nf4BitsPerByte } = await pretrainLmBase(
  shape,
  { steps, batchSize: Number(opt.batch), learningRate: Number(opt.lr), seed: Number(opt.seed) },
  log,
);
const path = await saveQuantizedTransformer(String(opt.out), `lm-${opt.size}`, base);
console.log(
  `base ${describeTransformerShape(shape)}: Moby Dick held-out ${fp32BitsPerByte.toFixed(3)} bits/byte FP32, ` +
    `${nf4BitsPerByte.toFixed(3)} NF4 (${steps} steps, backend ${backend}, ${((performance.now() - started) / 1000).toFixed(0)} s)\n` +
    `file ${path}\nhash ${base.hash}`,
);
