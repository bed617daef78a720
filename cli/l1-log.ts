import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  DEVNET_JOURNAL_FILE,
  DevnetProvider,
  DmlError,
  type ChainTx,
  type CohortLogSync,
  type CohortScripts,
  type CohortTransition,
  type EventStore,
  followCohort,
  journalChainTxs,
  openEventStore,
  readJournalFile,
  syncCohortLog,
} from '../offchain/index.js';
import type { Settings } from './settings.js';
import type { CommandContext } from './context.js';
import { devnetCohortScripts, findCohortSeed, parseCohortRef } from './cohort-session.js';

/**
 * The chain a party's command follows to keep its log in step with layer 1, and that the auditor
 * checks the log against:
 * - the devnet (DML_NETWORK=devnet): at DML_DEVNET_URL when it is set (`GET /chain-txs`), else
 *   its journal file in the devnet folder, read without writing (it works while the devnet is
 *   down, and for an auditor given a copy of the folder);
 * - a real network: not followed here. A follower there would list the transactions at the
 *   cohort's state and escrow addresses in block order (Blockfrost `/addresses/{a}/transactions`,
 *   then `/txs/{hash}/cbor`; or a Kupo match on the addresses with `?spent` and Ogmios for the
 *   transactions) and hand them to the same `followCohort`. Until then `undefined`.
 */
export interface FollowedChain {
  readonly txs: readonly ChainTx[];
  /** POSIX ms of slot 0 (events' times are their blocks' times). */
  readonly zeroTime: number;
  /** Where the transactions came from, for messages. */
  readonly source: string;
}

export const followedChain = async (settings: Settings): Promise<FollowedChain | undefined> => {
  if ((settings.network ?? 'devnet') !== 'devnet') return undefined;
  if (settings.devnetUrl) {
    const devnet = new DevnetProvider(settings.devnetUrl);
    const [info, txs] = [await devnet.info(), await devnet.chainTxs()];
    return { txs, zeroTime: info.zeroTime, source: `the devnet at ${settings.devnetUrl}` };
  }
  const path = join(resolve(settings.devnetDir ?? '.dml/devnet'), DEVNET_JOURNAL_FILE);
  const records = readJournalFile(path);
  if (!records) return undefined;
  const genesis = records[0] as Extract<(typeof records)[number], { kind: 'genesis' }>;
  return { txs: journalChainTxs(records), zeroTime: genesis.time, source: `the devnet journal ${path}` };
};

/** The party's event log (the eventStore setting), its SQLite folder created when missing. */
export const openPartyLog = async (settings: Settings): Promise<EventStore> => {
  const url = settings.eventStore;
  if (!url) throw new DmlError('NO_EVENT_STORE', 'no event log configured', { hint: 'set DML_EVENT_STORE' });
  if (url.startsWith('sqlite:') && !url.startsWith('sqlite::memory:'))
    mkdirSync(dirname(resolve(url.slice('sqlite:'.length).split('?')[0]!)), { recursive: true });
  return openEventStore(url);
};

export interface CohortSyncResult extends CohortLogSync {
  readonly transitions: readonly CohortTransition[];
  readonly source: string;
}

/**
 * Follows the cohort on the chain and appends the `l1.*` events the party's log lacks (see
 * offchain/l1log). `undefined` when there is no chain to follow (a real network).
 */
export const syncCohortFromChain = async (
  settings: Settings,
  scripts: CohortScripts,
  options: { log?: EventStore; chain?: FollowedChain } = {},
): Promise<CohortSyncResult | undefined> => {
  const chain = options.chain ?? (await followedChain(settings));
  if (!chain) return undefined;
  const transitions = followCohort(chain.txs, scripts);
  const log = options.log ?? (await openPartyLog(settings));
  try {
    const result = await syncCohortLog({
      log,
      cohortId: scripts.cohortId,
      transitions,
      facts: { zeroTime: chain.zeroTime },
    });
    return { ...result, transitions, source: chain.source };
  } finally {
    if (!options.log) await log.close();
  }
};

/** One line about a sync, for a command's output. */
export const describeSync = (r: CohortSyncResult | undefined): string =>
  r === undefined
    ? 'log: no chain to follow here (a real network is not followed), no l1 event written'
    : `log: ${r.appended.length} l1 event(s) added (${r.appended.map((e) => e.type.slice(3)).join(', ') || 'none'}), ${r.present} already there${r.skipped.length ? `, ${r.skipped.length} not recordable: ${r.skipped.map((s) => s.reason).join('; ')}` : ''}`;

/** The sync's result for --json output. */
export const syncJson = (r: CohortSyncResult | undefined) =>
  r === undefined ? null : { appended: r.appended, present: r.present, skipped: r.skipped, source: r.source };

/**
 * The cohort a status or audit names, as the log names it (the policy id), with its scripts when
 * they can be found (from a TXHASH#INDEX, or a policy id whose creation is on the followed chain).
 * Any other id is taken as the log's own name for the cohort.
 */
export const cohortForLog = async (
  id: string,
  chain: FollowedChain | undefined,
): Promise<{ policy: string; seedId?: string; scripts?: CohortScripts }> => {
  let ref;
  try {
    ref = parseCohortRef(id);
  } catch {
    return { policy: id };
  }
  const seed =
    ref.kind === 'seed' ? ref.seed : chain ? await findCohortSeed(ref.policy, chain.txs) : undefined;
  if (!seed) return { policy: ref.kind === 'policy' ? ref.policy : id };
  const scripts = await devnetCohortScripts(seed);
  return { policy: scripts.cohortId, seedId: `${seed.txHash}#${seed.outputIndex}`, scripts };
};

/** The chain to follow, or none (a real network, no devnet here, or a devnet that does not answer). */
export const quietChain = async (settings: Settings): Promise<FollowedChain | undefined> => {
  try {
    return await followedChain(settings);
  } catch {
    return undefined;
  }
};

/**
 * After a layer-1 command: the party's log gets the `l1.*` events of what the chain now shows
 * (the transaction just made, and any other it lacks). The transaction is on chain whatever
 * happens here, so a failed sync is reported, not thrown: `dml cohort sync` retries it.
 */
export const syncLogAfterLayer1 = async (
  ctx: CommandContext,
  scripts: CohortScripts,
): Promise<{ log: ReturnType<typeof syncJson> | { error: string } }> => {
  let synced: CohortSyncResult | undefined;
  try {
    synced = await syncCohortFromChain(ctx.settings, scripts);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    ctx.output.info(`log: not synced with the chain (${message}); run \`dml cohort sync\``);
    return { log: { error: message } };
  }
  ctx.output.info(describeSync(synced));
  return { log: syncJson(synced) };
};
