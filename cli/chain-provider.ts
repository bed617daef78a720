import { resolve } from 'node:path';
import { Blockfrost, Kupmios, Lucid, type Network, type Provider } from 'lucid-cardano';
import { DevnetProvider, DmlError } from '../offchain/index.js';
import type { Settings } from './settings.js';
import { readDevnetState, runningPid } from './devnet-process.js';

/**
 * The layer 1 a party's command talks to, chosen by settings:
 * - `DML_NETWORK=devnet` (default): the local devnet, at `DML_DEVNET_URL` or at the URL that the
 *   running devnet recorded in its folder (`DML_DEVNET_DIR/devnet.json`).
 * - `preprod`, `preview`, `mainnet`: Kupmios when `DML_KUPO_URL` and `DML_OGMIOS_URL` are set,
 *   else Blockfrost (`DML_BLOCKFROST_URL`, `DML_BLOCKFROST_PROJECT_ID`). This path is thin and
 *   untested here (no network); it is lucid's own providers, nothing more.
 */
export interface Chain {
  readonly lucid: Lucid;
  readonly provider: Provider;
  /** Set when the chain is the devnet (its clock and faucet). */
  readonly devnet: DevnetProvider | undefined;
  readonly networkId: number;
}

export const devnetUrl = (settings: Settings): string => {
  if (settings.devnetUrl) return settings.devnetUrl;
  const dir = resolve(settings.devnetDir ?? '.dml/devnet');
  const state = runningPid(dir) !== undefined ? readDevnetState(dir) : undefined;
  if (!state)
    throw new DmlError('DEVNET_NOT_RUNNING', `no devnet is running in ${dir}`, {
      hint: 'start it with `dml devnet up`, or set DML_DEVNET_URL',
    });
  return state.url;
};

const NETWORKS: Record<string, Network> = { preprod: 'Preprod', preview: 'Preview', mainnet: 'Mainnet' };

export const openChain = async (settings: Settings): Promise<Chain> => {
  const network = settings.network ?? 'devnet';
  if (network === 'devnet') {
    const devnet = new DevnetProvider(devnetUrl(settings));
    return { lucid: await devnet.lucid(), provider: devnet, devnet, networkId: 0 };
  }
  const lucidNetwork = NETWORKS[network];
  if (!lucidNetwork)
    throw new DmlError('BAD_NETWORK', `unknown network "${network}"`, {
      hint: 'DML_NETWORK is devnet, preprod, preview or mainnet',
    });
  let provider: Provider;
  if (settings.kupoUrl && settings.ogmiosUrl) provider = new Kupmios(settings.kupoUrl, settings.ogmiosUrl);
  else if (settings.blockfrostUrl)
    provider = new Blockfrost(settings.blockfrostUrl, settings.blockfrostProjectId);
  else
    throw new DmlError('NO_PROVIDER', `network ${network} needs a provider`, {
      hint: 'set DML_KUPO_URL and DML_OGMIOS_URL, or DML_BLOCKFROST_URL and DML_BLOCKFROST_PROJECT_ID',
    });
  return {
    lucid: await Lucid.new(provider, lucidNetwork),
    provider,
    devnet: undefined,
    networkId: network === 'mainnet' ? 1 : 0,
  };
};
