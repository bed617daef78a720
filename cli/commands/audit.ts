import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DmlError,
  type EventStore,
  type ObjectStore,
  KEY_FILES,
  followCohort,
  journalChainTxs,
  readJournalFile,
  openEventStore,
  openObjectStore,
  storageConfigFromSettings,
} from '../../offchain/index.js';
import {
  renderAuditDirections,
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

/**
 * The auditor's own read access to each party's store (`--party-stores FILE`): once the read
 * grants in the log have expired, a delta is read with the access its owner gave the auditor.
 * The file is a JSON object from party id (payment key hash) to that party's storage settings,
 * with the keys of the settings table (`dml config show`): `storage` (local | s3), and for local
 * `home` (the store is `<home>/storage`), for s3 `s3Endpoint`, `s3AccessKeyId`,
 * `s3SecretAccessKey`, `s3Region`, `bucket`; `uploadPath` for either. The delta passphrase is the
 * cohort's (--passphrase-file), not the file's.
 */
const openPartyStores = async (
  file: string,
  passphrase: string | undefined,
): Promise<{ storeOf: (party: string) => ObjectStore | undefined; close: () => Promise<void> }> => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    throw new DmlError('AUDIT_PARTY_STORES', `${file} is not a JSON file of party stores`, {
      hint: '{"<party id>": {"storage": "local", "home": "DIR"}, "<party id>": {"storage": "s3", ...}}',
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new DmlError(
      'AUDIT_PARTY_STORES',
      `${file} must hold a JSON object from party id to storage settings`,
    );
  const stores = new Map<string, ObjectStore>();
  const close = async () => {
    for (const store of stores.values()) await store.close().catch(() => undefined);
  };
  try {
    for (const [party, entry] of Object.entries(parsed as Record<string, unknown>)) {
      if (!/^[0-9a-f]{2,128}$/.test(party))
        throw new DmlError('AUDIT_PARTY_STORES', `${file}: "${party}" is not a party id (lowercase hex)`);
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
        throw new DmlError('AUDIT_PARTY_STORES', `${file}: the entry of party ${party} is not an object`);
      const settings = Object.fromEntries(
        Object.entries(entry as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
      );
      try {
        const config = storageConfigFromSettings(
          { ...settings, encryptionPassphrase: passphrase ?? 'unused: the auditor only reads sealed bytes' },
          {},
        );
        stores.set(party, await openObjectStore(config));
      } catch (error) {
        throw new DmlError(
          'AUDIT_PARTY_STORES',
          `${file}: the store of party ${party}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { storeOf: (party) => stores.get(party), close };
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
      "check a cohort's history: every stored delta against its commitment, every aggregate recomputed, every close, slash and the escrow ledger, and no event missing; then the direction evidence over the rounds (parties whose deltas are no better than a random direction or point away from the consensus: evidence, not a finding, the exit code does not depend on it)",
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
    .option(
      '--party-stores <file>',
      'read each party\'s deltas with the access it gave the auditor (after its read grants expired): a JSON object from party id to its storage settings, e.g. {"<id>": {"storage": "s3", "s3Endpoint": ..., "bucket": ...}} or {"<id>": {"storage": "local", "home": "DIR"}}; replaces the single store of the settings',
    )
    .action(
      async (options: {
        store?: string;
        cohort: string;
        passphraseFile?: string;
        chain?: boolean;
        journal?: string;
        partyStores?: string;
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
          const perParty = options.partyStores
            ? await openPartyStores(options.partyStores, config.passphrase)
            : undefined;
          const objects = perParty ? undefined : await openObjectStore(config);
          try {
            const progress = ctx.output.progress();
            progress.update(`verifying cohort ${cohortId}`);
            const access = perParty ? { storeOf: perParty.storeOf } : objects!;
            const report = await verifyCohortInStores(log, access, cohortId, config.passphrase, {
              ...(transitions ? { chain: transitions } : {}),
            });
            progress.done();
            if (report.ok) {
              ctx.output.result(`${renderAuditSummary(report)}\n${renderAuditDirections(report)}`, report);
              return;
            }
            ctx.output.result(
              [...report.findings.map(renderAuditFinding), renderAuditDirections(report)].join('\n'),
              report,
            );
            throw new DmlError(
              'AUDIT_FAILED',
              `cohort ${cohortId} does not verify: ${report.findings.length} finding(s); first: ${firstFinding(report.findings)}`,
              { hint: renderAuditSummary(report).replace('verified', 'checked') },
            );
          } finally {
            await objects?.close();
            await perParty?.close();
          }
        } finally {
          await log.close();
        }
      },
    );

  audit
    .command('report')
    .description(
      "write a cohort's audit report: report.html (self-contained, inline SVG charts of loss and accuracy per round and party, the deposit ledger, the head timeline, and each party's cumulative direction z per round against the z = 3 line, from the similarities the parties recorded) and report.json (the same data)",
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
