import { createHash } from 'node:crypto';
import { DmlError, isDmlError } from '../errors.js';
import { unionUTxO, type HeadUTxO } from './head-ledger.js';
import {
  decodeHeadCustodyDatum,
  encodeHeadCustodyDatum,
  type HeadCommitDatum,
  type HeadStateDatum,
} from './head-datum.js';
import { confirmedSnapshotNumber, confirmedSnapshotUTxO } from './head-logic.js';
import type { ConfirmedSnapshot, HeadChainEvent, PostChainTx } from './head-types.js';
import type { HeadLayer1 } from './layer1.js';
import { utxoHash, verifyMultiSignature } from './snapshot-signing.js';

/**
 * The Head's on-chain part for the embedded head. Every lifecycle step is a layer-1
 * transaction on the custody address (see head-datum.ts for the datums):
 *
 *   Init        consumes a seed output of the operator (head id = hash of it), creates the head
 *               output with `Initial`
 *   Commit      (drafted for the user) spends the user's outputs into a commit output
 *   CollectCom  spends the head output and every commit output into one head output `Open`
 *   Abort       spends them and pays every committed output back as it was
 *   Close       spends `Open`, creates `Closed` (snapshot number, UTxO hash, deadline, no contesters)
 *   Contest     spends `Closed`, creates `Closed` with the newer snapshot; the deadline moves by
 *               one contestation period unless every party has now contested (as hydra 1.3.0)
 *   Fanout      spends `Closed` after the deadline and pays the snapshot's UTxO out
 *
 * Before posting, this object checks what hydra's Head scripts would (it stands in for them:
 * custody is a key, not a script). The nodes learn of a step only by observing layer 1: after
 * every transaction, on `sync()` and on `advanceTime`, it reads the custody address, decodes the
 * datums and turns the differences into `OnChainEvent`s, then a `Tick` with layer 1's time.
 */
export type ChainObserver = (event: HeadChainEvent) => void;

interface TrackedHead {
  state?: HeadStateDatum;
  ref?: string;
  readonly commitsSeen: Set<string>;
  final: boolean;
}

interface HeadView {
  head?: { txIn: string; datum: HeadStateDatum };
  commits: Array<{ txIn: string; datum: HeadCommitDatum }>;
}

/** The head id: 28 bytes (the size of a policy id) hashed from the seed output it consumed. */
export const headIdOfSeed = (seed: string): string =>
  createHash('sha256')
    .update('qlora-dml/hydra-head-id/v1')
    .update(seed)
    .digest()
    .subarray(0, 28)
    .toString('hex');

/** An output reference as bytes: the transaction id then the index (4 bytes, big-endian). */
const seedBytes = (txIn: string): string => {
  const [txHash, index] = txIn.split('#');
  return txHash! + Number(index).toString(16).padStart(8, '0');
};

const hashHex = (utxo: HeadUTxO): string => utxoHash(utxo).toString('hex');

export class EmbeddedHeadChain {
  private readonly tracked = new Map<string, TrackedHead>();
  /** UTxOs of snapshots this chain posted, by hash (the datum holds only the hash, as hydra's). */
  private readonly utxoByHash = new Map<string, HeadUTxO>();
  private readonly observers: ChainObserver[] = [];
  private lastTime: number;
  private queue: Promise<unknown> = Promise.resolve();
  /** Rejections of posted transactions, most recent last (hydra reports them as PostTxOnChainFailed). */
  readonly rejections: Array<{ tx: PostChainTx['tag']; reason: string }> = [];
  /** Layer-1 transactions this chain posted, in order. */
  readonly posted: Array<{ tx: PostChainTx['tag']; txId: string }> = [];

  constructor(readonly layer1: HeadLayer1) {
    this.lastTime = layer1.now();
  }

  now(): number {
    return this.layer1.now();
  }

  observe(observer: ChainObserver): void {
    this.observers.push(observer);
  }

  private emitted = 0;

  private emit(event: HeadChainEvent): void {
    this.emitted++;
    for (const observer of this.observers) observer(event);
  }

  /** One layer-1 operation at a time: posts, submissions and observations never interleave. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Lets layer-1 time pass, then observes it (tests drive time, nothing sleeps). */
  advanceTime(ms: number): Promise<void> {
    this.layer1.advance(ms);
    return this.sync();
  }

  /** Observes layer 1 now (after someone else moved it: another transaction, a new block). */
  sync(): Promise<void> {
    return this.serial(() => this.observeLayer1());
  }

  /** The head's on-chain state as last observed (for tests and status). */
  onChainState(headId: string): HeadStateDatum | undefined {
    return this.tracked.get(headId)?.state;
  }

  private async view(headId: string): Promise<HeadView> {
    const view: HeadView = { commits: [] };
    for (const output of await this.layer1.custodyOutputs()) {
      const datum = output.datum ? decodeHeadCustodyDatum(output.datum) : undefined;
      if (!datum || datum.headId !== headId) continue;
      if (datum.state === 'Commit') view.commits.push({ txIn: output.txIn, datum });
      else view.head = { txIn: output.txIn, datum };
    }
    return view;
  }

  private async observeLayer1(): Promise<void> {
    const emittedBefore = this.emitted;
    const outputs = await this.layer1.custodyOutputs();
    const decoded = outputs.flatMap((o) => {
      const datum = o.datum ? decodeHeadCustodyDatum(o.datum) : undefined;
      return datum ? [{ txIn: o.txIn, datum }] : [];
    });
    for (const { datum } of decoded)
      if (datum.state === 'Initial' && !this.tracked.has(datum.headId))
        this.tracked.set(datum.headId, { commitsSeen: new Set(), final: false });
    for (const [headId, head] of this.tracked) {
      if (head.final) continue;
      const current = decoded.find((d) => d.datum.headId === headId && d.datum.state !== 'Commit') as
        { txIn: string; datum: HeadStateDatum } | undefined;
      if (!head.state) {
        if (current?.datum.state !== 'Initial') continue;
        const { datum } = current;
        this.emit({
          tag: 'OnInitTx',
          headId,
          headSeed: createHash('sha256').update(datum.seed).digest().subarray(0, 16).toString('hex'),
          parameters: { parties: datum.parties, contestationPeriod: datum.contestationPeriodMs / 1000 },
        });
        head.state = datum;
        head.ref = current.txIn;
      }
      if (head.state.state === 'Initial') {
        for (const { txIn, datum } of decoded) {
          if (datum.state !== 'Commit' || datum.headId !== headId || head.commitsSeen.has(txIn)) continue;
          head.commitsSeen.add(txIn);
          this.emit({ tag: 'OnCommitTx', headId, party: datum.party, committed: datum.committed });
        }
      }
      if (current && current.txIn !== head.ref) {
        const before = head.state.state;
        const after = current.datum;
        head.state = after;
        head.ref = current.txIn;
        if (before === 'Initial' && after.state === 'Open') this.emit({ tag: 'OnCollectComTx', headId });
        else if (after.state === 'Closed')
          this.emit({
            tag: before === 'Open' ? 'OnCloseTx' : 'OnContestTx',
            headId,
            snapshotNumber: after.snapshotNumber,
            contestationDeadline: after.contestationDeadline,
          });
      } else if (!current) {
        head.final = true;
        if (head.state.state === 'Initial') this.emit({ tag: 'OnAbortTx', headId });
        else if (head.state.state === 'Closed')
          this.emit({ tag: 'OnFanoutTx', headId, utxo: this.utxoByHash.get(head.state.utxoHash) ?? {} });
      }
    }
    // A Tick follows every observation that found something (so a node knows layer 1's time as
    // soon as its head opens), and every move of layer-1 time.
    const time = this.layer1.now();
    if (time !== this.lastTime || this.emitted > emittedBefore) {
      this.lastTime = time;
      this.emit({ tag: 'Tick', chainTime: time });
    }
  }

  /** POST /commit: draft the commit of `txIns` (layer-1 output references) by `party`. */
  draftCommit(
    headId: string,
    party: string,
    txIns: readonly string[],
  ): Promise<{ cborHex: string; txId: string }> {
    return this.serial(async () => {
      const view = await this.view(headId);
      if (view.head?.datum.state !== 'Initial')
        throw new DmlError('HYDRA_NOT_INITIALIZING', 'the head is not initializing');
      if (!view.head.datum.parties.includes(party))
        throw new DmlError('HYDRA_NOT_A_PARTY', 'this node is not a party of the head');
      if (view.commits.some((c) => c.datum.party === party))
        throw new DmlError('HYDRA_ALREADY_COMMITTED', 'this party has committed already');
      const committed = await this.layer1.resolve(txIns);
      const datum = encodeHeadCustodyDatum({ state: 'Commit', headId, party, committed });
      return this.layer1.draftCommit(committed, datum);
    });
  }

  /** POST /cardano-transaction: submit to layer 1, then observe it (a commit is seen as a commit). */
  submit(cborHex: string): Promise<string> {
    return this.serial(async () => {
      const txId = await this.layer1.submit(cborHex);
      await this.observeLayer1();
      return txId;
    });
  }

  /**
   * A node posts a transaction (an `OnChainEffect`) as `party`; resolves with the reason when it
   * cannot be posted (hydra's PostTxOnChainFailed), else once it is on layer 1 and observed.
   */
  post(tx: PostChainTx, party?: string): Promise<string | undefined> {
    return this.serial(async () => {
      try {
        const reason = await this.postNow(tx, party);
        if (reason !== undefined) this.rejections.push({ tx: tx.tag, reason });
        return reason;
      } catch (error) {
        const reason = isDmlError(error) ? error.message : String(error);
        this.rejections.push({ tx: tx.tag, reason });
        return reason;
      } finally {
        await this.observeLayer1();
      }
    });
  }

  private validSnapshot(head: HeadStateDatum, confirmed: ConfirmedSnapshot): boolean {
    if (confirmed.tag === 'InitialSnapshot')
      return head.state === 'Open' && hashHex(confirmed.initialUTxO) === head.utxoHash;
    return (
      confirmed.snapshot.headId === head.headId &&
      verifyMultiSignature(head.parties, confirmed.snapshot, confirmed.signatures)
    );
  }

  private async postNow(tx: PostChainTx, party: string | undefined): Promise<string | undefined> {
    const record = (txId: string) => this.posted.push({ tx: tx.tag, txId });
    if (tx.tag === 'InitTx') {
      const seed = await this.layer1.seedInput();
      const datum: HeadStateDatum = {
        state: 'Initial',
        headId: headIdOfSeed(seed),
        parties: tx.parameters.parties,
        contestationPeriodMs: tx.parameters.contestationPeriod * 1000,
        seed: seedBytes(seed),
      };
      record(
        (await this.layer1.postCustodyTx({ spend: [], seed, custodyDatum: encodeHeadCustodyDatum(datum) }))
          .txId,
      );
      return undefined;
    }
    const { head, commits } = await this.view(tx.headId);
    if (!head) return 'no head output on layer 1 (unknown or final head)';
    const state = head.datum;
    if (party !== undefined && !state.parties.includes(party)) return 'the poster is not a party of the head';
    switch (tx.tag) {
      case 'CollectComTx': {
        if (state.state !== 'Initial')
          return state.state === 'Open' ? undefined : 'the head is not initializing';
        const byParty = new Map(commits.map((c) => [c.datum.party, c]));
        if (!state.parties.every((p) => byParty.has(p))) return 'not every party committed';
        const collected = state.parties.map((p) => byParty.get(p)!);
        const utxo = unionUTxO(collected.map((c) => c.datum.committed));
        const utxoHashHex = hashHex(utxo);
        this.utxoByHash.set(utxoHashHex, utxo);
        const datum: HeadStateDatum = { ...common(state), state: 'Open', utxoHash: utxoHashHex };
        const posted = await this.layer1.postCustodyTx({
          spend: [head.txIn, ...collected.map((c) => c.txIn)],
          custodyDatum: encodeHeadCustodyDatum(datum),
        });
        record(posted.txId);
        return undefined;
      }
      case 'AbortTx': {
        if (state.state !== 'Initial') return 'the head is not initializing';
        const posted = await this.layer1.postCustodyTx({
          spend: [head.txIn, ...commits.map((c) => c.txIn)],
          payOut: unionUTxO(commits.map((c) => c.datum.committed)),
        });
        record(posted.txId);
        return undefined;
      }
      case 'CloseTx': {
        if (state.state !== 'Open') return 'the head is not open';
        if (!this.validSnapshot(state, tx.confirmedSnapshot)) return 'snapshot not signed by every party';
        const utxo = confirmedSnapshotUTxO(tx.confirmedSnapshot);
        const utxoHashHex = hashHex(utxo);
        this.utxoByHash.set(utxoHashHex, utxo);
        const upper = this.layer1.now();
        const datum: HeadStateDatum = {
          ...common(state),
          state: 'Closed',
          snapshotNumber: confirmedSnapshotNumber(tx.confirmedSnapshot),
          utxoHash: utxoHashHex,
          contestationDeadline: upper + state.contestationPeriodMs,
          contesters: [],
        };
        const posted = await this.layer1.postCustodyTx({
          spend: [head.txIn],
          custodyDatum: encodeHeadCustodyDatum(datum),
          validTo: upper,
        });
        record(posted.txId);
        return undefined;
      }
      case 'ContestTx': {
        if (state.state !== 'Closed') return 'the head is not closed';
        const upper = this.layer1.now();
        if (upper > state.contestationDeadline) return 'contestation deadline passed';
        const number = confirmedSnapshotNumber(tx.confirmedSnapshot);
        if (number <= state.snapshotNumber)
          return `TooOldSnapshot: ${number} is not newer than ${state.snapshotNumber}`;
        if (party !== undefined && state.contesters.includes(party))
          return 'SignerAlreadyContested: this party contested already';
        if (
          tx.confirmedSnapshot.tag !== 'ConfirmedSnapshot' ||
          !this.validSnapshot(state, tx.confirmedSnapshot)
        )
          return 'snapshot not signed by every party';
        const utxo = confirmedSnapshotUTxO(tx.confirmedSnapshot);
        const utxoHashHex = hashHex(utxo);
        this.utxoByHash.set(utxoHashHex, utxo);
        const contesters = party === undefined ? state.contesters : [...state.contesters, party];
        const datum: HeadStateDatum = {
          ...state,
          snapshotNumber: number,
          utxoHash: utxoHashHex,
          contesters,
          contestationDeadline:
            contesters.length === state.parties.length
              ? state.contestationDeadline
              : state.contestationDeadline + state.contestationPeriodMs,
        };
        const posted = await this.layer1.postCustodyTx({
          spend: [head.txIn],
          custodyDatum: encodeHeadCustodyDatum(datum),
          validTo: upper,
        });
        record(posted.txId);
        return undefined;
      }
      case 'FanoutTx': {
        if (state.state !== 'Closed') return 'the head is not closed';
        if (this.layer1.now() <= state.contestationDeadline) return 'before the contestation deadline';
        const utxo = this.utxoByHash.get(state.utxoHash);
        if (!utxo) return 'the UTxO of the closed snapshot is not known here';
        const posted = await this.layer1.postCustodyTx({
          spend: [head.txIn],
          payOut: utxo,
          validFrom: state.contestationDeadline + 1000,
        });
        record(posted.txId);
        return undefined;
      }
    }
  }
}

const common = (state: HeadStateDatum) => ({
  headId: state.headId,
  parties: state.parties,
  contestationPeriodMs: state.contestationPeriodMs,
});
