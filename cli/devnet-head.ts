import { resolve } from 'node:path';
import { devnetHeadLayer1, EmbeddedHydraHead, readPartyKeys, type DevnetLedger } from '../offchain/index.js';
import type { HeadEndpointState } from './devnet-process.js';

/**
 * The embedded Hydra head run by the devnet process: one hydra-node API endpoint per party (by
 * its key folder's Hydra key), over the devnet's layer 1 (commits and fanouts are devnet
 * transactions), its chain clock moved with the devnet's. The head's own state lives in the
 * process: a `down` ends the head (see design_docs/node.md, "Devnet").
 */
export interface DevnetHead {
  readonly state: { readonly contestationPeriod: number; readonly parties: readonly HeadEndpointState[] };
  close(): Promise<void>;
}

export const startDevnetHead = async (
  ledger: DevnetLedger,
  options: { keyDirs: readonly string[]; contestationPeriod: number },
): Promise<DevnetHead> => {
  const dirs = options.keyDirs.map((d) => resolve(d));
  const keys = await Promise.all(dirs.map((d) => readPartyKeys(d)));
  const layer1 = await devnetHeadLayer1(ledger);
  const head = await EmbeddedHydraHead.start({
    parties: keys.map((k) => k.hydraSigningKey),
    contestationPeriod: options.contestationPeriod,
    layer1,
  });
  // the devnet moved its clock: the head observes layer 1 again (deadlines, fanout)
  ledger.onAdvance = () => void head.syncChain();
  return {
    state: {
      contestationPeriod: options.contestationPeriod,
      parties: head.endpoints.map((e, i) => ({
        keys: dirs[i]!,
        party: e.party,
        url: `ws://${e.host}:${e.port}`,
      })),
    },
    close: () => head.close(),
  };
};
