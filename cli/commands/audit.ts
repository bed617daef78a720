import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DmlError,
  type EventStore,
  KEY_FILES,
  followCohort,
  journalChainTxs,
  readJournalFile,
  openEventStore,
  openObjectStore,
  storageConfigFromSettings,
} from '../../offchain/index.js';
import {
  renderAuditFinding,
  renderAuditSummary,
  renderCohortSummary,
  replayProjections,
  summariseCohort,
  verifyCohortInStores,
  writeAuditReport,
} from '../../projections/index.js';
import type { CommandContext } from '../context.js';
import { cohortForLog, followedChain, type FollowedChain } from '../l1-log.js';

/**
 * The chain `audit verify --chain` checks the log against: a devnet journal file given with
 * --journal (a copy the auditor was handed), else the configured devnet (its URL or its folder's
 * journal). A real network is not followed here (see cli/l1-log.ts for what it would take).
 */
const auditedChain = async (ctx: CommandContext, journal: string | undefined): Promise<FollowedChain> => {
  if (journal) {
    const records = readJournalFile(journal);
    if (!records) throw new DmlError('AUDIT_NO_CHAIN', `there is no devnet journal at ${journal}`);
    const genesis = records[0] as Extract<(typeof records)[number], { kind: 'genesis' }>;
    return { txs: journalChainTxs(records), zeroTime: genesis.time, source: `the devnet journal ${journal}` };
  }
  const chain = await followedChain(ctx.settings);
  if (!chain)
    throw new DmlError(
      'AUDIT_NO_CHAIN',
      (ctx.settings.network ?? 'devnet') === 'devnet'
        ? 'no devnet to check the log against'
        : `--chain follows the devnet only; network ${ctx.settings.network} is not followed here`,
      { hint: 'run `dml devnet up`, set DML_DEVNET_URL or DML_DEVNET_DIR, or pass --journal FILE' },
    );
  return chain;
};

const STORE_OPTION_HELP =
  'event log: sqlite:PATH, postgres://..., esdb://... (default: the eventStore setting)';

/** Opens the event log named by --store or the settings; a missing SQLite file is a user mistake. */
export const openLog = async (ctx: CommandContext, store: string | undefined): Promise<EventStore> => {
  const url = store ?? ctx.settings.eventStore;
  if (!url) throw new DmlError('AUDIT_NO_STORE', 'no event log given', { hint: 'pass --store URL' });
  if (url.startsWith('sqlite:') && !url.includes(':memory:')) {
    const path = url.slice('sqlite:'.length).split('?')[0]!;
    if (!existsSync(path))
      throw new DmlError('AUDIT_NO_STORE', `there is no event log at ${path}`, { hint: 'check --store' });
  }
  return openEventStore(url);
};

/** The cohort's delta passphrase: --passphrase-file, else the storage settings, else the key folder's. */
const deltaPassphrase = async (
  ctx: CommandContext,
  file: string | undefined,
): Promise<string | undefined> => {
  const fromFile = async (path: string, what: string) => {
    try {
      return (await readFile(path, 'utf8')).trim() || undefined;
    } catch {
      if (what === 'given') throw new DmlError('AUDIT_PASSPHRASE', `cannot read the passphrase file ${path}`);
      return undefined;
    }
  };
  if (file) {
    const passphrase = await fromFile(file, 'given');
    if (!passphrase) throw new DmlError('AUDIT_PASSPHRASE', `the passphrase file ${file} is empty`);
    return passphrase;
  }
  return ctx.settings.keys
    ? fromFile(join(ctx.settings.keys, KEY_FILES.storagePassphrase), 'key folder')
    : undefined;
};

/** The first finding in one line: what the error line names (the event, its position). */
const firstFinding = (findings: ReadonlyArray<Parameters<typeof renderAuditFinding>[0]>): string =>
  renderAuditFinding(findings[0]!).split('\n')[0]!;

export const registerAuditCommands = (program: Command, context: () => Promise<CommandContext>): void => {
  const audit = program.command('audit').description("check a cohort's history from its event log");

  audit
    .command('replay')
    .description('rebuild every projection of a cohort from the event log and print the summary')
    .option('--store <url>', STORE_OPTION_HELP)
    .requiredOption('--cohort <id>', 'cohort id')
    .action(async (options: { store?: string; cohort: string }) => {
      const ctx = await context();
      const store = await openLog(ctx, options.store);
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

  audit
    .command('verify')
    .description(
      "check a cohort's history: every stored delta against its commitment, every aggregate recomputed, every close, slash and the escrow ledger, and no event missing",
    )
    .option('--store <url>', STORE_OPTION_HELP)
    .requiredOption('--cohort <id>', 'cohort id: the cohort policy id (as the log names it) or TXHASH#INDEX')
    .option(
      '--passphrase-file <file>',
      "file holding the cohort's delta passphrase (default: the encryptionPassphrase setting, or the key folder's)",
    )
    .option(
      '--chain',
      "also check every l1 event against the chain's own transactions, and that no transition of the cohort is missing from the log (the devnet's; see --journal)",
    )
    .option(
      '--journal <file>',
      'with --chain: a devnet journal file to follow instead of the configured devnet',
    )
    .action(
      async (options: {
        store?: string;
        cohort: string;
        passphraseFile?: string;
        chain?: boolean;
        journal?: string;
      }) => {
        const ctx = await context();
        if (options.journal && !options.chain)
          throw new DmlError('BAD_FLAG', '--journal is used with --chain');
        const chain = options.chain ? await auditedChain(ctx, options.journal) : undefined;
        const cohort = await cohortForLog(options.cohort, chain);
        if (chain && !cohort.scripts)
          throw new DmlError(
            'AUDIT_NO_CHAIN',
            `cohort ${options.cohort} is not on ${chain.source}: no transaction creates it`,
            { hint: 'check --cohort, or pass TXHASH#INDEX' },
          );
        const transitions = chain && cohort.scripts ? followCohort(chain.txs, cohort.scripts) : undefined;
        const cohortId = cohort.policy;
        const passphrase = await deltaPassphrase(ctx, options.passphraseFile);
        const config = storageConfigFromSettings(
          { ...ctx.settings, ...(options.passphraseFile ? { encryptionPassphrase: passphrase } : {}) },
          { ...(passphrase ? { fallbackPassphrase: passphrase } : {}), env: process.env },
        );
        const log = await openLog(ctx, options.store);
        try {
          const objects = await openObjectStore(config);
          try {
            const progress = ctx.output.progress();
            progress.update(`verifying cohort ${cohortId}`);
            const report = await verifyCohortInStores(log, objects, cohortId, config.passphrase, {
              ...(transitions ? { chain: transitions } : {}),
            });
            progress.done();
            if (report.ok) {
              ctx.output.result(renderAuditSummary(report), report);
              return;
            }
            ctx.output.result(report.findings.map(renderAuditFinding).join('\n'), report);
            throw new DmlError(
              'AUDIT_FAILED',
              `cohort ${cohortId} does not verify: ${report.findings.length} finding(s); first: ${firstFinding(report.findings)}`,
              { hint: renderAuditSummary(report).replace('verified', 'checked') },
            );
          } finally {
            await objects.close();
          }
        } finally {
          await log.close();
        }
      },
    );

  audit
    .command('report')
    .description(
      "write a cohort's audit report: report.html (self-contained, inline SVG charts of loss and accuracy per round and party, the deposit ledger, the head timeline) and report.json (the same data)",
    )
    .option('--store <url>', STORE_OPTION_HELP)
    .requiredOption('--cohort <id>', 'cohort id')
    .requiredOption('--out <dir>', 'folder to write report.html and report.json into (created if missing)')
    .action(async (options: { store?: string; cohort: string; out: string }) => {
      const ctx = await context();
      const store = await openLog(ctx, options.store);
      try {
        const progress = ctx.output.progress();
        progress.update(`replaying cohort ${options.cohort}`);
        const written = await writeAuditReport({ store, cohortId: options.cohort }, options.out);
        progress.done();
        const { summary, rounds, heads } = written.data;
        ctx.output.result(
          `wrote ${written.htmlFile} and ${written.jsonFile}: ${summary.events} events, ${rounds.length} rounds, ${summary.ledger.accounts.length} parties, ${heads.length} head(s)`,
          { htmlFile: written.htmlFile, jsonFile: written.jsonFile, cohortId: options.cohort },
        );
      } finally {
        await store.close();
      }
    });
};
