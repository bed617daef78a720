import type { Command } from 'commander';
import { DmlError } from '../../offchain/index.js';
import { replayProjections, summariseCohort } from '../../projections/index.js';
import type { CommandContext } from '../context.js';
import { loadPartyWallet } from '../party-wallet.js';
import { openLog } from './audit.js';

const ada = (lovelace: string) => `${(Number(lovelace) / 1e6).toFixed(2)} ADA`;

/**
 * `dml status`: one party's view of a cohort, folded from the event log by the same projections
 * the auditor replays: the cohort's outcome and heads, the party's deposit account, its
 * contributions and reputation.
 */
export const registerStatusCommands = (program: Command, context: () => Promise<CommandContext>): void => {
  program
    .command('status')
    .description(
      "this party's view of a cohort from the event log: heads, its deposit, its rounds and scores",
    )
    .requiredOption('--cohort <id>', 'cohort id')
    .option('--store <url>', 'event log: sqlite:PATH, postgres://... (default: the eventStore setting)')
    .option('--party <id>', "party id, the hex hash of its payment key (default: the key folder's)")
    .action(async (options: { cohort: string; store?: string; party?: string }) => {
      const ctx = await context();
      let party = options.party;
      if (!party) {
        if (!ctx.settings.keys)
          throw new DmlError('STATUS_NO_PARTY', 'no party given', { hint: 'pass --party ID or --keys DIR' });
        party = (await loadPartyWallet(ctx.settings.keys)).pkh;
      }
      const log = await openLog(ctx, options.store);
      try {
        const replayed = await replayProjections(log, { cohortId: options.cohort });
        if (replayed.folded === 0)
          throw new DmlError('STATUS_NO_COHORT', `the log holds no event of cohort ${options.cohort}`, {
            hint: 'check --cohort and --store',
          });
        const summary = summariseCohort(replayed.states, options.cohort, {
          events: replayed.folded,
          lastPosition: replayed.position,
        });
        const account = summary.ledger.accounts.find((a) => a.party === party);
        const reputation = summary.reputation.find((r) => r.party === party);
        if (!account && !reputation)
          throw new DmlError(
            'STATUS_NOT_A_PARTY',
            `party ${party} has no deposit and no contribution in cohort ${options.cohort}`,
            {
              hint: 'check --party (or --keys)',
            },
          );
        const lines = [
          `cohort ${options.cohort}: ${summary.ledger.outcome}, ${summary.training.rounds} round(s) aggregated, ${summary.heads.length} head(s)`,
          ...summary.heads.map(
            (h) =>
              `  head ${h.headId.slice(0, 16)}…  ${h.status}  ${h.parties} parties  snapshot ${h.lastSnapshot}`,
          ),
          `party ${party}`,
          account
            ? `  deposit ${ada(account.deposited)}: in escrow ${ada(account.inEscrow)}, claimed ${ada(account.claimed)}, refunded ${ada(account.refunded)}, returned ${ada(account.returned)}, slash shares ${ada(account.slashShares)}, slashed away ${ada(account.slashedAway)}`
            : '  no deposit in this cohort',
          reputation
            ? `  ${reputation.contributions} contribution(s), mean score ${reputation.meanScore.toFixed(4)}, reputation ${reputation.reputation.toFixed(3)}${reputation.slashed ? ', SLASHED' : ''}${reputation.equivocations ? `, ${reputation.equivocations} equivocation(s)` : ''}`
            : '  no contribution scored yet',
        ];
        ctx.output.result(lines.join('\n'), {
          cohortId: options.cohort,
          party,
          outcome: summary.ledger.outcome,
          heads: summary.heads,
          rounds: summary.training.rounds,
          account: account ?? null,
          reputation: reputation ?? null,
        });
      } finally {
        await log.close();
      }
    });
};
