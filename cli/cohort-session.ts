import type { Lucid, OutRef, TxComplete, UTxO } from 'lucid-cardano';
import { loadBlueprint } from '../contracts/index.js';
import {
  DmlError,
  cohortScripts,
  findCohortState,
  isDmlError,
  isScriptFailure,
  parseEscrowDatum,
  partyTokenUnits,
  readCohortState,
  type CohortScripts,
  type CohortState,
} from '../offchain/index.js';
import type { Settings } from './settings.js';
import { openChain, type Chain } from './chain-provider.js';
import { loadPartyWallet, type PartyWallet } from './party-wallet.js';

/**
 * What a party's cohort command works with: the chain (devnet or a real network), the party's
 * wallet from its key folder, and a cohort found again from its id. A cohort id is the out-ref
 * of the seed output its creation spent, `TXHASH#INDEX`: the cohort token's policy is applied to
 * it, so the four scripts (and the addresses and token units) are recomputed from the id and the
 * committed blueprint, with no registry.
 */
export const COHORT_ID_FORMAT = 'TXHASH#INDEX (64 hex digits, #, the output index)';

export const parseCohortId = (id: string | undefined): OutRef => {
  const match = /^([0-9a-fA-F]{64})#(\d{1,5})$/.exec(id ?? '');
  if (!match)
    throw new DmlError('BAD_COHORT_ID', `not a cohort id: ${id ?? '(none)'}`, {
      hint: `a cohort id is ${COHORT_ID_FORMAT}, as \`dml cohort create\` prints it`,
    });
  return { txHash: match[1]!.toLowerCase(), outputIndex: Number(match[2]) };
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

export const openCohort = async (lucid: Lucid, id: string | undefined): Promise<OpenedCohort> => {
  const seed = parseCohortId(id);
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
  return { id: id!, scripts, stateUtxo, state: readCohortState(stateUtxo) };
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
