import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { WebSocketServer, type WebSocket } from 'ws';
import { HydraClient } from './client.js';
import type { HydraServerOutput } from './messages.js';

/** A scripted hydra-node: on each connection it sends `script(connectionNumber)`. */
const scriptedNode = async (script: (connection: number, socket: WebSocket) => void) => {
  const server: Server = createServer();
  const wss = new WebSocketServer({ server });
  let connections = 0;
  const urls: string[] = [];
  wss.on('connection', (socket, request) => {
    urls.push(request.url ?? '');
    script(++connections, socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    urls,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

const greetings = JSON.stringify({
  tag: 'Greetings',
  me: { vkey: 'aa' },
  headStatus: 'Idle',
  hydraNodeVersion: '1.3.0',
  env: {},
  networkInfo: {},
  chainSyncedStatus: 'InSync',
  currentSlot: 0,
});
const timed = (seq: number) =>
  JSON.stringify({ tag: 'ReadyToFanout', headId: 'ab', seq, timestamp: '2026-01-01T00:00:00Z' });

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('HydraClient', () => {
  it('keeps unknown tags and malformed messages raw, never crashes, and keeps going', async () => {
    const node = await scriptedNode((_, socket) => {
      socket.send('not json at all');
      socket.send(JSON.stringify({ tag: 'FromTheFuture', x: 1 }));
      socket.send(JSON.stringify({ tag: 'TxValid', headId: 'ab' })); // known tag, missing field
      socket.send(timed(0));
      socket.send(greetings);
    });
    const unknown: string[] = [];
    const sunk: HydraServerOutput[] = [];
    const client = new HydraClient({
      host: '127.0.0.1',
      port: node.port,
      onUnknown: (d) => unknown.push(d.kind),
      sink: ({ output }) => void sunk.push(output),
    });
    cleanups.push(() => client.disconnect(), node.close);
    await client.connect();
    expect(unknown).toEqual(['malformed', 'unknown-tag', 'invalid']);
    expect(client.unknown[1]).toEqual({
      kind: 'unknown-tag',
      tag: 'FromTheFuture',
      raw: { tag: 'FromTheFuture', x: 1 },
    });
    await client.flushed();
    expect(sunk.map((o) => o.tag)).toEqual(['ReadyToFanout', 'Greetings']);
  });

  it('reconnects with backoff, asks for history, and drops the outputs it has seen by seq', async () => {
    const node = await scriptedNode((connection, socket) => {
      if (connection === 1) {
        socket.send(timed(0));
        socket.send(timed(1));
        socket.send(greetings);
        setTimeout(() => socket.terminate(), 20);
      } else {
        // The history replayed from the start, then something new.
        for (const seq of [0, 1, 2, 3]) socket.send(timed(seq));
        socket.send(greetings);
      }
    });
    const sunk: number[] = [];
    const client = new HydraClient({
      host: '127.0.0.1',
      port: node.port,
      backoff: { initialMs: 5, maxMs: 20 },
      sink: ({ output }) => void (output.seq !== undefined && sunk.push(output.seq)),
    });
    cleanups.push(() => client.disconnect(), node.close);
    await client.connect();
    await client.waitFor('ReadyToFanout', (o) => o.seq === 3, 10_000);
    await client.flushed();
    expect(sunk).toEqual([0, 1, 2, 3]);
    expect(client.connections).toBe(2);
    expect(node.urls.every((url) => url.includes('history=yes'))).toBe(true);
    expect(client.seq).toBe(3);

    // A client restarted from the event log (which holds up to seq 3) gets nothing twice.
    const again: number[] = [];
    const restarted = new HydraClient({
      host: '127.0.0.1',
      port: node.port,
      fromSeq: 3,
      sink: ({ output }) => void (output.seq !== undefined && again.push(output.seq)),
    });
    cleanups.push(() => restarted.disconnect());
    await restarted.connect();
    await restarted.flushed();
    expect(again).toEqual([]);
  });

  it('times out with a clear error, and refuses to encode a malformed input', async () => {
    const node = await scriptedNode((_, socket) => socket.send(greetings));
    const client = new HydraClient({ host: '127.0.0.1', port: node.port });
    cleanups.push(() => client.disconnect(), node.close);
    await client.connect();
    await expect(client.waitFor('HeadIsOpen', () => true, 20)).rejects.toMatchObject({
      code: 'HYDRA_TIMEOUT',
    });
    expect(() => client.send({ tag: 'NewTx' } as never)).toThrow(/not a valid Hydra client input/);
  });
});
