import { randomBytes } from 'node:crypto';
import { aggregateHead, confirmedSnapshotNumber, confirmedSnapshotUTxO, updateHead } from '../head-logic.js';
import type { HeadLedger, HeadUTxO } from '../head-ledger.js';
import type {
  ConfirmedSnapshot,
  HeadEffect,
  HeadEnvironment,
  HeadInput,
  HeadParameters,
  HeadState,
  HeadStateChanged,
} from '../head-types.js';
import { hydraSigningKeyFromSeed, verifyMultiSignature, vkeyOf } from '../snapshot-signing.js';

/**
 * A pure, single-threaded run of N nodes of the head logic: one global FIFO of deliveries
 * (every network message reaches every party, sender included, in the same order) and a fake
 * layer 1 that checks what the head validators check (multi-signatures, deadlines).
 * Used by the property tests; the real network and chain are in embedded-*.ts.
 */
export interface SimulatedNode {
  readonly env: HeadEnvironment;
  state: HeadState;
  readonly changes: HeadStateChanged[];
  readonly effects: HeadEffect[];
  waiting: HeadInput[];
  /** A node that stopped acknowledging: it processes everything but its AckSn are dropped. */
  silent: boolean;
}

export interface SimulatedChain {
  time: number;
  headId?: string;
  parameters?: HeadParameters;
  opened: boolean;
  closed?: { snapshotNumber: number; deadline: number; utxo: HeadUTxO };
  final?: HeadUTxO;
}

export class HeadSimulation {
  readonly nodes: SimulatedNode[];
  readonly chain: SimulatedChain = { time: 1_000_000, opened: false };
  private readonly queue: Array<{ to: number; input: HeadInput }> = [];

  constructor(
    readonly ledger: HeadLedger,
    partyCount: number,
    readonly contestationPeriod = 60,
  ) {
    const keys = Array.from({ length: partyCount }, () => hydraSigningKeyFromSeed(randomBytes(32)));
    const vkeys = keys.map(vkeyOf);
    this.nodes = keys.map((signingKey, i) => ({
      env: {
        party: vkeys[i]!,
        signingKey,
        otherParties: vkeys.filter((_, j) => j !== i),
        contestationPeriod,
        ledger,
      },
      state: { tag: 'Idle' },
      changes: [],
      effects: [],
      waiting: [],
      silent: false,
    }));
  }

  get parties(): string[] {
    return this.nodes.map((n) => n.env.party);
  }

  send(to: number, input: HeadInput): void {
    this.queue.push({ to, input });
  }

  broadcastChain(event: Extract<HeadInput, { tag: 'ChainInput' }>['event']): void {
    this.nodes.forEach((_, i) => this.send(i, { tag: 'ChainInput', event }));
  }

  commit(party: number, utxo: HeadUTxO): void {
    if (!this.chain.headId || this.chain.opened) return;
    this.broadcastChain({
      tag: 'OnCommitTx',
      headId: this.chain.headId,
      party: this.parties[party]!,
      committed: utxo,
    });
  }

  tick(ms: number): void {
    this.chain.time += ms;
    this.broadcastChain({ tag: 'Tick', chainTime: this.chain.time });
  }

  /** Delivers everything queued (and everything that follows from it). */
  run(maxSteps = 100_000): void {
    let steps = 0;
    while (this.queue.length > 0) {
      if (++steps > maxSteps) throw new Error('simulation does not settle');
      const { to, input } = this.queue.shift()!;
      this.step(to, input);
    }
  }

  /** Hook for invariant checks: called after every processed input. */
  onStep: (
    node: SimulatedNode,
    before: HeadState,
    changes: readonly HeadStateChanged[],
    effects: readonly HeadEffect[],
  ) => void = () => undefined;

  private step(index: number, input: HeadInput): void {
    const node = this.nodes[index]!;
    const before = node.state;
    const outcome = updateHead(node.env, node.state, input);
    if (outcome.tag === 'Wait') {
      node.waiting.push(input);
      return;
    }
    if (outcome.tag === 'Error') {
      this.onStep(node, before, [], []);
      return;
    }
    for (const change of outcome.stateChanges) node.state = aggregateHead(node.state, change);
    node.changes.push(...outcome.stateChanges);
    node.effects.push(...outcome.effects);
    this.onStep(node, before, outcome.stateChanges, outcome.effects);
    for (const effect of outcome.effects) this.perform(index, effect);
    if (outcome.stateChanges.length > 0 && node.waiting.length > 0) {
      const retry = node.waiting;
      node.waiting = [];
      for (const waiting of retry) this.step(index, waiting);
    }
  }

  private perform(from: number, effect: HeadEffect): void {
    const node = this.nodes[from]!;
    switch (effect.tag) {
      case 'ClientEffect':
        return;
      case 'NetworkEffect':
        if (node.silent && effect.message.tag === 'AckSn') return;
        this.nodes.forEach((_, i) =>
          this.send(i, { tag: 'NetworkInput', from: node.env.party, message: effect.message }),
        );
        return;
      case 'OnChainEffect':
        this.postTx(effect.postChainTx);
    }
  }

  private validSnapshot(confirmed: ConfirmedSnapshot): boolean {
    if (confirmed.tag === 'InitialSnapshot') return true;
    return verifyMultiSignature(this.chain.parameters!.parties, confirmed.snapshot, confirmed.signatures);
  }

  private postTx(tx: Extract<HeadEffect, { tag: 'OnChainEffect' }>['postChainTx']): void {
    const chain = this.chain;
    switch (tx.tag) {
      case 'InitTx': {
        if (chain.headId) return;
        chain.headId = randomBytes(16).toString('hex');
        chain.parameters = tx.parameters;
        this.broadcastChain({
          tag: 'OnInitTx',
          headId: chain.headId,
          headSeed: '00'.repeat(16),
          parameters: tx.parameters,
        });
        return;
      }
      case 'AbortTx':
        if (chain.opened || chain.final) return;
        chain.final = {};
        this.broadcastChain({ tag: 'OnAbortTx', headId: tx.headId });
        return;
      case 'CollectComTx':
        if (chain.opened || chain.final) return;
        chain.opened = true;
        this.broadcastChain({ tag: 'OnCollectComTx', headId: tx.headId });
        return;
      case 'CloseTx': {
        if (!chain.opened || chain.closed || !this.validSnapshot(tx.confirmedSnapshot)) return;
        const deadline = chain.time + this.contestationPeriod * 1000;
        chain.closed = {
          snapshotNumber: confirmedSnapshotNumber(tx.confirmedSnapshot),
          deadline,
          utxo: confirmedSnapshotUTxO(tx.confirmedSnapshot),
        };
        this.broadcastChain({
          tag: 'OnCloseTx',
          headId: tx.headId,
          snapshotNumber: chain.closed.snapshotNumber,
          contestationDeadline: deadline,
        });
        return;
      }
      case 'ContestTx': {
        const closed = chain.closed;
        const number = confirmedSnapshotNumber(tx.confirmedSnapshot);
        if (!closed || chain.final || chain.time > closed.deadline || number <= closed.snapshotNumber) return;
        if (!this.validSnapshot(tx.confirmedSnapshot)) return;
        chain.closed = {
          ...closed,
          snapshotNumber: number,
          utxo: confirmedSnapshotUTxO(tx.confirmedSnapshot),
        };
        this.broadcastChain({
          tag: 'OnContestTx',
          headId: tx.headId,
          snapshotNumber: number,
          contestationDeadline: closed.deadline,
        });
        return;
      }
      case 'FanoutTx':
        if (!chain.closed || chain.final || chain.time <= chain.closed.deadline) return;
        chain.final = chain.closed.utxo;
        this.broadcastChain({ tag: 'OnFanoutTx', headId: tx.headId, utxo: chain.final });
        return;
    }
  }
}
