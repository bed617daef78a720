/**
 * Builds an MNIST base: pretrains it in FP32 on the public part of the training images (the last
 * 5,000 of a seeded permutation; the parties' shards come from the other 55,000), quantises it
 * to NF4 and stores it as `<out>/mnist-<model>-<sha256>.dmlbase`. Prints the hash and the test
 * accuracy of the FP32 and the NF4 base.
 *
 *   npx tsx scripts/mnist-base.ts [--model cnn|mlp] [--hidden 128] [--steps 1500] [--lr 2e-3]
 *     [--seed 1] [--test-size 10000] [--out .dml/bases] [--shifts 0] [--help]
 *
 * --shifts s pretrains on every public image shifted by each (dy, dx) in [-s, s]^2
 * (scripts/mnist-augment.ts: (2s+1)^2 copies of the 5,000 public images, still public data only).
 */
import { parseArgs } from 'node:util';
import {
  type MnistBaseModel,
  evaluateMlp,
  evaluateQlora,
  initAdapters,
  loadMnist,
  mnistPublicSplit,
  pretrainMnistBase,
  saveQuantizedBase,
  selectImages,
  selectTrainerBackend,
} from '../trainer/index.js';
import { shiftedCopies } from './mnist-augment.js';

const { values: opt } = parseArgs({
  options: {
    model: { type: 'string', default: 'cnn' },
    hidden: { type: 'string', default: '128' },
    steps: { type: 'string', default: '1500' },
    lr: { type: 'string', default: '2e-3' },
    seed: { type: 'string', default: '1' },
    'test-size': { type: 'string', default: '10000' },
    out: { type: 'string', default: '.dml/bases' },
    shifts: { type: 'string', default: '0' },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  process.stdout.write(`Usage: npx tsx scripts/mnist-base.ts [options]

Pretrains an MNIST base in FP32 on the 5,000 public training images, quantises it to NF4 and
stores it as <out>/mnist-<model>-<sha256>.dmlbase; prints its hash and test accuracies (JSON).

  --model cnn|mlp      the network (cnn: MNIST_CNN then --hidden then 10)
  --hidden 128         hidden width of the dense layer
  --steps 1500         AdamW steps of 64 images; --lr 2e-3
  --shifts 0           also pretrain on every public image shifted by (dy, dx) in [-s, s]^2
  --seed 1             the split's and the initialisation's seed
  --test-size 10000    test images scored
  --out .dml/bases     where the base is written
`);
  process.exit(0);
}
const log = (line: string): void =>
  void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const backend = await selectTrainerBackend({ log });
const seed = Number(opt.seed);
const { train, test } = await loadMnist();
const testSet = selectImages(
  test,
  Int32Array.from({ length: Number(opt['test-size']) }, (_, i) => i),
);
const { publicIdx } = mnistPublicSplit(seed);
const model = opt.model as MnistBaseModel;
const shifts = Number(opt.shifts);
const publicData = shiftedCopies(selectImages(train, publicIdx), shifts);
log(
  `pretraining the ${model} base on ${publicIdx.length} public images (${publicData.count} with shifts up to ${shifts}), ${opt.steps} steps`,
);
const { fp32, base, report } = pretrainMnistBase(publicData, {
  model,
  hidden: Number(opt.hidden),
  steps: Number(opt.steps),
  seed,
  learningRate: Number(opt.lr),
  // a line every ~5% of the steps: the mean loss since the last line
  onStep: (() => {
    const every = Math.max(1, Math.round(Number(opt.steps) / 20));
    let sum = 0;
    return (step: number, loss: number) => {
      sum += loss;
      if (step % every === 0 || step === Number(opt.steps)) {
        log(`step ${step}/${opt.steps}: loss ${(sum / (step % every || every)).toFixed(4)}`);
        sum = 0;
      }
    };
  })(),
});
const lora = { rank: 1, alpha: 1, freezeA: true };
const fpAccuracy = evaluateMlp(fp32, testSet).accuracy;
const nf4Accuracy = evaluateQlora(base, initAdapters(base, lora, 0), lora, testSet).accuracy;
const path = await saveQuantizedBase(String(opt.out), `mnist-${model}`, base);
console.log(
  JSON.stringify(
    {
      path,
      hash: base.hash,
      model,
      layers: base.layers.map((l) => `${l.name} ${l.outputs}x${l.inputs}`),
      steps: Number(opt.steps),
      shifts,
      trainingSamplesPerSecond: Math.round((report.samples / report.milliseconds) * 1000),
      backend,
      testAccuracy: { fp32: fpAccuracy, nf4: nf4Accuracy, images: testSet.count },
    },
    null,
    2,
  ),
);
