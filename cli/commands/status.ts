import type { Command } from 'commander';
import { DmlError, cohortStream, type EventStore, type StoredDmlEvent } from '../../offchain/index.js';
import {
  cohortForLog,
  describeSync,
  openPartyLog,
  quietChain,
  syncCohortFromChain,
  syncJson,
} from '../l1-log.js';
import { replayProjections, summariseCohort } from '../../projections/index.js';
import type { CommandContext } from '../context.js';
import { loadPartyWallet } from '../party-wallet.js';
import { openLog } from './audit.js';

const ada = (lovelace: string) => `${(Number(lovelace) / 1e6).toFixed(2)} ADA`;

const l1Line = (e: StoredDmlEvent): string => {
  const d = e.data as Record<string, unknown>;
  const short = (x: unknown) => `${String(x).slice(0, 12)}…`;
  const what: Record<string, () => string> = {
    'l1.CohortCreated': () => `created by ${short(d['creator'])}`,
    'l1.PartyJoined': () => `${short(d['party'])} joined with ${ada(String(d['deposit']))}`,
    'l1.EpochStarted': () =>
      `epoch ${String(d['epoch'])} started with ${(d['parties'] as string[]).length} parties`,
    'l1.HeadClosed': () =>
      `epoch ${String(d['epoch'])} closed at round ${String(d['round'])}${d['scheduled'] ? ' (scheduled)' : ''}`,
    'l1.HeadContested': () => `contested at round ${String(d['round'])}`,
    'l1.HeadFinalized': () => `epoch ${String(d['epoch'])} finalized: ${String(d['outcome'])}`,
    'l1.PartySlashed': () => `${short(d['accused'])} slashed by ${(d['voters'] as string[]).length} voters`,
    'l1.DepositClaimed': () => `${short(d['party'])} claimed ${ada(String(d['amount']))}`,
    'l1.DepositRefunded': () => `${short(d['party'])} refunded ${ada(String(d['amount']))}`,
  };
  return `  slot ${String(d['slot']).padStart(6)}  ${e.type.padEnd(18)} ${what[e.type]?.() ?? ''}  tx ${short(d['txId'])}`;
};

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
    .requiredOption('--cohort <id>', 'cohort id: TXHASH#INDEX or the cohort policy id')
    .option('--store <url>', 'event log: sqlite:PATH, postgres://... (default: the eventStore setting)')
    .option('--party <id>', "party id, the hex hash of its payment key (default: the key folder's)")
    .option('--no-sync', "read the log as it is: do not first append the l1 events the devnet's chain shows")
    .action(async (options: { cohort: string; store?: string; party?: string; sync: boolean }) => {
      const ctx = await context();
      let party = options.party;
      if (!party) {
        if (!ctx.settings.keys)
          throw new DmlError('STATUS_NO_PARTY', 'no party given', { hint: 'pass --party ID or --keys DIR' });
        party = (await loadPartyWallet(ctx.settings.keys)).pkh;
      }
      const chain = options.sync ? await quietChain(ctx.settings) : undefined;
      const cohort = await cohortForLog(options.cohort, chain);
      const cohortId = cohort.policy;
      // with a chain to follow, the party's log is brought up to date first (and made if missing)
      const syncing = chain !== undefined && cohort.scripts !== undefined;
      const log: EventStore = syncing
        ? await openPartyLog({ ...ctx.settings, eventStore: options.store ?? ctx.settings.eventStore })
        : await openLog(ctx, options.store);
      try {
        const synced = syncing
          ? await syncCohortFromChain(ctx.settings, cohort.scripts!, { log, chain })
          : undefined;
        if (synced) ctx.output.info(describeSync(synced));
        const replayed = await replayProjections(log, { cohortId });
        if (replayed.folded === 0)
          throw new DmlError('STATUS_NO_COHORT', `the log holds no event of cohort ${cohortId}`, {
            hint: 'check --cohort and --store',
          });
        const summary = summariseCohort(replayed.states, cohortId, {
          events: replayed.folded,
          lastPosition: replayed.position,
        });
        const account = summary.ledger.accounts.find((a) => a.party === party);
        const reputation = summary.reputation.find((r) => r.party === party);
        if (!account && !reputation)
          throw new DmlError(
            'STATUS_NOT_A_PARTY',
            `party ${party} has no deposit and no contribution in cohort ${cohortId}`,
            {
              hint: 'check --party (or --keys)',
            },
          );
        const l1 = (await log.readStream(cohortStream(cohortId))).filter(
          (e) => e.type.startsWith('l1.') && (e.data as { cohortId?: string }).cohortId === cohortId,
        );
        const lines = [
          `cohort ${cohortId}${cohort.seedId ? ` (${cohort.seedId})` : ''}: ${summary.ledger.outcome}, ${summary.training.rounds} round(s) aggregated, ${summary.heads.length} head(s)`,
          ...summary.heads.map(
            (h) =>
              `  head ${h.headId.slice(0, 16)}…  ${h.status}  ${h.parties} parties  snapshot ${h.lastSnapshot}`,
          ),
          `layer 1 (${l1.length} transition(s) in the log):`,
          ...l1.map(l1Line),
          `party ${party}`,
          account
            ? `  deposit ${ada(account.deposited)}: in escrow ${ada(account.inEscrow)}, claimed ${ada(account.claimed)}, refunded ${ada(account.refunded)}, returned ${ada(account.returned)}, slash shares ${ada(account.slashShares)}, slashed away ${ada(account.slashedAway)}`
            : '  no deposit in this cohort',
          reputation
            ? `  ${reputation.contributions} contribution(s), mean score ${reputation.meanScore.toFixed(4)}, reputation ${reputation.reputation.toFixed(3)}${reputation.slashed ? ', SLASHED' : ''}${reputation.equivocations ? `, ${reputation.equivocations} equivocation(s)` : ''}${reputation.direction ? `, direction z ${reputation.direction.z.toFixed(1)} over ${reputation.direction.rounds} round(s) (${reputation.direction.verdict})` : ''}`
            : '  no contribution scored yet',
        ];
        ctx.output.result(lines.join('\n'), {
          cohortId,
          ...(cohort.seedId ? { cohort: cohort.seedId } : {}),
          party,
          layer1: l1.map((e) => ({ type: e.type, ...(e.data as object) })),
          log: synced ? syncJson(synced) : null,
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
