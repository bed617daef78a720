import { randomBytes } from 'node:crypto';
import { C } from 'lucid-cardano';
import { CardanoHeadLedger } from './cardano-ledger.js';
import { EmbeddedHeadChain } from './embedded-chain.js';
import { EmbeddedHydraNode } from './embedded-node.js';
import type { HeadLedger } from './head-ledger.js';
import type { HeadInput, HeadNetworkMessage } from './head-types.js';
import { LucidEmulatorLayer1, type HeadLayer1 } from './layer1.js';
import { hydraSigningKeyFromSeed, vkeyOf } from './snapshot-signing.js';

/**
 * The embedded Hydra head: N party nodes in this process, each serving hydra-node's API on its
 * own 127.0.0.1 port, connected by an in-process network that delivers every message to every
 * party (sender included) in one global order, over an emulated layer 1.
 * A node that is down (its endpoint stopped) gets its messages when it comes back.
 */
export interface EmbeddedHeadOptions {
  /** Hydra signing keys (32-byte seeds), one per party; or a number of parties to generate. */
  readonly parties: number | readonly Uint8Array[];
  readonly contestationPeriod?: number;
  /**
   * The layer 1; by default lucid's Emulator with `accounts` funded. To run the head on a chain
   * shared with other contracts, pass `LucidEmulatorLayer1.fromLucid(lucid, operatorKey)`.
   */
  readonly layer1?: HeadLayer1;
  readonly accounts?: ReadonlyArray<{ address: string; lovelace: bigint }>;
  readonly ledger?: HeadLedger;
  /**
   * The 127.0.0.1 port of each party's endpoint, in party order (0 or missing: any free port).
   * A real hydra-node keeps its URL from one head to the next; fixed ports give an embedded head
   * the same property.
   */
  readonly ports?: readonly number[];
}

export class EmbeddedHydraHead {
  private readonly queue: Array<{ to: EmbeddedHydraNode; input: HeadInput }> = [];
  private readonly inbox = new Map<EmbeddedHydraNode, HeadInput[]>();
  private scheduled = false;
  private idleWaiters: Array<() => void> = [];

  private constructor(
    readonly chain: EmbeddedHeadChain,
    readonly nodes: EmbeddedHydraNode[],
  ) {}

  static async start(options: EmbeddedHeadOptions): Promise<EmbeddedHydraHead> {
    const seeds =
      typeof options.parties === 'number'
        ? Array.from({ length: options.parties }, () => randomBytes(32))
        : options.parties;
    const contestationPeriod = options.contestationPeriod ?? 60;
    const layer1 =
      options.layer1 ??
      (await LucidEmulatorLayer1.create({
        accounts: options.accounts ?? [],
        operatorKey: C.PrivateKey.from_normal_bytes(randomBytes(32)).to_bech32(),
      }));
    const chain = new EmbeddedHeadChain(layer1);
    // The head's ledger keeps layer 1's slot clock: validity intervals mean the same in both.
    const slotConfig = layer1.slotConfig?.();
    const ledger = options.ledger ?? new CardanoHeadLedger(slotConfig ? { slotConfig } : {});
    const keys = seeds.map(hydraSigningKeyFromSeed);
    const vkeys = keys.map(vkeyOf);
    const nodes: EmbeddedHydraNode[] = [];
    const head = new EmbeddedHydraHead(chain, nodes);
    const network = {
      broadcast: (from: string, message: HeadNetworkMessage) =>
        head.broadcast({ tag: 'NetworkInput', from, message }),
    };
    keys.forEach((signingKey, i) => {
      nodes.push(
        new EmbeddedHydraNode(
          {
            party: vkeys[i]!,
            signingKey,
            otherParties: vkeys.filter((_, j) => j !== i),
            contestationPeriod,
            ledger,
          },
          network,
          chain,
        ),
      );
    });
    chain.observe((event) => head.broadcast({ tag: 'ChainInput', event }));
    await Promise.all(nodes.map((node, i) => node.listen(options.ports?.[i] ?? 0)));
    return head;
  }

  /** The WebSocket/HTTP endpoints, one per party, in party order. */
  get endpoints(): Array<{ host: string; port: number; party: string }> {
    return this.nodes.map((node) => ({ ...node.address, party: node.party }));
  }

  private readonly partitioned = new Set<EmbeddedHydraNode>();
  private readonly held = new Map<EmbeddedHydraNode, HeadInput[]>();
  private readonly partitionTriggers = new Map<string, (message: HeadNetworkMessage) => boolean>();

  private broadcast(input: HeadInput): void {
    for (const node of this.nodes) this.queue.push({ to: node, input });
    if (input.tag === 'NetworkInput') {
      const trigger = this.partitionTriggers.get(input.from);
      if (trigger?.(input.message)) {
        this.partitionTriggers.delete(input.from);
        this.partitioned.add(this.nodes.find((n) => n.party === input.from)!);
      }
    }
    this.schedule();
  }

  /**
   * Fault injection: once party `index` has sent a message matching `trigger`, messages from the
   * other parties stop reaching it (it keeps running, serving its clients and seeing the chain).
   */
  partitionAfter(index: number, trigger: (message: HeadNetworkMessage) => boolean): void {
    this.partitionTriggers.set(this.nodes[index]!.party, trigger);
  }

  heal(index: number): void {
    const node = this.nodes[index]!;
    this.partitioned.delete(node);
    const held = this.held.get(node) ?? [];
    this.held.delete(node);
    this.queue.unshift(...held.map((input) => ({ to: node, input })));
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    // Deliver what is queued now; what it causes is delivered on a later turn, so sockets and
    // HTTP get their share of the event loop.
    const batch = this.queue.splice(0, this.queue.length);
    for (const { to, input } of batch) {
      if (!to.running) {
        const pending = this.inbox.get(to) ?? [];
        pending.push(input);
        this.inbox.set(to, pending);
        continue;
      }
      if (this.partitioned.has(to) && input.tag === 'NetworkInput' && input.from !== to.party) {
        const held = this.held.get(to) ?? [];
        held.push(input);
        this.held.set(to, held);
        continue;
      }
      to.handle(input);
    }
    if (this.queue.length > 0) this.schedule();
    else {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Resolves once every queued message has been delivered (for tests and benchmarks). */
  settled(): Promise<void> {
    if (this.queue.length === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops a party's endpoint (its node is down: messages to it wait). */
  async stopParty(index: number): Promise<void> {
    await this.nodes[index]!.stop();
  }

  /** Restarts a party: state rebuilt from its persisted state changes, then the waiting messages. */
  async restartParty(index: number): Promise<void> {
    const node = this.nodes[index]!;
    await node.restart();
    const pending = this.inbox.get(node) ?? [];
    this.inbox.delete(node);
    this.queue.unshift(...pending.map((input) => ({ to: node, input })));
    this.schedule();
  }

  /**
   * Advances layer-1 time (contestation deadlines) and lets the nodes observe it; resolves once
   * observed. Tests drive time, nothing sleeps.
   */
  advanceTime(ms: number): Promise<void> {
    return this.chain.advanceTime(ms);
  }

  /**
   * Observes layer 1 now: call it after the shared chain moved without the head (a block, a
   * commit submitted directly to the emulator).
   */
  syncChain(): Promise<void> {
    return this.chain.sync();
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}
