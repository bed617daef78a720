/**
 * The byte-level causal language model: a base pretrained here on Moby Dick, quantised to NF4,
 * then QLoRA-fine-tuned by parties each holding one era of State of the Union addresses (text
 * the base never saw). Prints held-out bits per byte on each party's text for the base, the
 * party's adapter trained alone, and the cohort's adapter (FFA-LoRA, FedAvg by bytes).
 *
 *   npx tsx scripts/lm-results.ts [--context 8] [--hidden 128] [--pretrain-steps 1500]
 *     [--rounds 5] [--local-steps 40] [--batch 64] [--rank 16] [--alpha 32] [--lr 3e-3]
 *     [--eras 1790-1850,1850-1910,1910-1960,1960-2030] [--eval-bytes 20000] [--seed 1]
 *
 * The model is a causal window model (Bengio et al. 2003 style): the one-hot bytes of the last
 * `context` positions feed a ReLU MLP that predicts the next byte; LoRA sits on every linear
 * layer (the first layer is the embedding and the projection at once).
 */
import { parseArgs } from 'node:util';
import { aggregateDeltas, encodeDelta, makeDelta, type Delta } from '../offchain/index.js';
import {
  type LoraSettings,
  applyDelta,
  bitsPerByte,
  evaluateMlp,
  evaluateQlora,
  initAdapters,
  initMlp,
  loadMobyDick,
  loadSotu,
  quantizeMlp,
  selectTrainerBackend,
  sotuEra,
  textExamples,
  trainLocalDelta,
  trainMlp,
} from '../trainer/index.js';

const { values: opt } = parseArgs({
  options: {
    context: { type: 'string', default: '8' },
    hidden: { type: 'string', default: '128' },
    'pretrain-steps': { type: 'string', default: '1500' },
    rounds: { type: 'string', default: '5' },
    'local-steps': { type: 'string', default: '40' },
    batch: { type: 'string', default: '64' },
    rank: { type: 'string', default: '16' },
    alpha: { type: 'string', default: '32' },
    lr: { type: 'string', default: '3e-3' },
    eras: { type: 'string', default: '1790-1850,1850-1910,1910-1960,1960-2030' },
    'eval-bytes': { type: 'string', default: '20000' },
    seed: { type: 'string', default: '1' },
  },
});
const num = (k: keyof typeof opt): number => Number(opt[k]);
const k = num('context');
const seed = num('seed');
const rounds = num('rounds');
const H = num('local-steps');
const evalBytes = num('eval-bytes');
const lora: LoraSettings = { rank: num('rank'), alpha: num('alpha'), freezeA: true };
const log = (line: string): void =>
  void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const settings = (s: number, steps = H) => ({
  steps,
  batchSize: num('batch'),
  learningRate: num('lr'),
  weightDecay: 0,
  seed: s,
});

const backend = await selectTrainerBackend({ log });
const started = performance.now();
const moby = await loadMobyDick();
const cut = Math.floor(moby.length * 0.95);
const mobyTrain = textExamples(moby.subarray(0, cut), k);
const mobyHeld = textExamples(moby.subarray(cut, cut + evalBytes + k), k);
log(`pretraining the base ${k * 256}-${opt.hidden}-256 on Moby Dick (${opt['pretrain-steps']} steps)`);
const fp = trainMlp(initMlp([k * 256, num('hidden'), 256], seed), mobyTrain, {
  ...settings(seed, num('pretrain-steps')),
  learningRate: 2e-3,
}).mlp;
const base = quantizeMlp(fp);
const start = initAdapters(base, lora, seed + 1);
log(
  `base: Moby Dick held-out ${bitsPerByte(evaluateMlp(fp, mobyHeld).loss).toFixed(3)} bits/byte FP32, ` +
    `${bitsPerByte(evaluateQlora(base, start, lora, mobyHeld).loss).toFixed(3)} NF4; hash ${base.hash.slice(0, 16)}`,
);

const speeches = await loadSotu();
const parties = String(opt.eras)
  .split(',')
  .map((era) => {
    const [from, to] = era.split('-').map(Number) as [number, number];
    const text = sotuEra(speeches, from, to);
    const split = Math.floor(text.length * 0.9);
    return {
      era,
      train: textExamples(text.subarray(0, split), k),
      held: textExamples(text.subarray(split, Math.min(text.length, split + evalBytes + k)), k),
      bytes: split,
    };
  });
const bpb = (adapters: Delta, held: (typeof parties)[number]['held']): number =>
  bitsPerByte(evaluateQlora(base, adapters, lora, held).loss);

const baseBpb = parties.map((p) => bpb(start, p.held));
const alone = parties.map((p, i) => {
  const { adapters } = trainLocalDelta(base, start, lora, p.train, settings(seed * 7 + i, rounds * H));
  const v = bpb(adapters, p.held);
  log(`era ${p.era} alone: ${v.toFixed(3)} bits/byte (base ${baseBpb[i]!.toFixed(3)})`);
  return v;
});
let global: Delta = start;
let deltaBytes = 0;
for (let r = 0; r < rounds; r++) {
  const contributions = parties.map((p, i) => {
    const { delta } = trainLocalDelta(base, global, lora, p.train, settings(seed * 1000 + r * 100 + i));
    deltaBytes = encodeDelta(delta).length;
    return { partyId: `era-${p.era}`, sampleCount: p.bytes, delta };
  });
  global = applyDelta(global, aggregateDeltas({ kind: 'ffa-lora' }, contributions).delta);
  log(`round ${r + 1}: ${parties.map((p) => bpb(global, p.held).toFixed(3)).join(' ')}`);
}
const together = parties.map((p) => bpb(global, p.held));
const fullBytes = encodeDelta(
  makeDelta(
    fp.layers.flatMap((l) => [
      { name: `${l.name}.weight`, shape: [l.outputs, l.inputs], values: l.weight },
      { name: `${l.name}.bias`, shape: [l.outputs], values: l.bias },
    ]),
  ),
).length;
console.log(
  `\n### Byte-level LM: held-out bits per byte (${rounds} rounds x ${H} local steps, rank ${lora.rank}, FFA-LoRA)\n\n` +
    `| party (SOTU era) | base | alone | cohort | cohort vs base | cohort vs alone |\n| --- | --- | --- | --- | --- | --- |\n` +
    parties
      .map(
        (p, i) =>
          `| ${p.era} | ${baseBpb[i]!.toFixed(3)} | ${alone[i]!.toFixed(3)} | ${together[i]!.toFixed(3)} | ` +
          `${(100 * (1 - together[i]! / baseBpb[i]!)).toFixed(1)}% lower | ${(100 * (1 - together[i]! / alone[i]!)).toFixed(1)}% lower |`,
      )
      .join('\n') +
    `\n\nbytes uploaded per party and round: ${deltaBytes} (full FP32 weights: ${fullBytes}, ${(fullBytes / deltaBytes).toFixed(1)}x fewer); backend ${backend}; ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
