import {
  DmlError,
  type EventStore,
  EmbeddedHydraHead,
  type HeadKey,
  HeadSeat,
  HydraClient,
  type HydraUTxO,
  type LucidEmulatorLayer1,
  signCardanoTransaction,
} from '../../offchain/index.js';

/** A party as the head sees it: its Hydra key and its layer-2 key (the payment key). */
export interface HeadMember {
  readonly id: string;
  readonly hydraSk: Uint8Array;
  readonly headKey: HeadKey;
  /** The unit of the party's signal token: the output holding it is what the party commits. */
  readonly signalUnit: string;
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
    options: {
      log: EventStore;
      cohortId: string;
      layer1: LucidEmulatorLayer1;
      contestationPeriodMs?: number;
    },
  ): Promise<HeadSession> {
    const contestationPeriodMs = options.contestationPeriodMs ?? 60_000;
    const head = await EmbeddedHydraHead.start({
      parties: members.map((m) => m.hydraSk),
      contestationPeriod: contestationPeriodMs / 1000,
      layer1: options.layer1,
    });
    const first = members[0]!;
    const clients = head.endpoints.map(
      (endpoint, i) =>
        new HydraClient({
          host: endpoint.host,
          port: endpoint.port,
          backoff: { initialMs: 5, maxMs: 200 },
          defaultTimeoutMs: 120_000,
          // the first party's client keeps every output in the log (idempotent by node and seq)
          ...(i === 0
            ? { eventLog: { store: options.log, cohortId: options.cohortId, nodeId: first.id } }
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
      const signal = layer1
        .utxosAt(member.headKey.address)
        .find((u) => (u.assets[member.signalUnit] ?? 0n) > 0n);
      if (!signal)
        throw new DmlError('NO_SIGNAL_TOKEN', `${member.id} holds no signal token of this cohort to commit`);
      const value: Record<string, number | Record<string, number>> = {};
      for (const [unit, quantity] of Object.entries(signal.assets)) {
        if (unit === 'lovelace') value['lovelace'] = Number(quantity);
        else ((value[unit.slice(0, 56)] ??= {}) as Record<string, number>)[unit.slice(56)] = Number(quantity);
      }
      const draft = await client.draftCommit({
        [`${signal.txHash}#${signal.outputIndex}`]: { address: signal.address, value },
      });
      const committed = client.waitFor('Committed', (o) => o.party.vkey === head.nodes[i]!.party);
      await client.submitL1Transaction({
        cborHex: signCardanoTransaction(draft.cborHex, member.headKey.privateKey),
      });
      await committed;
    }
    await Promise.all(opened);
    this.seats = await Promise.all(
      clients.map((c, i) => HeadSeat.take(c, members[i]!.headKey, members[i]!.signalUnit)),
    );
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
    await this.head.advanceTime(this.contestationPeriodMs + 1_000);
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
