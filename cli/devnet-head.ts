import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { devnetHeadLayer1, EmbeddedHydraHead, readPartyKeys, type DevnetLedger } from '../offchain/index.js';
import type { HeadEndpointState } from './devnet-process.js';

/**
 * The embedded Hydra head run by the devnet process: one hydra-node API endpoint per party (by
 * its key folder's Hydra key), over the devnet's layer 1 (commits and fanouts are devnet
 * transactions), its chain clock moved with the devnet's. The head's own state lives in the
 * process: a `down` ends the head (see design_docs/node.md, "Devnet").
 *
 * Each party's endpoint keeps its port from one head to the next (as a real hydra-node keeps its
 * URL): with `portsFile`, the port each party's Hydra key was served on is remembered there and
 * asked for again by the next head (any free port when it is taken or new); `ports` fixes them.
 */
export interface DevnetHead {
  readonly state: { readonly contestationPeriod: number; readonly parties: readonly HeadEndpointState[] };
  close(): Promise<void>;
}

/** Hydra verification key (hex) -> the port its endpoint was served on. */
const readPorts = (file: string | undefined): Record<string, number> => {
  if (!file || !existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
};

export const startDevnetHead = async (
  ledger: DevnetLedger,
  options: {
    keyDirs: readonly string[];
    contestationPeriod: number;
    /** The port of each party's endpoint, in `keyDirs` order (0: any free port). */
    ports?: readonly number[];
    /** Where each party's port is remembered from one head to the next. */
    portsFile?: string;
  },
): Promise<DevnetHead> => {
  const dirs = options.keyDirs.map((d) => resolve(d));
  const keys = await Promise.all(dirs.map((d) => readPartyKeys(d)));
  const vkeys = keys.map((k) => Buffer.from(k.hydraVerificationKey).toString('hex'));
  const remembered = readPorts(options.portsFile);
  const wanted = vkeys.map((vk, i) => options.ports?.[i] ?? remembered[vk] ?? 0);
  const layer1 = await devnetHeadLayer1(ledger);
  const start = (ports: readonly number[]) =>
    EmbeddedHydraHead.start({
      parties: keys.map((k) => k.hydraSigningKey),
      contestationPeriod: options.contestationPeriod,
      layer1,
      ports,
    });
  // a remembered port that another program took since: any free port (the party reads the new URL)
  const head = await start(wanted).catch((error: unknown) => {
    if (options.ports || wanted.every((p) => p === 0)) throw error;
    return start(wanted.map(() => 0));
  });
  if (options.portsFile) {
    const ports = { ...remembered };
    head.endpoints.forEach((e, i) => (ports[vkeys[i]!] = e.port));
    writeFileSync(options.portsFile, JSON.stringify(ports, null, 2) + '\n');
  }
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
