import WebSocket from 'ws';
import type { EventStore } from '../events/index.js';
import { DmlError } from '../errors.js';
import { decodeHydraServerMessage, encodeHydraClientInput, type DecodedHydraMessage } from './codec.js';
import { HydraOutputLog } from './output-log.js';
import type {
  HydraClientInput,
  HydraServerOutput,
  HydraServerOutputOf,
  HydraServerOutputTag,
  HydraTransaction,
  HydraUTxO,
} from './messages.js';

/**
 * A client of hydra-node's API (a real hydra-node 1.3.0 or the embedded head: it cannot tell).
 * - One WebSocket, reconnected with exponential backoff when it drops; on reconnect the node's
 *   history is replayed and outputs already seen (by `seq`) are dropped, so every output is
 *   handed to the sink exactly once and in order.
 * - Unknown tags and malformed messages are kept raw (`onUnknown`), never thrown.
 * - Awaitable helpers on top of the stream, with timeouts and precise errors.
 */
export interface HydraClientOptions {
  readonly host: string;
  readonly port: number;
  /** Called for every new output, in order, before listeners; awaited in sequence. */
  readonly sink?: (entry: { output: HydraServerOutput; raw: string }) => void | Promise<void>;
  readonly onUnknown?: (decoded: Exclude<DecodedHydraMessage, { kind: 'output' }>) => void;
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number; readonly factor?: number };
  readonly snapshotUtxo?: boolean;
  readonly defaultTimeoutMs?: number;
  /** The last `seq` already stored (e.g. read back from the event log after a restart): older outputs are dropped. */
  readonly fromSeq?: number;
  /**
   * The event log: every output is appended as `hydra.OutputReceived` to its head's stream as it
   * arrives, idempotently by `seq` (see output-log.ts). `nodeId` names the node (default
   * host:port); keep it stable across restarts of the client.
   */
  readonly eventLog?: { readonly store: EventStore; readonly cohortId: string; readonly nodeId?: string };
  /** Called when the sink or the event log fails on an output (also kept in `sinkErrors`). */
  readonly onSinkError?: (error: unknown, output: HydraServerOutput) => void;
}

type Listener = (output: HydraServerOutput) => void;

/** The layer-1 transaction a client input makes the node post. */
const POSTED_TX_OF: Partial<Record<HydraClientInput['tag'], string>> = {
  Init: 'InitTx',
  Abort: 'AbortTx',
  Close: 'CloseTx',
  SafeClose: 'CloseTx',
  Contest: 'ContestTx',
  Fanout: 'FanoutTx',
};

export class HydraClient {
  private socket?: WebSocket;
  private readonly listeners = new Set<Listener>();
  private lastSeq = -1;
  private closedByUser = false;
  private attempt = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private readonly outbox: string[] = [];
  private sinkChain: Promise<void> = Promise.resolve();
  /** The event log the outputs go to, when `eventLog` is set. */
  readonly outputLog?: HydraOutputLog;
  /** Failures of the sink or the event log (the output is not retried). */
  readonly sinkErrors: unknown[] = [];
  /** Messages that did not decode (kept raw). */
  readonly unknown: Array<Exclude<DecodedHydraMessage, { kind: 'output' }>> = [];
  /** Number of (re)connections made. */
  connections = 0;

  constructor(private readonly options: HydraClientOptions) {
    this.lastSeq = options.fromSeq ?? -1;
    if (options.eventLog)
      this.outputLog = new HydraOutputLog({
        store: options.eventLog.store,
        cohortId: options.eventLog.cohortId,
        nodeId: options.eventLog.nodeId ?? `${options.host}:${options.port}`,
      });
  }

  get baseUrl(): string {
    return `http://${this.options.host}:${this.options.port}`;
  }

  /** The highest `seq` seen. */
  get seq(): number {
    return this.lastSeq;
  }

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Connects; resolves on the node's Greetings (after the history replay). */
  async connect(
    timeoutMs = this.options.defaultTimeoutMs ?? 10_000,
  ): Promise<HydraServerOutputOf<'Greetings'>> {
    this.closedByUser = false;
    const greetings = this.waitFor('Greetings', () => true, timeoutMs);
    this.open();
    return greetings;
  }

  private open(): void {
    const query = `history=yes${this.options.snapshotUtxo === false ? '&snapshot-utxo=no' : ''}`;
    const socket = new WebSocket(`ws://${this.options.host}:${this.options.port}/?${query}`);
    this.socket = socket;
    socket.on('open', () => {
      this.attempt = 0;
      this.connections++;
      for (const text of this.outbox.splice(0)) socket.send(text);
    });
    socket.on('message', (data) =>
      this.receive(Buffer.isBuffer(data) ? data.toString('utf8') : String(data)),
    );
    socket.on('error', () => undefined); // 'close' follows and reconnects
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      if (!this.closedByUser) this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer) return;
    const { initialMs = 50, maxMs = 2_000, factor = 2 } = this.options.backoff ?? {};
    const delay = Math.min(maxMs, initialMs * factor ** this.attempt++);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closedByUser) this.open();
    }, delay);
  }

  private receive(raw: string): void {
    const decoded = decodeHydraServerMessage(raw);
    if (decoded.kind !== 'output') {
      this.unknown.push(decoded);
      this.options.onUnknown?.(decoded);
      return;
    }
    const output = decoded.output;
    if (typeof output.seq === 'number') {
      if (output.seq <= this.lastSeq) return; // replayed history: seen already
      this.lastSeq = output.seq;
    }
    const sink = this.options.sink;
    const log = this.outputLog;
    if (sink || log)
      this.sinkChain = this.sinkChain
        .then(async () => {
          if (sink) await sink({ output, raw });
          if (log) await log.append(output, raw);
        })
        .catch((error: unknown) => {
          this.sinkErrors.push(error);
          this.options.onSinkError?.(error, output);
        });
    for (const listener of [...this.listeners]) listener(output);
  }

  /** Subscribes to new outputs; returns the unsubscribe function. */
  onOutput(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits until the sink has taken every output received so far. */
  flushed(): Promise<void> {
    return this.sinkChain;
  }

  async disconnect(): Promise<void> {
    this.closedByUser = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close();
      });
    }
  }

  /** Sends a client input (queued while reconnecting). */
  send(input: HydraClientInput): void {
    const text = encodeHydraClientInput(input);
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(text);
    else this.outbox.push(text);
  }

  /** Sends raw text (for tests of the server's handling of bad input). */
  sendRaw(text: string): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(text);
    else this.outbox.push(text);
  }

  /**
   * Resolves with the first new output of tag `tag` satisfying `match`; rejects with a DmlError
   * on timeout, or as soon as `fail` recognises an output as the failure of what is awaited.
   */
  waitFor<T extends HydraServerOutputTag>(
    tag: T,
    match: (output: HydraServerOutputOf<T>) => boolean = () => true,
    timeoutMs = this.options.defaultTimeoutMs ?? 30_000,
    fail?: (output: HydraServerOutput) => DmlError | undefined,
  ): Promise<HydraServerOutputOf<T>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        unsubscribe();
        reject(new DmlError('HYDRA_TIMEOUT', `no ${tag} from ${this.baseUrl} within ${timeoutMs} ms`));
      }, timeoutMs);
      const unsubscribe = this.onOutput((output) => {
        const failure = fail?.(output);
        if (failure) {
          clearTimeout(timer);
          unsubscribe();
          reject(failure);
          return;
        }
        if (output.tag === tag && match(output as HydraServerOutputOf<T>)) {
          clearTimeout(timer);
          unsubscribe();
          resolve(output as HydraServerOutputOf<T>);
        }
      });
    });
  }

  private commandFailedFor =
    (tag: HydraClientInput['tag']) =>
    (output: HydraServerOutput): DmlError | undefined => {
      if (output.tag === 'CommandFailed' && output.clientInput.tag === tag) {
        return new DmlError('HYDRA_COMMAND_FAILED', `${tag} failed: the head is ${output.state.tag}`, {
          hint: 'check the head status first',
        });
      }
      const posted =
        (output.tag === 'PostTxOnChainFailed' && (output.postChainTx as { tag?: string } | null)?.tag) || '';
      if (posted !== '' && posted === POSTED_TX_OF[tag]) {
        return new DmlError(
          'HYDRA_POST_TX_FAILED',
          `${tag}: layer 1 refused ${posted}: ${JSON.stringify(output.tag === 'PostTxOnChainFailed' ? output.postTxError : '')}`,
        );
      }
      return undefined;
    };

  async init(timeoutMs?: number): Promise<HydraServerOutputOf<'HeadIsInitializing'>> {
    const result = this.waitFor('HeadIsInitializing', () => true, timeoutMs, this.commandFailedFor('Init'));
    this.send({ tag: 'Init' });
    return result;
  }

  async abort(timeoutMs?: number): Promise<HydraServerOutputOf<'HeadIsAborted'>> {
    const result = this.waitFor('HeadIsAborted', () => true, timeoutMs, this.commandFailedFor('Abort'));
    this.send({ tag: 'Abort' });
    return result;
  }

  awaitHeadIsOpen(timeoutMs?: number): Promise<HydraServerOutputOf<'HeadIsOpen'>> {
    return this.waitFor('HeadIsOpen', () => true, timeoutMs);
  }

  /**
   * Submits a layer-2 transaction and resolves with the snapshot that confirms it; rejects with
   * HYDRA_TX_INVALID (and the ledger's reason) or HYDRA_COMMAND_FAILED.
   */
  async submitTx(
    tx: { cborHex: string; txId: string },
    timeoutMs?: number,
  ): Promise<HydraServerOutputOf<'SnapshotConfirmed'>> {
    const fail = (output: HydraServerOutput): DmlError | undefined => {
      if (output.tag === 'TxInvalid' && output.transaction.txId === tx.txId) {
        return new DmlError(
          'HYDRA_TX_INVALID',
          `transaction ${tx.txId} is invalid: ${output.validationError.reason}`,
        );
      }
      if (
        output.tag === 'CommandFailed' &&
        output.clientInput.tag === 'NewTx' &&
        output.clientInput.transaction.cborHex === tx.cborHex
      ) {
        return new DmlError('HYDRA_COMMAND_FAILED', `NewTx failed: the head is ${output.state.tag}`);
      }
      return undefined;
    };
    const confirmed = this.waitFor(
      'SnapshotConfirmed',
      (o) => o.snapshot.confirmed.some((t) => t.txId === tx.txId),
      timeoutMs,
      fail,
    );
    this.send({
      tag: 'NewTx',
      transaction: { type: 'Tx ConwayEra', description: '', cborHex: tx.cborHex, txId: tx.txId },
    });
    return confirmed;
  }

  async closeHead(timeoutMs?: number): Promise<HydraServerOutputOf<'HeadIsClosed'>> {
    const result = this.waitFor('HeadIsClosed', () => true, timeoutMs, this.commandFailedFor('Close'));
    this.send({ tag: 'Close' });
    return result;
  }

  async contest(timeoutMs?: number): Promise<HydraServerOutputOf<'HeadIsContested'>> {
    const result = this.waitFor('HeadIsContested', () => true, timeoutMs, this.commandFailedFor('Contest'));
    this.send({ tag: 'Contest' });
    return result;
  }

  async fanout(timeoutMs?: number): Promise<HydraServerOutputOf<'HeadIsFinalized'>> {
    const result = this.waitFor('HeadIsFinalized', () => true, timeoutMs, this.commandFailedFor('Fanout'));
    this.send({ tag: 'Fanout' });
    return result;
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    // bounded: a node that accepts the connection and never answers must not block the caller forever
    const timeoutMs = this.options.defaultTimeoutMs ?? 30_000;
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      throw new DmlError(
        'HYDRA_UNREACHABLE',
        `cannot reach ${this.baseUrl}${path}${error instanceof Error && error.name === 'TimeoutError' ? `: no answer within ${timeoutMs} ms` : `: ${String(error)}`}`,
      );
    }
    if (!response.ok) throw new DmlError('HYDRA_HTTP_ERROR', `${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  }

  getSnapshotUtxo(): Promise<HydraUTxO> {
    return this.request('GET', '/snapshot/utxo');
  }

  getSnapshot(): Promise<unknown> {
    return this.request('GET', '/snapshot');
  }

  getProtocolParameters(): Promise<Record<string, unknown>> {
    return this.request('GET', '/protocol-parameters');
  }

  /** Drafts a commit of layer-1 outputs; sign it and submit it with `submitL1Transaction`. */
  draftCommit(utxoToCommit: HydraUTxO | Record<string, unknown>): Promise<HydraTransaction> {
    return this.request('POST', '/commit', { utxoToCommit });
  }

  submitL1Transaction(tx: { cborHex: string }): Promise<{ tag: string }> {
    return this.request('POST', '/cardano-transaction', {
      type: 'Tx ConwayEra',
      description: '',
      cborHex: tx.cborHex,
    });
  }

  decommit(tx: { cborHex: string; txId?: string }): Promise<unknown> {
    return this.request('POST', '/decommit', { type: 'Tx ConwayEra', description: '', ...tx });
  }
}
