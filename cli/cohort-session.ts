import { Lucid, type OutRef, type TxComplete, type UTxO } from 'lucid-cardano';
import { loadBlueprint } from '../contracts/index.js';
import {
  DmlError,
  cohortScripts,
  findCohortState,
  isDmlError,
  isScriptFailure,
  parseEscrowDatum,
  partyTokenUnits,
  readChainTx,
  readCohortState,
  type ChainTx,
  type CohortScripts,
  type CohortState,
} from '../offchain/index.js';
import type { Settings } from './settings.js';
import { openChain, type Chain } from './chain-provider.js';
import { loadPartyWallet, type PartyWallet } from './party-wallet.js';

/**
 * What a party's cohort command works with: the chain (devnet or a real network), the party's
 * wallet from its key folder, and a cohort found again from its id. A cohort has two names:
 * - the out-ref of the seed output its creation spent, `TXHASH#INDEX` (what `dml cohort create`
 *   prints): the cohort token's policy is applied to it, so the four scripts (and the addresses
 *   and token units) are recomputed from it and the committed blueprint, with no registry;
 * - the cohort token's policy id (56 hex digits): what the datums, the training snapshots and the
 *   event log name. From it the seed is found on a chain that can be followed (the devnet): the
 *   creation is the transaction that mints the token, and the seed is the one of its inputs whose
 *   policy is this one.
 * Commands accept either and print both.
 */
export const COHORT_ID_FORMAT =
  'TXHASH#INDEX (64 hex digits, #, the output index) or the cohort policy id (56 hex digits)';

export type CohortRef = { kind: 'seed'; seed: OutRef } | { kind: 'policy'; policy: string };

export const parseCohortRef = (id: string | undefined): CohortRef => {
  const seed = /^([0-9a-fA-F]{64})#(\d{1,5})$/.exec(id ?? '');
  if (seed) return { kind: 'seed', seed: { txHash: seed[1]!.toLowerCase(), outputIndex: Number(seed[2]) } };
  if (/^[0-9a-fA-F]{56}$/.test(id ?? '')) return { kind: 'policy', policy: id!.toLowerCase() };
  throw new DmlError('BAD_COHORT_ID', `not a cohort id: ${id ?? '(none)'}`, {
    hint: `a cohort id is ${COHORT_ID_FORMAT}, as \`dml cohort create\` prints them`,
  });
};

/** The seed out-ref of a cohort id given as TXHASH#INDEX (throws on any other form). */
export const parseCohortId = (id: string | undefined): OutRef => {
  const ref = parseCohortRef(id);
  if (ref.kind === 'seed') return ref.seed;
  throw new DmlError(
    'BAD_COHORT_ID',
    `this command needs the cohort's TXHASH#INDEX, not its policy id ${id}`,
    {
      hint: '`dml cohort show --cohort POLICY` prints both',
    },
  );
};

/** Scripts applied to a seed need no chain: an offline lucid (network Custom) computes them. */
let offline: Promise<Lucid> | undefined;
const offlineLucid = (): Promise<Lucid> => (offline ??= Lucid.new(undefined, 'Custom'));

/**
 * Finds the seed of a cohort known by its policy id in a followed chain: the creation mints the
 * cohort token (the policy, empty name) and spends the seed. `undefined` when no transaction does.
 */
export const findCohortSeed = async (
  policy: string,
  chainTxs: readonly ChainTx[],
  lucid?: Lucid,
): Promise<OutRef | undefined> => {
  const blueprint = loadBlueprint();
  const l = lucid ?? (await offlineLucid());
  for (const chainTx of chainTxs) {
    const tx = readChainTx(chainTx);
    if ((tx.minted[policy] ?? 0n) !== 1n) continue;
    for (const input of tx.inputs) {
      const [txHash, index] = input.split('#');
      const seed = { txHash: txHash!, outputIndex: Number(index) };
      if (cohortScripts(l, blueprint, seed).cohortId === policy) return seed;
    }
  }
  return undefined;
};

/** A cohort's scripts from its seed, with no chain (testnet addresses: the devnet's). */
export const devnetCohortScripts = async (seed: OutRef): Promise<CohortScripts> =>
  cohortScripts(await offlineLucid(), loadBlueprint(), seed);

/** Both names of a cohort: its seed `TXHASH#INDEX` and its policy id (what the log names). */
export interface CohortNames {
  readonly id: string;
  readonly policy: string;
  readonly seed: OutRef;
}

/**
 * Resolves a cohort id of either form to both names. A policy id needs a followed chain
 * (`chainTxs`, the devnet's); without one it is refused with a hint to pass TXHASH#INDEX.
 */
export const resolveCohortNames = async (
  id: string | undefined,
  chainTxs?: () => Promise<readonly ChainTx[] | undefined>,
  lucid?: Lucid,
): Promise<CohortNames> => {
  const ref = parseCohortRef(id);
  let seed: OutRef | undefined;
  if (ref.kind === 'seed') seed = ref.seed;
  else {
    const txs = await chainTxs?.();
    if (!txs)
      throw new DmlError(
        'COHORT_ID_UNRESOLVED',
        `cannot find the seed of cohort policy ${ref.policy}: no chain to follow`,
        {
          hint: 'pass the cohort as TXHASH#INDEX (a real network is not followed here)',
        },
      );
    seed = await findCohortSeed(ref.policy, txs, lucid);
    if (!seed)
      throw new DmlError('UNKNOWN_COHORT', `unknown cohort ${ref.policy}: no transaction mints its token`, {
        hint: 'check the id and the network (DML_NETWORK, DML_DEVNET_URL)',
      });
  }
  const scripts = cohortScripts(lucid ?? (await offlineLucid()), loadBlueprint(), seed);
  return { id: cohortIdOf(seed), policy: scripts.cohortId, seed };
};

export const cohortIdOf = (seed: OutRef): string => `${seed.txHash}#${seed.outputIndex}`;

export interface PartySession {
  readonly chain: Chain;
  readonly lucid: Lucid;
  readonly wallet: PartyWallet;
}

export const openSession = async (settings: Settings, keysDir = settings.keys!): Promise<PartySession> => {
  const wallet = await loadPartyWallet(keysDir);
  const chain = await openChain(settings);
  const reWallet = chain.networkId === 0 ? wallet : await loadPartyWallet(keysDir, chain.networkId);
  chain.lucid.selectWalletFromPrivateKey(reWallet.privateKey);
  return { chain, lucid: chain.lucid, wallet: reWallet };
};

export interface OpenedCohort {
  readonly id: string;
  readonly scripts: CohortScripts;
  readonly stateUtxo: UTxO;
  readonly state: CohortState;
}

export const openCohort = async (
  lucid: Lucid,
  id: string | undefined,
  chainTxs?: () => Promise<readonly ChainTx[] | undefined>,
): Promise<OpenedCohort> => {
  const { id: seedId, seed } = await resolveCohortNames(id, chainTxs, lucid);
  const scripts = cohortScripts(lucid, loadBlueprint(), seed);
  let stateUtxo: UTxO;
  try {
    stateUtxo = await findCohortState(lucid, scripts);
  } catch (error) {
    if (isDmlError(error) && error.code === 'NO_COHORT')
      throw new DmlError('UNKNOWN_COHORT', `unknown cohort ${id}: no cohort state output on chain`, {
        hint: 'check the id and the network (DML_NETWORK, DML_DEVNET_URL)',
      });
    throw error;
  }
  return { id: seedId, scripts, stateUtxo, state: readCohortState(stateUtxo) };
};

/** Escrow outputs of this cohort (the escrow address is shared by every cohort: filter by claim token). */
export const cohortEscrows = async (lucid: Lucid, scripts: CohortScripts): Promise<UTxO[]> =>
  (await lucid.utxosAt(scripts.escrowAddress)).filter((u) => {
    if (!u.datum) return false;
    try {
      const { owner, membershipPolicy } = parseEscrowDatum(u.datum);
      return (
        membershipPolicy === scripts.membershipPolicy &&
        (u.assets[partyTokenUnits(scripts, owner).claim] ?? 0n) > 0n
      );
    } catch {
      return false;
    }
  });

export const escrowOwner = (u: UTxO): string => parseEscrowDatum(u.datum!).owner;

/** The chain's current time: the devnet's clock, else the wall clock. */
export const chainNow = async (chain: Chain): Promise<number> =>
  chain.devnet ? (await chain.devnet.info()).time : Date.now();

const firstLine = (error: unknown): string =>
  (typeof error === 'string' ? error : error instanceof Error ? error.message : String(error)).split(
    '\n',
  )[0]!;

/** Completes a built transaction; a builder's refusal (script, funds) becomes one DmlError line. */
export const completeTx = async (
  build: () => { complete(): Promise<TxComplete> },
  scripts?: CohortScripts,
): Promise<TxComplete> => {
  try {
    return await build().complete();
  } catch (error) {
    if (isDmlError(error)) throw error;
    const text = firstLine(error);
    if (/insufficient|exhausted|not enough/i.test(text))
      throw new DmlError('NO_FUNDS', `the wallet cannot pay for this transaction: ${text}`, {
        hint: 'fund the key folder`s address (on the devnet: `dml devnet fund --ada 100`)',
      });
    throw new DmlError('TX_REFUSED', `the transaction was refused when built: ${named(text, scripts)}`);
  }
};

const named = (text: string, scripts?: CohortScripts): string => {
  let out = text;
  for (const [hash, name] of Object.entries(scripts?.names ?? {})) out = out.split(hash).join(name);
  return out;
};

/** Signs with the session's wallet and any extra keys, submits, waits for it to be in a block. */
export const signAndSubmit = async (
  session: PartySession,
  tx: TxComplete,
  options: { extraKeys?: readonly string[]; scripts?: CohortScripts } = {},
): Promise<string> => {
  let signing = tx.sign();
  for (const key of options.extraKeys ?? []) signing = signing.signWithPrivateKey(key);
  const signed = await signing.complete();
  return submitSigned(session, signed.toString(), options.scripts);
};

export const submitSigned = async (
  session: PartySession,
  cbor: string,
  scripts?: CohortScripts,
): Promise<string> => {
  let hash: string;
  try {
    hash = await session.chain.provider.submitTx(cbor);
  } catch (error) {
    if (isScriptFailure(error))
      throw new DmlError('SCRIPT_FAILURE', `rejected by the chain: ${named(error.message, scripts)}`);
    if (isDmlError(error)) throw error;
    throw new DmlError('TX_REJECTED', `rejected by the chain: ${firstLine(error)}`);
  }
  await session.chain.provider.awaitTx(hash);
  return hash;
};

export const ada = (lovelace: bigint): string => {
  const whole = lovelace / 1_000_000n;
  const frac = (lovelace % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : `${whole}`;
};
