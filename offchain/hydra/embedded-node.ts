import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { isDmlError } from '../errors.js';
import { decodeHydraClientInput } from './codec.js';
import type { EmbeddedHeadChain } from './embedded-chain.js';
import { confirmedSnapshotToApi, headStatusOf, postChainTxToApi } from './head-api.js';
import { aggregateHead, confirmedSnapshotUTxO, replayHead, updateHead } from './head-logic.js';
import type {
  HeadEffect,
  HeadEnvironment,
  HeadInput,
  HeadNetworkMessage,
  HeadState,
  HeadStateChanged,
} from './head-types.js';
import type { HydraServerOutput } from './messages.js';

/**
 * One party's node of the embedded head: runs the head logic on its inputs, performs the
 * effects (client outputs, messages to the other parties, layer-1 transactions), keeps the
 * history of outputs (numbered by `seq`) and its state changes (the state is their fold, so a
 * restart rebuilds it), and serves hydra-node's WebSocket and HTTP API on 127.0.0.1.
 */
export interface NodeNetwork {
  broadcast(from: string, message: HeadNetworkMessage): void;
}

export type TimedOutput = HydraServerOutput & { seq: number; timestamp: string };

export const HYDRA_NODE_VERSION = '1.3.0-embedded';

export class EmbeddedHydraNode {
  private state: HeadState = { tag: 'Idle' };
  private readonly changes: HeadStateChanged[] = [];
  private readonly history: TimedOutput[] = [];
  private waiting: HeadInput[] = [];
  private server?: Server;
  private wss?: WebSocketServer;
  private readonly sockets = new Set<{ socket: WebSocket; snapshotUtxo: boolean }>();
  private port = 0;
  /** Fault injection: a node that stops acknowledging snapshots (its AckSn are not sent). */
  silent = false;
  /** Every output this node emitted, including client-only messages (for tests). */
  readonly emitted: HydraServerOutput[] = [];
  readonly log: string[] = [];

  constructor(
    readonly env: HeadEnvironment,
    private readonly network: NodeNetwork,
    private readonly chain: EmbeddedHeadChain,
  ) {}

  get party(): string {
    return this.env.party;
  }

  get headState(): HeadState {
    return this.state;
  }

  get stateChanges(): readonly HeadStateChanged[] {
    return this.changes;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  get address(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.port };
  }

  /** Processes one input (synchronously: the head logic is pure). */
  handle(input: HeadInput): void {
    const outcome = updateHead(this.env, this.state, input);
    if (outcome.tag === 'Wait') {
      this.waiting.push(input);
      return;
    }
    if (outcome.tag === 'Error') {
      this.log.push(outcome.reason);
      return;
    }
    for (const change of outcome.stateChanges) this.state = aggregateHead(this.state, change);
    this.changes.push(...outcome.stateChanges);
    for (const effect of outcome.effects) this.perform(effect);
    if (outcome.stateChanges.length > 0 && this.waiting.length > 0) {
      const retry = this.waiting;
      this.waiting = [];
      for (const input of retry) this.handle(input);
    }
  }

  private perform(effect: HeadEffect): void {
    switch (effect.tag) {
      case 'ClientEffect':
        this.emit(effect.output);
        return;
      case 'NetworkEffect':
        if (this.silent && effect.message.tag === 'AckSn') return;
        this.network.broadcast(this.party, effect.message);
        return;
      case 'OnChainEffect':
        this.chain
          .post(effect.postChainTx, this.party)
          .then((rejection) => {
            if (rejection === undefined) return;
            this.log.push(`post ${effect.postChainTx.tag}: ${rejection}`);
            const txTried = postChainTxToApi(effect.postChainTx, this.state, this.env);
            this.emit({
              tag: 'PostTxOnChainFailed',
              postChainTx: txTried,
              postTxError: { tag: 'InvalidStateToPost', chainState: { rejection }, txTried },
            });
          })
          .catch((error: unknown) => this.log.push(`post ${effect.postChainTx.tag}: ${String(error)}`));
        return;
    }
  }

  /** Client messages (not part of the history, no `seq`), as hydra-node's `ClientMessage`. */
  private static readonly CLIENT_ONLY = new Set([
    'CommandFailed',
    'PostTxOnChainFailed',
    'InvalidInput',
    'RejectedInputBecauseUnsynced',
  ]);

  private emit(output: HydraServerOutput): void {
    if (EmbeddedHydraNode.CLIENT_ONLY.has(output.tag)) {
      this.emitted.push(output);
      for (const client of this.sockets) client.socket.send(JSON.stringify(output));
      return;
    }
    const timed = { ...output, seq: this.history.length, timestamp: new Date().toISOString() } as TimedOutput;
    this.history.push(timed);
    this.emitted.push(timed);
    for (const client of this.sockets)
      client.socket.send(JSON.stringify(this.forClient(timed, client.snapshotUtxo)));
  }

  private forClient(output: TimedOutput, snapshotUtxo: boolean): unknown {
    if (snapshotUtxo || output.tag !== 'SnapshotConfirmed') return output;
    const { utxo: _utxo, ...snapshot } = output.snapshot;
    return { ...output, snapshot };
  }

  /** Every output of the history (what `?history=yes` replays). */
  get outputs(): readonly TimedOutput[] {
    return this.history;
  }

  private greetings(): HydraServerOutput {
    const state = this.state;
    const headId = state.tag === 'Idle' ? undefined : state.headId;
    const snapshotUtxo =
      state.tag === 'Open'
        ? this.env.ledger.utxoToApi(confirmedSnapshotUTxO(state.coordinated.confirmedSnapshot))
        : undefined;
    return {
      tag: 'Greetings',
      me: { vkey: this.party },
      headStatus: headStatusOf(state),
      ...(headId ? { hydraHeadId: headId } : {}),
      ...(snapshotUtxo ? { snapshotUtxo } : {}),
      timestamp: new Date().toISOString(),
      hydraNodeVersion: HYDRA_NODE_VERSION,
      env: {
        party: { vkey: this.party },
        signingKey: '',
        otherParties: this.env.otherParties.map((vkey) => ({ vkey })),
        participants: [],
        contestationPeriod: this.env.contestationPeriod,
        depositPeriod: 0,
        unsyncedPeriod: 0,
        configuredPeers: '',
      },
      networkInfo: { networkConnected: true, peersInfo: {} },
      chainSyncedStatus: 'InSync',
      currentSlot: 0,
    };
  }

  /** Starts serving the API (on `port`, 0 for any free port). */
  async listen(port = this.port): Promise<void> {
    const server = createServer((request, response) => {
      this.http(request, response).catch((error: unknown) => send(response, 500, String(error)));
    });
    const wss = new WebSocketServer({ server });
    // the server's own errors (a taken port) reject the listen below; the socket server re-emits
    // them, and an 'error' nobody listens to would be an uncaught exception
    wss.on('error', () => undefined);
    wss.on('connection', (socket, request) => this.connect(socket, request));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    this.wss = wss;
  }

  /** Stops serving (a crash of the endpoint): clients are cut off; the state survives in `changes`. */
  async stop(): Promise<void> {
    for (const client of this.sockets) client.socket.terminate();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    this.wss?.close();
    this.wss = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** A restart: the state is rebuilt by replaying the persisted state changes, then it serves again. */
  async restart(): Promise<void> {
    await this.stop();
    this.state = replayHead(this.changes);
    await this.listen(this.port);
  }

  private connect(socket: WebSocket, request: IncomingMessage): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const client = { socket, snapshotUtxo: url.searchParams.get('snapshot-utxo') !== 'no' };
    if (url.searchParams.get('history') !== 'no') {
      for (const output of this.history)
        socket.send(JSON.stringify(this.forClient(output, client.snapshotUtxo)));
    }
    socket.send(JSON.stringify(this.greetings()));
    this.sockets.add(client);
    socket.on('close', () => this.sockets.delete(client));
    socket.on('message', (data) => {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
      const decoded = decodeHydraClientInput(text);
      if (!decoded.ok) {
        const invalid: HydraServerOutput = { tag: 'InvalidInput', reason: decoded.reason, input: text };
        this.emitted.push(invalid);
        socket.send(JSON.stringify(invalid));
        return;
      }
      this.handle({ tag: 'ClientInput', input: decoded.input });
    });
  }

  private async http(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const state = this.state;
    const route = `${request.method} ${url.pathname}`;
    switch (route) {
      case 'GET /snapshot/utxo':
        if (state.tag !== 'Open') return send(response, 404, 'head was never open');
        return send(
          response,
          200,
          this.env.ledger.utxoToApi(confirmedSnapshotUTxO(state.coordinated.confirmedSnapshot)),
        );
      case 'GET /snapshot':
        if (state.tag !== 'Open') return send(response, 404, 'head was never open');
        return send(
          response,
          200,
          confirmedSnapshotToApi(state.coordinated.confirmedSnapshot, this.env.ledger),
        );
      case 'GET /protocol-parameters':
        return send(response, 200, this.chain.layer1.protocolParameters());
      case 'POST /commit': {
        if (state.tag !== 'Initial') return send(response, 400, { tag: 'FailedToDraftTxNotInitializing' });
        const body = JSON.parse(await readBody(request)) as Record<string, unknown>;
        const utxo = (body['utxoToCommit'] ?? body['utxo'] ?? body) as Record<string, unknown>;
        try {
          const draft = await this.chain.draftCommit(state.headId, this.party, Object.keys(utxo));
          return send(response, 200, {
            type: 'Tx ConwayEra',
            description: 'Hydra commit transaction',
            cborHex: draft.cborHex,
            txId: draft.txId,
          });
        } catch (error) {
          return send(response, 400, {
            tag: isDmlError(error) ? error.code : 'FailedToDraftTx',
            message: String((error as Error).message ?? error),
          });
        }
      }
      case 'POST /cardano-transaction': {
        const body = JSON.parse(await readBody(request)) as { cborHex?: string } | string;
        const cborHex = typeof body === 'string' ? body : body.cborHex;
        if (!cborHex) return send(response, 400, { tag: 'FailedToPostTx', failureReason: 'no cborHex' });
        try {
          await this.chain.submit(cborHex);
          return send(response, 200, { tag: 'TransactionSubmitted' });
        } catch (error) {
          return send(response, 400, {
            tag: 'FailedToPostTx',
            failureReason: String((error as Error).message ?? error),
          });
        }
      }
      case 'POST /decommit':
        return send(response, 400, 'decommits are not supported by the embedded head');
      case 'GET /head':
        return send(response, 200, { tag: headStatusOf(state) });
      default:
        return send(response, 404, `no route ${route}`);
    }
  }
}

const send = (response: ServerResponse, status: number, body: unknown): void => {
  const text =
    typeof body === 'string'
      ? JSON.stringify(body)
      : JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(text);
};

const readBody = (request: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
