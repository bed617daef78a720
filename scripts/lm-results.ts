/**
 * The byte-level causal transformer across parties: a base pretrained here on Moby Dick and
 * quantised to NF4 (built by scripts/lm-base.ts, or pretrained here when --base is not given),
 * then QLoRA-fine-tuned by parties each holding one era of State of the Union addresses (text the
 * base never saw). Prints held-out bits per byte on each party's text for the base, the party's
 * adapter trained alone, and the cohort's adapter (FFA-LoRA: A frozen and shared, B averaged
 * weighted by training bytes, or equally; optionally DiLoCo's outer Nesterov step), and both after
 * every round.
 *
 *   npx tsx scripts/lm-results.ts [--base .dml/bases/lm-small-<hash>.dmlbase] [--pretrain-steps 300]
 *     [--parties 4] [--rounds 5] [--local-steps 40] [--batch 16] [--rank 8] [--alpha 2 x rank] [--lr 1e-2]
 *     [--train-bytes 0 (all of the era but its held-out end)] [--split era-end|speeches]
 *     [--train-at start|end (era-end split)] [--split-seed 1 (speeches split)]
 *     [--typography as-is|ascii] [--eval-bytes 4000] [--validation-bytes 0]
 *     [--weighting bytes|equal] [--outer-lr 1] [--outer-momentum 0] [--seed 1] [--delta-encoding f32|q8]
 *     [--eval-kernel wasm|tfjs]
 *
 * Evaluations (bits per byte) run on the training engine (wasm by default); `--eval-kernel tfjs`
 * evaluates on TensorFlow.js (the figures printed before 2026-11-27, bit for bit; the wasm figures
 * are the same within ~1e-6 bits/byte). An option mistake is one line on stderr and exit code 2.
 *
 * `--delta-encoding q8` sends each party's delta as the cohort would with that encoding: 8-bit
 * (q8) and decoded again before aggregation (alone is unchanged: nothing is sent).
 *
 * `--split era-end` (default): each party's held-out text is its era's last --eval-bytes, its
 * validation text the bytes before, its private text at the era's start or (--train-at end) just
 * before its validation text. `--split speeches`: each speech of the era is held out, validation or
 * private by a seeded rule (1/5, 1/5, 3/5 of the speeches) and each text is 512-byte pieces spread
 * across its speeches (trainer/sotu-split.ts); the speeches of each role are printed.
 *
 * With `--validation-bytes N` every table is printed twice: on the validation text (the N bytes just
 * before each party's held-out text, between it and the private text, never trained on), where the
 * settings are chosen, and on the held-out text, which is what is reported; then the held-out table
 * of the round chosen on validation (`roundChosenOnValidation`: the lowest mean cohort validation
 * figure as printed, ties to the later round), the result of a run.
 *
 * "Alone" runs exactly the cohort's schedule for one party: the same rounds of the same local
 * steps on the same windows (same seeds), AdamW reset every round, its own adapter carried from
 * round to round; the only difference is that nobody averages. So both read the same bytes of the
 * party's text with the same number of steps.
 */
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { type Delta, encodeDelta, parseDeltaValueEncoding, withDeltaEncoding } from '../offchain/index.js';
import {
  describeTransformerShape,
  lmHeldOut,
  type LmEvaluationText,
  loadQuantizedTransformer,
  prepareLmCohort,
  selectTrainerBackend,
  trainLmParty,
  transformerParameterCount,
} from '../trainer/index.js';
import {
  lmCohortRound,
  lmCohortRuleFromOptions,
  lmEvaluationKernelFromOptions,
  lmSplitFromOptions,
  numberOption,
  runLmScript,
} from './lm-options.js';
import { roundChosenOnValidation } from './lm-round-choice.js';

const usage = `npx tsx scripts/lm-results.ts [--base FILE] [--pretrain-steps 300] [--parties 4] [--rounds 5]
  [--local-steps 40] [--batch 16] [--rank 8] [--alpha 2 x rank] [--lr 1e-2] [--train-bytes 0 (all)]
  [--split era-end|speeches] [--train-at start|end (era-end)] [--split-seed 1 (speeches)]
  [--typography as-is|ascii] [--eval-bytes 4000] [--validation-bytes 0] [--weighting bytes|equal] [--outer-lr 1] [--outer-momentum 0] [--seed 1]
  [--delta-encoding f32|q8] [--eval-kernel wasm|tfjs (default: the training engine's)]`;

await runLmScript('lm-results', async () => {
  const { values: opt } = parseArgs({
    options: {
      base: { type: 'string' },
      'pretrain-steps': { type: 'string', default: '300' },
      parties: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '5' },
      'local-steps': { type: 'string', default: '40' },
      batch: { type: 'string', default: '16' },
      rank: { type: 'string', default: '8' },
      alpha: { type: 'string' },
      lr: { type: 'string', default: '1e-2' },
      'train-bytes': { type: 'string', default: '0' },
      'train-at': { type: 'string' },
      split: { type: 'string' },
      'split-seed': { type: 'string' },
      typography: { type: 'string', default: 'as-is' },
      'eval-bytes': { type: 'string', default: '4000' },
      'validation-bytes': { type: 'string', default: '0' },
      weighting: { type: 'string', default: 'bytes' },
      'outer-lr': { type: 'string', default: '1' },
      'outer-momentum': { type: 'string', default: '0' },
      seed: { type: 'string', default: '1' },
      'delta-encoding': { type: 'string', default: 'f32' },
      'eval-kernel': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (opt.help) {
    console.log(usage);
    process.exit(0);
  }
  const rule = lmCohortRuleFromOptions(opt);
  const encoding = parseDeltaValueEncoding(String(opt['delta-encoding']));
  const cut = lmSplitFromOptions(opt);
  const evaluationKernel = lmEvaluationKernelFromOptions(opt);
  const num = (k: Exclude<keyof typeof opt, 'help'>): number => numberOption(k, opt[k]);
  for (const k of [
    'pretrain-steps',
    'parties',
    'rounds',
    'local-steps',
    'batch',
    'rank',
    'lr',
    'train-bytes',
    'eval-bytes',
    'validation-bytes',
    'seed',
  ] as const)
    num(k);
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
  const cpuStart = process.cpuUsage();
  const loadStart = loadavg()[0]!;
  const setup = await prepareLmCohort({
    parties: num('parties'),
    seed,
    ...(opt.base ? { base: await loadQuantizedTransformer(opt.base) } : {}),
    pretrainSteps: num('pretrain-steps'),
    rank: num('rank'),
    ...(opt.alpha ? { alpha: num('alpha') } : {}),
    validationBytes: num('validation-bytes'),
    ...(num('train-bytes') > 0 ? { trainBytes: num('train-bytes') } : {}),
    ...(cut.split === 'era-end' ? { trainAt: cut.trainAt } : { split: cut.split, splitSeed: cut.splitSeed }),
    typography: opt.typography === 'ascii' ? 'ascii' : 'as-is',
    heldOutBytes: num('eval-bytes'),
    ...(evaluationKernel ? { evaluationKernel } : {}),
    log,
  });
  const shape = setup.base.shape;
  log(
    `base ${describeTransformerShape(shape)} ${setup.base.hash}; eras ${setup.parties
      .map((p) => `${p.era} (${p.train.length} B)`)
      .join(', ')}`,
  );
  for (const p of setup.parties)
    if (p.speeches)
      log(
        `era ${p.era}: held out ${p.speeches['held-out'].join(', ')}; validation ${p.speeches.validation.join(', ')}; ${p.speeches.private.length} private speeches`,
      );
  const P = setup.parties.length;
  // with a validation text, both are evaluated: settings are chosen on validation, held-out is reported
  const texts: LmEvaluationText[] = num('validation-bytes') > 0 ? ['validation', 'held-out'] : ['held-out'];
  const bpb = (on: LmEvaluationText, party: number, adapters: Delta): number =>
    lmHeldOut(setup, party, adapters, on).loss;
  const baseBpb = new Map(
    texts.map((on) => [on, setup.parties.map((_, i) => bpb(on, i, setup.startAdapters))]),
  );
  // the same local seeds for a party alone and in the cohort: the same windows in the same order
  const localSeed = (r: number, i: number): number => seed * 1000 + r * 100 + i;
  let own: Delta[] = setup.parties.map(() => setup.startAdapters);
  let global: Delta = setup.startAdapters;
  let velocity: Delta | null = null;
  let deltaBytes = 0;
  const trajectory = new Map<LmEvaluationText, string[]>(texts.map((on) => [on, []]));
  // every round's figures, to report the round chosen on validation
  const figures = new Map<LmEvaluationText, Array<{ alone: number[]; cohort: number[] }>>(
    texts.map((on) => [on, []]),
  );
  for (let r = 0; r < rounds; r++) {
    own = own.map((adapters, i) => trainLmParty(setup, i, adapters, settings(localSeed(r, i))).adapters);
    const contributions = setup.parties.map((p, i) => {
      const delta = withDeltaEncoding(
        trainLmParty(setup, i, global, settings(localSeed(r, i))).delta,
        encoding,
      );
      deltaBytes = encodeDelta(delta).length;
      return { partyId: `era-${p.era}`, trainBytes: p.train.length, delta };
    });
    ({ global, velocity } = lmCohortRound(rule, global, velocity, contributions));
    for (const on of texts) {
      const alone = setup.parties.map((_, i) => bpb(on, i, own[i]!));
      const cohort = setup.parties.map((_, i) => bpb(on, i, global));
      figures.get(on)!.push({ alone, cohort });
      const a = alone.map((x) => x.toFixed(3));
      const c = cohort.map((x) => x.toFixed(3));
      trajectory.get(on)!.push(`| ${r + 1} | ${(r + 1) * H} | ${a.join(' / ')} | ${c.join(' / ')} |`);
      log(`round ${r + 1} (${on}): alone ${a.join(' ')}; cohort ${c.join(' ')}`);
    }
  }
  const fullBytes = 4 * transformerParameterCount(shape);
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const cpu = process.cpuUsage(cpuStart);
  const outer =
    rule.outerLearningRate === 1 && rule.outerMomentum === 0
      ? ''
      : `, DiLoCo outer lr ${rule.outerLearningRate} momentum ${rule.outerMomentum}`;
  const table = (on: LmEvaluationText): string => {
    const base = baseBpb.get(on)!;
    const alone = setup.parties.map((_, i) => bpb(on, i, own[i]!));
    const together = setup.parties.map((_, i) => bpb(on, i, global));
    return (
      `\n### Byte-level transformer ${describeTransformerShape(shape)}: ${on} bits per byte ` +
      `(${P} parties, ${rounds} rounds x ${H} local steps of ${num('batch')} windows, rank ${setup.lora.rank}, ` +
      `alpha ${setup.lora.alpha}, lr ${num('lr')}, ${encoding} deltas, FFA-LoRA weighted by ${rule.weighting === 'bytes' ? 'private bytes' : 'party'}${outer})\n\n` +
      `| party (SOTU era) | base | alone | cohort | cohort vs base | cohort vs alone |\n| --- | --- | --- | --- | --- | --- |\n` +
      setup.parties
        .map(
          (p, i) =>
            `| ${p.era} | ${base[i]!.toFixed(3)} | ${alone[i]!.toFixed(3)} | ${together[i]!.toFixed(3)} | ` +
            `${(100 * (1 - together[i]! / base[i]!)).toFixed(1)}% lower | ${(100 * (1 - together[i]! / alone[i]!)).toFixed(1)}% lower |`,
        )
        .join('\n') +
      `\n| mean | ${mean(base).toFixed(3)} | ${mean(alone).toFixed(3)} | ${mean(together).toFixed(3)} | ` +
      `${(100 * (1 - mean(together) / mean(base))).toFixed(1)}% lower | ${(100 * (1 - mean(together) / mean(alone))).toFixed(1)}% lower |` +
      `\n\nAfter each round (${on} bits per byte, parties in the order above):\n\n` +
      `| round | steps per party | alone | cohort |\n| --- | --- | --- | --- |\n${trajectory.get(on)!.join('\n')}\n`
    );
  };
  // The result: the held-out figures of the round chosen on validation (when there is a validation text)
  const chosen = (): string => {
    if (!texts.includes('validation')) return '';
    const { round, meanBitsPerByte } = roundChosenOnValidation(
      figures.get('validation')!.map((f) => f.cohort.map((x) => Number(x.toFixed(3)))),
    );
    const base = baseBpb.get('held-out')!;
    const { alone, cohort } = figures.get('held-out')![round - 1]!;
    const pct = (x: number, of: number) => `${(100 * (1 - x / of)).toFixed(1)}%`;
    return (
      `\n### Held-out bits per byte at round ${round}, the round chosen on validation ` +
      `(the lowest mean cohort validation figure as printed, ${meanBitsPerByte.toFixed(4)}; ties: the later round)\n\n` +
      `| party (SOTU era) | base | alone (round ${round}) | cohort (round ${round}) | cohort vs base | cohort vs alone |\n| --- | --- | --- | --- | --- | --- |\n` +
      setup.parties
        .map(
          (p, i) =>
            `| ${p.era} | ${base[i]!.toFixed(3)} | ${alone[i]!.toFixed(3)} | ${cohort[i]!.toFixed(3)} | ` +
            `${pct(cohort[i]!, base[i]!)} lower | ${pct(cohort[i]!, alone[i]!)} lower |`,
        )
        .join('\n') +
      `\n| mean | ${mean(base).toFixed(3)} | ${mean(alone).toFixed(3)} | ${mean(cohort).toFixed(3)} | ` +
      `${pct(mean(cohort), mean(base))} lower | ${pct(mean(cohort), mean(alone))} lower |\n`
    );
  };
  console.log(
    texts.map(table).join('') +
      chosen() +
      `\n\nsettings: ${JSON.stringify(opt)}; private text per party: ${setup.parties.map((p) => p.train.length).join(', ')} bytes, validation: ${setup.parties.map((p) => p.validation.length).join(', ')} bytes, held out: ${setup.parties.map((p) => p.heldOut.length).join(', ')} bytes` +
      `\n\nbase ${setup.base.hash}` +
      `\n\nbytes uploaded per party and round: ${deltaBytes} (full FP32 weights: ${fullBytes}, ` +
      `${(fullBytes / deltaBytes).toFixed(1)}x fewer); backend ${backend}; ${((performance.now() - started) / 1000).toFixed(0)} s wall, ` +
      `${((cpu.user + cpu.system) / 1e6).toFixed(0)} s CPU, load average ${loadStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end`,
  );
});
