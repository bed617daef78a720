import type { Command } from 'commander';
import type { CommandContext } from '../context.js';

export const registerConfigCommands = (program: Command, context: () => Promise<CommandContext>): void => {
  const config = program
    .command('config')
    .description('configuration: flags, environment, config file, defaults');
  config
    .command('show')
    .description('print every setting, its value and where the value came from (secrets hidden)')
    .action(async () => {
      const ctx = await context();
      const rows = ctx.resolved.map((r) => ({
        key: r.definition.key,
        env: r.definition.env,
        value: r.definition.secret && r.value !== undefined ? '(set)' : (r.value ?? null),
        source: r.source,
      }));
      const width = Math.max(...rows.map((r) => r.key.length));
      const envWidth = Math.max(...rows.map((r) => r.env.length));
      ctx.output.result(
        rows
          .map(
            (r) =>
              `${r.key.padEnd(width)}  ${r.env.padEnd(envWidth)}  ${String(r.value ?? '-')}  (${r.source})`,
          )
          .join('\n'),
        rows,
      );
    });
};
