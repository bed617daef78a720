import type { Command } from 'commander';
import { join } from 'node:path';
import { DmlError } from '../../offchain/index.js';
import { runDemoStory, type DemoResult, type DemoScenario } from '../demo/story.js';
import { renderDemoTable } from '../demo/demo-table.js';
import type { CommandContext } from '../context.js';

const SCENARIOS: readonly DemoScenario[] = ['honest', 'saboteur', 'dropout'];

const positive = (name: string, min: number, max: number) => (text: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new DmlError('BAD_OPTION', `--${name} must be a whole number from ${min} to ${max}, got ${text}`);
  return n;
};

export const registerDemoCommands = (program: Command, context: () => Promise<CommandContext>): void => {
  program
    .command('demo')
    .description(
      'run the whole story on this machine: a cohort with deposits, a Hydra head, QLoRA rounds on MNIST, a saboteur caught and slashed, a new cohort, a newcomer, claims, and the audit',
    )
    .option('--parties <n>', 'parties of the first cohort', positive('parties', 3, 10), 4)
    .option('--rounds <n>', 'final round of a cohort', positive('rounds', 2, 50), 4)
    .option(
      '--model <name>',
      'model: mnist (an NF4 MLP, MNIST shards; the table shows test accuracy) or lm (a small NF4 byte-level transformer pretrained on Moby Dick, one era of State of the Union addresses per party; the table shows held-out bits per byte)',
      'mnist',
    )
    .option('--scenario <name>', `what goes wrong: ${SCENARIOS.join(', ')}`, 'saboteur')
    .option(
      '--local-steps <n>',
      'local training steps per party per round (default 60 for mnist, 20 for lm)',
      positive('local-steps', 1, 10_000),
    )
    .option(
      '--shard-size <n>',
      'private training data per party: images (mnist, default 500) or thousands of bytes of its era (lm, default 100)',
      positive('shard-size', 1, 10_000),
    )
    .option(
      '--pretrain-steps <n>',
      'lm only: pretraining steps of the small base on Moby Dick',
      positive('pretrain-steps', 1, 100_000),
      150,
    )
    .option('--seed <n>', 'seed of the data split and the base model', positive('seed', 0, 1_000_000), 1)
    .option(
      '--out <dir>',
      'folder for the event log, the deltas and the report (default: <home>/demo-<time>)',
    )
    .action(
      async (options: {
        parties: number;
        rounds: number;
        model: string;
        scenario: string;
        localSteps?: number;
        shardSize?: number;
        pretrainSteps: number;
        seed: number;
        out?: string;
      }) => {
        const ctx = await context();
        if (!SCENARIOS.includes(options.scenario as DemoScenario))
          throw new DmlError('BAD_OPTION', `unknown scenario ${options.scenario}`, {
            hint: `choose one of ${SCENARIOS.join(', ')}`,
          });
        if (options.model !== 'mnist' && options.model !== 'lm')
          throw new DmlError('BAD_OPTION', `unknown model ${options.model}`, { hint: 'choose mnist or lm' });
        if (options.model === 'mnist' && options.shardSize !== undefined && options.shardSize < 100)
          throw new DmlError(
            'BAD_OPTION',
            `--shard-size must be at least 100 images for mnist, got ${options.shardSize}`,
          );
        const dir =
          options.out ??
          join(ctx.settings.home ?? '.dml', `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`);
        const progress = ctx.output.progress();
        const result: DemoResult = await runDemoStory({
          dir,
          parties: options.parties,
          rounds: options.rounds,
          model: options.model,
          scenario: options.scenario as DemoScenario,
          localSteps: options.localSteps ?? (options.model === 'lm' ? 20 : 60),
          shardSize: options.shardSize ?? (options.model === 'lm' ? 100 : 500),
          pretrainSteps: options.pretrainSteps,
          seed: options.seed,
          progress: (line, fraction) => progress.update(line, fraction),
          info: (line) => {
            progress.update('');
            ctx.output.info(line);
          },
        });
        progress.done();
        ctx.output.result(renderDemoTable(result), {
          ...result,
          parties: result.parties.map((p) => ({
            ...p,
            depositIn: String(p.depositIn),
            depositOut: String(p.depositOut),
          })),
        });
        const failed = result.cohorts.filter((c) => !c.audit.ok);
        if (failed.length > 0)
          throw new DmlError('DEMO_AUDIT_FAILED', `the auditor rejected ${failed.length} cohort(s)`, {
            hint: `dml audit verify --store sqlite:${result.logFile} --cohort ${failed[0]!.id}`,
          });
      },
    );
};
