/**
 * The held-out and validation bits per byte of a cohort's texts evaluated on both transformer
 * engines, TensorFlow.js and wasm, with the CPU time each took: the base (starting adapters) and
 * one party's adapter after some local steps, on every party's texts. Shows that the wasm
 * evaluation gives the same figures within float tolerance, and how much less CPU it takes.
 *
 *   npx tsx scripts/lm-eval-compare.ts --base .dml/bases/lm-<...>.dmlbase [--split speeches]
 *     [--parties 4] [--rank 16] [--train-bytes 32000] [--validation-bytes 8000] [--eval-bytes 8000]
 *     [--local-steps 25] [--repeat 3]
 */
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import type { Delta } from '../offchain/index.js';
import {
  type LmEvaluationText,
  type LmKernelChoice,
  bitsPerByte,
  evaluateQloraTransformer,
  loadQuantizedTransformer,
  prepareLmCohort,
  selectTrainerBackend,
  trainLmParty,
} from '../trainer/index.js';
import { lmSplitFromOptions, runLmScript } from './lm-options.js';

await runLmScript('lm-eval-compare', async () => {
  const { values: opt } = parseArgs({
    options: {
      base: { type: 'string' },
      split: { type: 'string', default: 'speeches' },
      'split-seed': { type: 'string' },
      parties: { type: 'string', default: '4' },
      rank: { type: 'string', default: '16' },
      'train-bytes': { type: 'string', default: '32000' },
      'validation-bytes': { type: 'string', default: '8000' },
      'eval-bytes': { type: 'string', default: '8000' },
      'local-steps': { type: 'string', default: '25' },
      repeat: { type: 'string', default: '3' },
      help: { type: 'boolean', default: false },
    },
  });
  if (opt.help || !opt.base) {
    console.log(
      'npx tsx scripts/lm-eval-compare.ts --base FILE [--split speeches] [--parties 4] [--rank 16] [--train-bytes 32000]\n' +
        '  [--validation-bytes 8000] [--eval-bytes 8000] [--local-steps 25] [--repeat 3]',
    );
    process.exit(opt.help ? 0 : 2);
  }
  const cut = lmSplitFromOptions(opt);
  await selectTrainerBackend({ log: () => undefined });
  const setup = await prepareLmCohort({
    parties: Number(opt.parties),
    base: await loadQuantizedTransformer(opt.base),
    rank: Number(opt.rank),
    trainBytes: Number(opt['train-bytes']),
    validationBytes: Number(opt['validation-bytes']),
    heldOutBytes: Number(opt['eval-bytes']),
    ...(cut.split === 'era-end' ? { trainAt: cut.trainAt } : { split: cut.split, splitSeed: cut.splitSeed }),
  });
  const trained = trainLmParty(setup, 0, setup.startAdapters, {
    steps: Number(opt['local-steps']),
    batchSize: 16,
    learningRate: 1e-2,
    weightDecay: 0,
    seed: 1,
  }).adapters;
  const models: Array<[string, Delta]> = [
    ['base', setup.startAdapters],
    [`party 0 after ${opt['local-steps']} steps`, trained],
  ];
  const texts: LmEvaluationText[] = ['validation', 'held-out'];
  const figures = (kernel: LmKernelChoice): { values: number[]; cpu: number } => {
    const before = process.cpuUsage();
    const values: number[] = [];
    for (let k = 0; k < Number(opt.repeat); k++)
      for (const [, adapters] of models)
        for (const on of texts)
          for (const p of setup.parties) {
            const text = on === 'validation' ? p.validation : p.heldOut;
            const e = evaluateQloraTransformer(setup.base, adapters, setup.lora, text, { lmKernel: kernel });
            if (k === 0) values.push(bitsPerByte(e.loss), e.accuracy);
          }
    const cpu = process.cpuUsage(before);
    return { values, cpu: (cpu.user + cpu.system) / 1e6 };
  };
  const load = loadavg()[0]!;
  const tfjs = figures('tfjs');
  const wasm = figures('wasm');
  let at = 0;
  let worst = 0;
  const rows: string[] = [];
  for (const [label] of models)
    for (const on of texts)
      setup.parties.forEach((p) => {
        const [tb, ta, wb, wa] = [
          tfjs.values[at]!,
          tfjs.values[at + 1]!,
          wasm.values[at]!,
          wasm.values[at + 1]!,
        ];
        at += 2;
        worst = Math.max(worst, Math.abs(wb - tb));
        rows.push(
          `| ${label} | ${on} | ${p.era} | ${tb.toFixed(6)} | ${wb.toFixed(6)} | ${(wb - tb).toExponential(1)} | ${ta.toFixed(4)} | ${wa.toFixed(4)} |`,
        );
      });
  const evaluations = Number(opt.repeat) * models.length * texts.length * setup.parties.length;
  console.log(
    `| adapters | text | party | tfjs bits/byte | wasm bits/byte | wasm - tfjs | tfjs accuracy | wasm accuracy |\n` +
      `| --- | --- | --- | --- | --- | --- | --- | --- |\n${rows.join('\n')}\n\n` +
      `largest difference: ${worst.toExponential(2)} bits/byte; ${evaluations} evaluations of ` +
      `${setup.parties[0]!.heldOut.length} bytes each per engine: tfjs ${tfjs.cpu.toFixed(1)} s CPU, wasm ${wasm.cpu.toFixed(1)} s CPU ` +
      `(${(tfjs.cpu / wasm.cpu).toFixed(1)}x less); load average ${load.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end; base ${setup.base.hash}`,
  );
});
