import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { DmlError, openEventStore } from '../../offchain/index.js';
import { renderCohortSummary, replayProjections, summariseCohort } from '../../projections/index.js';
import type { CommandContext } from '../context.js';

export const registerAuditCommands = (program: Command, context: () => Promise<CommandContext>): void => {
  const audit = program.command('audit').description("check a cohort's history from its event log");

  audit
    .command('replay')
    .description('rebuild every projection of a cohort from the event log and print the summary')
    .option(
      '--store <url>',
      'event log: sqlite:PATH, postgres://..., esdb://... (default: the eventStore setting)',
    )
    .requiredOption('--cohort <id>', 'cohort id')
    .action(async (options: { store?: string; cohort: string }) => {
      const ctx = await context();
      const url = options.store ?? ctx.settings.eventStore;
      if (!url) throw new DmlError('AUDIT_NO_STORE', 'no event log given', { hint: 'pass --store URL' });
      if (url.startsWith('sqlite:') && !url.includes(':memory:')) {
        const path = url.slice('sqlite:'.length).split('?')[0]!;
        if (!existsSync(path))
          throw new DmlError('AUDIT_NO_STORE', `there is no event log at ${path}`, { hint: 'check --store' });
      }
      const store = await openEventStore(url);
      try {
        const progress = ctx.output.progress();
        const result = await replayProjections(store, {
          cohortId: options.cohort,
          onProgress: (position, head) =>
            progress.update(`replaying ${position}/${head}`, head ? position / head : 1),
        });
        progress.done();
        if (result.folded === 0)
          throw new DmlError('AUDIT_NO_COHORT', `the log holds no event of cohort ${options.cohort}`, {
            hint: `${result.read} events read; check --cohort`,
          });
        const summary = summariseCohort(result.states, options.cohort, {
          events: result.folded,
          lastPosition: result.position,
        });
        ctx.output.result(renderCohortSummary(summary), summary);
      } finally {
        await store.close();
      }
    });
};
