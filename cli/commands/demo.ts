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
    .option('--model <name>', 'model: mnist (lm is not wired into the demo yet)', 'mnist')
    .option('--scenario <name>', `what goes wrong: ${SCENARIOS.join(', ')}`, 'saboteur')
    .option(
      '--local-steps <n>',
      'local training steps per party per round',
      positive('local-steps', 1, 10_000),
      60,
    )
    .option('--shard-size <n>', 'private training images per party', positive('shard-size', 100, 10_000), 500)
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
        localSteps: number;
        shardSize: number;
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
          localSteps: options.localSteps,
          shardSize: options.shardSize,
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
