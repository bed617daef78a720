import { randomBytes } from 'node:crypto';
import { HydraClient } from './client.js';
import { headKeyFromSeed, type HeadKey } from './cardano-head-tx.js';
import { EmbeddedHydraHead } from './embedded-head.js';
import { LucidEmulatorLayer1, signCardanoTransaction } from './layer1.js';
import type { HydraServerOutput } from './messages.js';

/**
 * An embedded head with N parties, each with a funded layer-1 key and a client connected to its
 * endpoint; `open()` runs init, commit (drafted over HTTP, signed, submitted) and waits for open.
 */
export interface EmbeddedHeadWithClients {
  readonly head: EmbeddedHydraHead;
  readonly clients: HydraClient[];
  readonly users: HeadKey[];
  /** Outputs each client received, in order (what an event log would hold). */
  readonly received: HydraServerOutput[][];
  open(): Promise<HydraServerOutput & { tag: 'HeadIsOpen' }>;
  stop(): Promise<void>;
}

export const startEmbeddedHeadWithClients = async (
  parties: number,
  options: {
    contestationPeriod?: number;
    lovelace?: bigint;
    /**
     * Run on this layer 1 (e.g. `LucidEmulatorLayer1.fromLucid(lucid, operatorKey)` over the
     * chain that carries the cohort contracts); its operator funds the users. Default: a fresh
     * emulator with the users funded at genesis.
     */
    layer1?: LucidEmulatorLayer1;
  } = {},
): Promise<EmbeddedHeadWithClients> => {
  const users = Array.from({ length: parties }, () => headKeyFromSeed(randomBytes(32)));
  const lovelace = options.lovelace ?? 100_000_000n;
  const given = options.layer1;
  if (given) for (const user of users) await given.fund(user.address, lovelace);
  const head = await EmbeddedHydraHead.start({
    parties,
    contestationPeriod: options.contestationPeriod ?? 60,
    ...(given ? { layer1: given } : { accounts: users.map((u) => ({ address: u.address, lovelace })) }),
  });
  const received: HydraServerOutput[][] = users.map(() => []);
  const clients = head.endpoints.map(
    (endpoint, i) =>
      new HydraClient({
        host: endpoint.host,
        port: endpoint.port,
        sink: ({ output }) => void received[i]!.push(output),
        backoff: { initialMs: 5, maxMs: 100 },
        defaultTimeoutMs: 60_000,
      }),
  );
  await Promise.all(clients.map((c) => c.connect()));
  const layer1 = head.chain.layer1 as LucidEmulatorLayer1;

  const open = async () => {
    const opened = clients.map((c) => c.awaitHeadIsOpen());
    await Promise.all([clients[0]!.init(), ...clients.slice(1).map((c) => c.waitFor('HeadIsInitializing'))]);
    for (const [i, client] of clients.entries()) {
      const utxos = layer1.utxosAt(users[i]!.address);
      const utxoToCommit = Object.fromEntries(
        utxos.map((u) => [
          `${u.txHash}#${u.outputIndex}`,
          { address: u.address, value: { lovelace: Number(u.assets['lovelace']) } },
        ]),
      );
      const draft = await client.draftCommit(utxoToCommit);
      const committed = client.waitFor('Committed', (o) => o.party.vkey === head.nodes[i]!.party);
      await client.submitL1Transaction({
        cborHex: signCardanoTransaction(draft.cborHex, users[i]!.privateKey),
      });
      await committed;
    }
    const [first] = await Promise.all(opened);
    return first!;
  };

  return {
    head,
    clients,
    users,
    received,
    open,
    stop: async () => {
      await Promise.all(clients.map((c) => c.disconnect()));
      await head.close();
    },
  };
};
