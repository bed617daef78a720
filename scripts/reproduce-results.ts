/**
 * Reproduces issue #6's result tables from a clean checkout: builds the bases and runs every
 * recorded experiment in order (scripts/reproduce-plan.ts), then writes the tables to
 * `<out>/results.md` and prints them. Resumable: each finished step is recorded in
 * `<out>/state.json` and a rerun of the same command skips it (an interrupted step starts over).
 *
 *   npx tsx scripts/reproduce-results.ts [--out .dml/results] [--quick] [--only ID,...] [--list]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DmlError } from '../offchain/index.js';
import { runLmScript } from './lm-options.js';
import { type ReproductionStep, reproductionSteps } from './reproduce-plan.js';
import { inputsOf, readReproductionState, runReproductionSteps } from './reproduce-runner.js';

const usage = `Usage: npx tsx scripts/reproduce-results.ts [options]

Builds the MNIST and language-model bases and runs every experiment behind issue #6's tables
(design_docs/trainer.md), then writes the tables to <out>/results.md and prints them. The full
reproduction takes hours of CPU (the recorded runs' CPU times are printed per step); a rerun of
the same command skips the steps already finished (an interrupted step starts over).

  --out DIR        where every output goes (default .dml/results, .dml/results-quick with --quick)
  --quick          the same pipeline at toy sizes: a check that every step runs (~1-2 minutes);
                   its figures mean nothing
  --only ID,...    run only these steps (their inputs must exist: earlier steps finished)
  --list           print the steps and their commands, run nothing
  --help           this text`;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

await runLmScript('reproduce-results', async () => {
  const { values: opt } = parseArgs({
    options: {
      out: { type: 'string' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (opt.help) {
    console.log(usage);
    return;
  }
  const profile = opt.quick ? 'quick' : 'full';
  const dir = resolve(opt.out ?? (opt.quick ? '.dml/results-quick' : '.dml/results'));
  const all = reproductionSteps(profile);
  let steps: ReproductionStep[] = all;
  if (opt.only !== undefined) {
    const ids = opt.only.split(',').filter((s) => s.length > 0);
    const unknown = ids.filter((id) => !all.some((s) => s.id === id));
    if (ids.length === 0 || unknown.length > 0)
      throw new DmlError(
        'REPRODUCE_OPTION',
        `--only ${opt.only}: no step ${unknown.join(', ') || '(empty)'}`,
        {
          hint: `the steps: ${all.map((s) => s.id).join(', ')}`,
        },
      );
    steps = all.filter((s) => ids.includes(s.id));
  }
  if (opt.list) {
    const state = await readReproductionState(dir, profile);
    const inputs = inputsOf(dir, state);
    for (const s of steps) {
      let args: string;
      try {
        args = s.args(inputs).join(' ');
      } catch {
        args = '(after the base it needs is built)';
      }
      const env = Object.entries(s.env ?? {}).map(([k, v]) => `${k}=${v} `);
      const done = state.steps[s.id] ? ' [done]' : '';
      console.log(`${s.id}${done}: ${s.title}\n  ${env.join('')}npx tsx scripts/${s.script} ${args}`);
    }
    return;
  }
  const state = await runReproductionSteps(steps, {
    dir,
    profile,
    tsx: join(ROOT, 'node_modules', '.bin', 'tsx'),
    scriptsDir: join(ROOT, 'scripts'),
    cwd: process.cwd(),
    progress: (line) => void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
  });
  // the results file: every table step finished so far, in the plan's order
  const sections: string[] = [
    `# Issue #6's results, reproduced (${profile})\n`,
    ...Object.values(state.steps).flatMap(({ base }) =>
      base ? [`- ${base.kind}: ${base.path} (hash ${base.hash})`] : [],
    ),
  ];
  for (const s of all.filter((x) => x.tables && state.steps[x.id])) {
    const out = await readFile(join(dir, `${s.id}.out`), 'utf8');
    sections.push(
      `\n## ${s.title}\n\n\`${state.steps[s.id]!.command}\` (${state.steps[s.id]!.seconds} s)\n${out}`,
    );
  }
  const text = `${sections.join('\n')}\n`;
  await writeFile(join(dir, 'results.md'), text);
  console.log(text);
  process.stderr.write(`the tables are in ${join(dir, 'results.md')}\n`);
});
