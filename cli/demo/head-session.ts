import {
  type EventStore,
  EmbeddedHydraHead,
  type HeadKey,
  HeadSeat,
  HydraClient,
  type HydraUTxO,
  type LucidEmulatorLayer1,
  headStream,
  hydraOutputEvent,
  partyStream,
  signCardanoTransaction,
} from '../../offchain/index.js';

/** A party as the head sees it: its Hydra key and its layer-2 key (the payment key). */
export interface HeadMember {
  readonly id: string;
  readonly hydraSk: Uint8Array;
  readonly headKey: HeadKey;
}

/**
 * One epoch's Hydra head, embedded: a node per party on 127.0.0.1, one client per party, every
 * server output the first party's client receives recorded in the event log as it arrives.
 * `open()` runs Init, each party's Commit (drafted over HTTP, signed by the party, submitted to
 * layer 1) and waits for HeadIsOpen; `closeAndFanout()` closes with the last confirmed snapshot,
 * lets the contestation period pass and fans out.
 */
export class HeadSession {
  headId = '';
  seats: HeadSeat[] = [];

  private constructor(
    readonly head: EmbeddedHydraHead,
    readonly clients: HydraClient[],
    private readonly members: readonly HeadMember[],
    private readonly contestationPeriodMs: number,
  ) {}

  static async start(
    members: readonly HeadMember[],
    options: { log: EventStore; cohortId: string; contestationPeriodMs?: number },
  ): Promise<HeadSession> {
    const contestationPeriodMs = options.contestationPeriodMs ?? 60_000;
    const head = await EmbeddedHydraHead.start({
      parties: members.map((m) => m.hydraSk),
      contestationPeriod: contestationPeriodMs / 1000,
      accounts: members.map((m) => ({ address: m.headKey.address, lovelace: 20_000_000n })),
    });
    const first = members[0]!;
    const clients = head.endpoints.map(
      (endpoint, i) =>
        new HydraClient({
          host: endpoint.host,
          port: endpoint.port,
          backoff: { initialMs: 5, maxMs: 200 },
          defaultTimeoutMs: 120_000,
          ...(i === 0
            ? {
                sink: async ({ output }: { output: { tag: string; headId?: string } }) => {
                  const stream = output.headId
                    ? headStream(output.headId)
                    : partyStream(options.cohortId, first.id);
                  await options.log.append(stream, [hydraOutputEvent(options.cohortId, output)], {
                    expectedVersion: 'any',
                  });
                },
              }
            : {}),
        }),
    );
    await Promise.all(clients.map((c) => c.connect()));
    return new HeadSession(head, clients, members, contestationPeriodMs);
  }

  async open(): Promise<void> {
    const { clients, head, members } = this;
    const opened = clients.map((c) => c.awaitHeadIsOpen());
    const [initialised] = await Promise.all([
      clients[0]!.init(),
      ...clients.slice(1).map((c) => c.waitFor('HeadIsInitializing')),
    ]);
    this.headId = initialised.headId;
    const layer1 = head.chain.layer1 as LucidEmulatorLayer1;
    for (const [i, client] of clients.entries()) {
      const member = members[i]!;
      const utxos = await layer1.emulator.getUtxos(member.headKey.address);
      const draft = await client.draftCommit(
        Object.fromEntries(
          utxos.map((u) => [
            `${u.txHash}#${u.outputIndex}`,
            { address: u.address, value: { lovelace: Number(u.assets['lovelace']) } },
          ]),
        ),
      );
      const committed = client.waitFor('Committed', (o) => o.party.vkey === head.nodes[i]!.party);
      await client.submitL1Transaction({
        cborHex: signCardanoTransaction(draft.cborHex, member.headKey.privateKey),
      });
      await committed;
    }
    await Promise.all(opened);
    this.seats = await Promise.all(clients.map((c, i) => HeadSeat.take(c, members[i]!.headKey)));
  }

  seatOf(id: string): HeadSeat {
    const i = this.members.findIndex((m) => m.id === id);
    return this.seats[i]!;
  }

  snapshotUtxo(): Promise<HydraUTxO> {
    return this.clients[0]!.getSnapshotUtxo();
  }

  /** Close with the last confirmed snapshot, wait out the contestation period, fan out. */
  async closeAndFanout(by = 0): Promise<{ utxoCount: number }> {
    const closer = this.clients[by]!;
    await closer.closeHead();
    const ready = closer.waitFor('ReadyToFanout');
    this.head.advanceTime(this.contestationPeriodMs + 1_000);
    await ready;
    const finalized = await closer.fanout();
    return { utxoCount: Object.keys(finalized.utxo ?? {}).length };
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.flushed()));
    await Promise.all(this.clients.map((c) => c.disconnect()));
    await this.head.close();
  }
}
