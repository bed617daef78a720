import { randomBytes } from 'node:crypto';
import { DmlError } from '../errors.js';
import { unionUTxO, type HeadUTxO } from './head-ledger.js';
import { confirmedSnapshotNumber, confirmedSnapshotUTxO } from './head-logic.js';
import type { ConfirmedSnapshot, HeadChainEvent, HeadParameters, PostChainTx } from './head-types.js';
import type { HeadLayer1 } from './layer1.js';
import { verifyMultiSignature } from './snapshot-signing.js';

/**
 * The Head's on-chain part for the embedded head: what hydra's Head scripts enforce
 * (init, commit, collect, abort, close with a multi-signed snapshot, contest with a newer one
 * before the deadline, fanout after it), kept by this object over a layer 1. Commits, aborts
 * and fanouts are real layer-1 transactions (funds move into and out of custody); init,
 * collect, close and contest are recorded here, with the same checks the scripts make.
 * Chain time is driven by `advanceTime`, never by the wall clock.
 */
interface HeadOnChain {
  readonly headId: string;
  readonly parameters: HeadParameters;
  status: 'Initial' | 'Open' | 'Closed' | 'Final';
  committed: Map<string, HeadUTxO>;
  custody: string[];
  closed?: { snapshotNumber: number; deadline: number; utxo: HeadUTxO };
}

export type ChainObserver = (event: HeadChainEvent) => void;

export class EmbeddedHeadChain {
  private readonly heads = new Map<string, HeadOnChain>();
  private readonly drafts = new Map<
    string,
    { headId: string; party: string; utxo: HeadUTxO; custodyTxIn: string }
  >();
  private readonly observers: ChainObserver[] = [];
  private time: number;
  /** Rejections of posted transactions, most recent last (hydra reports them as PostTxOnChainFailed). */
  readonly rejections: Array<{ tx: PostChainTx['tag']; reason: string }> = [];

  constructor(readonly layer1: HeadLayer1) {
    this.time = layer1.now();
  }

  now(): number {
    return this.time;
  }

  observe(observer: ChainObserver): void {
    this.observers.push(observer);
  }

  private emit(event: HeadChainEvent): void {
    for (const observer of this.observers) observer(event);
  }

  advanceTime(ms: number): void {
    this.time += ms;
    this.emit({ tag: 'Tick', chainTime: this.time });
  }

  head(headId: string): HeadOnChain | undefined {
    return this.heads.get(headId);
  }

  /** POST /commit: draft the commit of `utxo` (L1 output references) by `party`. */
  async draftCommit(
    headId: string,
    party: string,
    txIns: readonly string[],
  ): Promise<{ cborHex: string; txId: string }> {
    const head = this.heads.get(headId);
    if (!head || head.status !== 'Initial')
      throw new DmlError('HYDRA_NOT_INITIALIZING', 'the head is not initializing');
    if (head.committed.has(party))
      throw new DmlError('HYDRA_ALREADY_COMMITTED', 'this party has committed already');
    const utxo = await this.layer1.resolve(txIns);
    const draft = await this.layer1.draftCommit(headId, utxo);
    this.drafts.set(draft.txId, { headId, party, utxo, custodyTxIn: draft.custodyTxIn });
    return { cborHex: draft.cborHex, txId: draft.txId };
  }

  /** POST /cardano-transaction: submit to layer 1; a submitted commit draft is observed as a commit. */
  async submit(cborHex: string): Promise<string> {
    const txId = await this.layer1.submit(cborHex);
    const draft = this.drafts.get(txId);
    if (draft) {
      this.drafts.delete(txId);
      const head = this.heads.get(draft.headId);
      if (head && head.status === 'Initial' && !head.committed.has(draft.party)) {
        head.committed.set(draft.party, draft.utxo);
        head.custody.push(draft.custodyTxIn);
        this.emit({ tag: 'OnCommitTx', headId: head.headId, party: draft.party, committed: draft.utxo });
      }
    }
    return txId;
  }

  private reject(tx: PostChainTx, reason: string): string {
    this.rejections.push({ tx: tx.tag, reason });
    return reason;
  }

  private validSnapshot(head: HeadOnChain, confirmed: ConfirmedSnapshot): boolean {
    if (confirmed.tag === 'InitialSnapshot') return true;
    return (
      confirmed.snapshot.headId === head.headId &&
      verifyMultiSignature(head.parameters.parties, confirmed.snapshot, confirmed.signatures)
    );
  }

  /** A node posts a transaction (an `OnChainEffect`); resolves with the reason if the chain rejects it. */
  async post(tx: PostChainTx): Promise<string | undefined> {
    if (tx.tag === 'InitTx') {
      const headId = randomBytes(16).toString('hex');
      this.heads.set(headId, {
        headId,
        parameters: tx.parameters,
        status: 'Initial',
        committed: new Map(),
        custody: [],
      });
      this.emit({
        tag: 'OnInitTx',
        headId,
        headSeed: randomBytes(16).toString('hex'),
        parameters: tx.parameters,
      });
      return undefined;
    }
    const head = this.heads.get(tx.headId);
    if (!head) return this.reject(tx, 'unknown head');
    switch (tx.tag) {
      case 'CollectComTx':
        if (head.status !== 'Initial') return undefined; // another party collected first
        if (head.committed.size !== head.parameters.parties.length)
          return this.reject(tx, 'not every party committed');
        head.status = 'Open';
        this.emit({ tag: 'OnCollectComTx', headId: head.headId });
        return undefined;
      case 'AbortTx': {
        if (head.status !== 'Initial') return this.reject(tx, 'the head is not initializing');
        head.status = 'Final';
        if (head.custody.length > 0)
          await this.layer1.payOut(head.custody, unionUTxO([...head.committed.values()]));
        this.emit({ tag: 'OnAbortTx', headId: head.headId });
        return undefined;
      }
      case 'CloseTx': {
        if (head.status !== 'Open') return this.reject(tx, 'the head is not open');
        if (!this.validSnapshot(head, tx.confirmedSnapshot))
          return this.reject(tx, 'snapshot not signed by every party');
        const deadline = this.time + head.parameters.contestationPeriod * 1000;
        head.status = 'Closed';
        head.closed = {
          snapshotNumber: confirmedSnapshotNumber(tx.confirmedSnapshot),
          deadline,
          utxo: confirmedSnapshotUTxO(tx.confirmedSnapshot),
        };
        this.emit({
          tag: 'OnCloseTx',
          headId: head.headId,
          snapshotNumber: head.closed.snapshotNumber,
          contestationDeadline: deadline,
        });
        return undefined;
      }
      case 'ContestTx': {
        const closed = head.closed;
        if (head.status !== 'Closed' || !closed) return this.reject(tx, 'the head is not closed');
        if (this.time > closed.deadline) return this.reject(tx, 'contestation deadline passed');
        const number = confirmedSnapshotNumber(tx.confirmedSnapshot);
        if (number <= closed.snapshotNumber) return undefined; // someone contested with this snapshot or a newer one
        if (!this.validSnapshot(head, tx.confirmedSnapshot))
          return this.reject(tx, 'snapshot not signed by every party');
        head.closed = {
          ...closed,
          snapshotNumber: number,
          utxo: confirmedSnapshotUTxO(tx.confirmedSnapshot),
        };
        this.emit({
          tag: 'OnContestTx',
          headId: head.headId,
          snapshotNumber: number,
          contestationDeadline: closed.deadline,
        });
        return undefined;
      }
      case 'FanoutTx': {
        const closed = head.closed;
        if (head.status !== 'Closed' || !closed) return this.reject(tx, 'the head is not closed');
        if (this.time <= closed.deadline) return this.reject(tx, 'before the contestation deadline');
        head.status = 'Final';
        await this.layer1.payOut(head.custody, closed.utxo);
        this.emit({ tag: 'OnFanoutTx', headId: head.headId, utxo: closed.utxo });
        return undefined;
      }
    }
  }
}
