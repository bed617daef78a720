/**
 * The byte-level causal transformer across parties: a base pretrained here on Moby Dick and
 * quantised to NF4 (built by scripts/lm-base.ts, or pretrained here when --base is not given),
 * then QLoRA-fine-tuned by parties each holding one era of State of the Union addresses (text the
 * base never saw). Prints held-out bits per byte on each party's text for the base, the party's
 * adapter trained alone, and the cohort's adapter (FFA-LoRA: A frozen and shared, B averaged
 * weighted by training bytes), and both after every round.
 *
 *   npx tsx scripts/lm-results.ts [--base .dml/bases/lm-small-<hash>.dmlbase] [--pretrain-steps 300]
 *     [--parties 4] [--rounds 5] [--local-steps 40] [--batch 16] [--rank 8] [--lr 1e-2]
 *     [--train-bytes 0 (all of the era but its held-out end)] [--train-at start|end]
 *     [--typography as-is|ascii] [--eval-bytes 4000] [--seed 1]
 *
 * "Alone" runs exactly the cohort's schedule for one party: the same rounds of the same local
 * steps on the same windows (same seeds), AdamW reset every round, its own adapter carried from
 * round to round; the only difference is that nobody averages. So both read the same bytes of the
 * party's text with the same number of steps.
 */
import { parseArgs } from 'node:util';
import { aggregateDeltas, encodeDelta, type Delta } from '../offchain/index.js';
import {
  applyDelta,
  describeTransformerShape,
  lmHeldOut,
  loadQuantizedTransformer,
  prepareLmCohort,
  selectTrainerBackend,
  trainLmParty,
  transformerParameterCount,
} from '../trainer/index.js';

const { values: opt } = parseArgs({
  options: {
    base: { type: 'string' },
    'pretrain-steps': { type: 'string', default: '300' },
    parties: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '5' },
    'local-steps': { type: 'string', default: '40' },
    batch: { type: 'string', default: '16' },
    rank: { type: 'string', default: '8' },
    lr: { type: 'string', default: '1e-2' },
    'train-bytes': { type: 'string', default: '0' },
    'train-at': { type: 'string', default: 'start' },
    typography: { type: 'string', default: 'as-is' },
    'eval-bytes': { type: 'string', default: '4000' },
    seed: { type: 'string', default: '1' },
  },
});
const num = (k: keyof typeof opt): number => Number(opt[k]);
const seed = num('seed');
const rounds = num('rounds');
const H = num('local-steps');
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
const setup = await prepareLmCohort({
  parties: num('parties'),
  seed,
  ...(opt.base ? { base: await loadQuantizedTransformer(opt.base) } : {}),
  pretrainSteps: num('pretrain-steps'),
  rank: num('rank'),
  ...(num('train-bytes') > 0 ? { trainBytes: num('train-bytes') } : {}),
  trainAt: opt['train-at'] === 'end' ? 'end' : 'start',
  typography: opt.typography === 'ascii' ? 'ascii' : 'as-is',
  heldOutBytes: num('eval-bytes'),
  log,
});
const shape = setup.base.shape;
log(
  `base ${describeTransformerShape(shape)} ${setup.base.hash.slice(0, 16)}; eras ${setup.parties
    .map((p) => `${p.era} (${p.train.length} B)`)
    .join(', ')}`,
);
const P = setup.parties.length;
const bpb = (party: number, adapters: Delta): number => lmHeldOut(setup, party, adapters).loss;
const baseBpb = setup.baseBitsPerByte;
// the same local seeds for a party alone and in the cohort: the same windows in the same order
const localSeed = (r: number, i: number): number => seed * 1000 + r * 100 + i;
let own: Delta[] = setup.parties.map(() => setup.startAdapters);
let global: Delta = setup.startAdapters;
let deltaBytes = 0;
const trajectory: string[] = [];
for (let r = 0; r < rounds; r++) {
  own = own.map((adapters, i) => trainLmParty(setup, i, adapters, settings(localSeed(r, i))).adapters);
  const contributions = setup.parties.map((p, i) => {
    const { delta } = trainLmParty(setup, i, global, settings(localSeed(r, i)));
    deltaBytes = encodeDelta(delta).length;
    return { partyId: `era-${p.era}`, sampleCount: p.train.length, delta };
  });
  global = applyDelta(global, aggregateDeltas({ kind: 'ffa-lora' }, contributions).delta);
  const a = setup.parties.map((_, i) => bpb(i, own[i]!).toFixed(3));
  const c = setup.parties.map((_, i) => bpb(i, global).toFixed(3));
  trajectory.push(`| ${r + 1} | ${(r + 1) * H} | ${a.join(' / ')} | ${c.join(' / ')} |`);
  log(`round ${r + 1}: alone ${a.join(' ')}; cohort ${c.join(' ')}`);
}
const alone = setup.parties.map((_, i) => bpb(i, own[i]!));
const together = setup.parties.map((_, i) => bpb(i, global));
const fullBytes = 4 * transformerParameterCount(shape);
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(
  `\n### Byte-level transformer ${describeTransformerShape(shape)}: held-out bits per byte ` +
    `(${P} parties, ${rounds} rounds x ${H} local steps of ${num('batch')} windows, rank ${setup.lora.rank}, FFA-LoRA)\n\n` +
    `| party (SOTU era) | base | alone | cohort | cohort vs base | cohort vs alone |\n| --- | --- | --- | --- | --- | --- |\n` +
    setup.parties
      .map(
        (p, i) =>
          `| ${p.era} | ${baseBpb[i]!.toFixed(3)} | ${alone[i]!.toFixed(3)} | ${together[i]!.toFixed(3)} | ` +
          `${(100 * (1 - together[i]! / baseBpb[i]!)).toFixed(1)}% lower | ${(100 * (1 - together[i]! / alone[i]!)).toFixed(1)}% lower |`,
      )
      .join('\n') +
    `\n| mean | ${mean(baseBpb).toFixed(3)} | ${mean(alone).toFixed(3)} | ${mean(together).toFixed(3)} | ` +
    `${(100 * (1 - mean(together) / mean(baseBpb))).toFixed(1)}% lower | ${(100 * (1 - mean(together) / mean(alone))).toFixed(1)}% lower |` +
    `\n\nAfter each round (held-out bits per byte, parties in the order above):\n\n` +
    `| round | steps per party | alone | cohort |\n| --- | --- | --- | --- |\n${trajectory.join('\n')}` +
    `\n\nsettings: ${JSON.stringify(opt)}; private text per party: ${setup.parties.map((p) => p.train.length).join(', ')} bytes, held out: ${setup.parties.map((p) => p.heldOut.length).join(', ')} bytes` +
    `\n\nbytes uploaded per party and round: ${deltaBytes} (full FP32 weights: ${fullBytes}, ` +
    `${(fullBytes / deltaBytes).toFixed(1)}x fewer); backend ${backend}; ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
