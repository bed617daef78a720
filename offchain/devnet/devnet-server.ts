import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isScriptFailure } from '../chain/index.js';
import { DmlError, isDmlError } from '../errors.js';
import type { DevnetLedger } from './devnet-ledger.js';
import { fromDevnetJson, toDevnetJson } from './wire-json.js';

/**
 * The devnet's HTTP API on 127.0.0.1: lucid's `Provider` calls, the clock and the faucet.
 * Every request and answer body is JSON with bigints (`wire-json.ts`). Changes (submit,
 * advance, await-tx, fund) run one at a time, in arrival order.
 *
 *   GET  /info                         DevnetInfo
 *   GET  /protocol-parameters          ProtocolParameters
 *   GET  /utxo-set                     every unspent output, sorted
 *   GET  /chain-txs                    every transaction in a block: [{txId, cbor, slot}] (journal-chain.ts)
 *   POST /utxos            {addressOrCredential, unit?}
 *   POST /utxo-by-unit     {unit}
 *   POST /utxos-by-out-ref {outRefs}
 *   POST /delegation       {rewardAddress}
 *   POST /datum            {datumHash}
 *   POST /submit           {cbor}            -> {txHash}
 *   POST /await-tx         {txHash}          -> {ok}
 *   POST /advance          {slots} | {ms}    -> DevnetInfo
 *   POST /fund             {address, lovelace} -> {txHash}
 *
 * Errors: status 400 (bad request), 422 (transaction rejected) or 500, with
 * `{error: {code, message, hint?, script?}}`; `script` carries a script failure's details.
 */
export interface DevnetServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

type Handler = (body: Record<string, unknown>) => Promise<unknown> | unknown;

export const startDevnetServer = async (
  ledger: DevnetLedger,
  options: { port?: number; host?: string } = {},
): Promise<DevnetServer> => {
  let queue: Promise<unknown> = Promise.resolve();
  const serial =
    (handler: Handler): Handler =>
    (body) => {
      const run = queue.then(() => handler(body));
      queue = run.catch(() => undefined);
      return run;
    };
  const p = ledger.asProvider();
  const routes: Record<string, Handler> = {
    'GET /info': () => ledger.info(),
    'GET /protocol-parameters': () => p.getProtocolParameters(),
    'GET /utxo-set': () => ledger.utxoSet(),
    'GET /chain-txs': serial(() => ledger.chainTxs()),
    'POST /utxos': (b) =>
      b.unit === undefined
        ? p.getUtxos(b.addressOrCredential as string)
        : p.getUtxosWithUnit(b.addressOrCredential as string, str(b, 'unit')),
    'POST /utxo-by-unit': async (b) => ({ utxo: (await p.getUtxoByUnit(str(b, 'unit'))) ?? null }),
    'POST /utxos-by-out-ref': (b) => p.getUtxosByOutRef(b.outRefs as never),
    'POST /delegation': (b) => p.getDelegation(str(b, 'rewardAddress')),
    'POST /datum': async (b) => ({ datum: (await p.getDatum(str(b, 'datumHash'))) ?? null }),
    'POST /submit': serial(async (b) => ({ txHash: await ledger.submit(str(b, 'cbor')) })),
    'POST /await-tx': serial((b) => ({ ok: ledger.awaitTx(str(b, 'txHash')) })),
    'POST /advance': serial((b) => {
      const slots = b.slots !== undefined ? Number(b.slots) : Math.ceil(Number(b.ms) / 1000);
      ledger.advance(slots);
      return ledger.info();
    }),
    'POST /fund': serial(async (b) => ({
      txHash: await ledger.fund(str(b, 'address'), BigInt(b.lovelace as bigint)),
    })),
  };

  const server: Server = createServer((req, res) => void handle(routes, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

const str = (body: Record<string, unknown>, key: string): string => {
  const value = body[key];
  if (typeof value !== 'string' || value === '')
    throw new DmlError('DEVNET_BAD_REQUEST', `the request needs "${key}" (a string)`);
  return value;
};

const readBody = async (req: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

const handle = async (routes: Record<string, Handler>, req: IncomingMessage, res: ServerResponse) => {
  const send = (status: number, value: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(toDevnetJson(value));
  };
  const route = routes[`${req.method} ${(req.url ?? '').split('?')[0]}`];
  if (!route)
    return send(404, { error: { code: 'DEVNET_NOT_FOUND', message: `no route ${req.method} ${req.url}` } });
  try {
    const text = await readBody(req);
    let body: Record<string, unknown> = {};
    if (text !== '') {
      try {
        body = fromDevnetJson<Record<string, unknown>>(text);
      } catch {
        throw new DmlError('DEVNET_BAD_REQUEST', 'the request body is not JSON');
      }
    }
    send(200, await route(body));
  } catch (error) {
    if (isScriptFailure(error)) {
      const { scriptName, purpose, redeemer, traces, raw } = error;
      return send(422, {
        error: {
          code: 'SCRIPT_FAILURE',
          message: error.message,
          script: { scriptName, purpose, redeemer, traces, raw },
        },
      });
    }
    if (isDmlError(error)) {
      const status = error.code === 'DEVNET_BAD_REQUEST' || error.code.startsWith('BAD_') ? 400 : 422;
      return send(status, { error: { code: error.code, message: error.message, hint: error.hint } });
    }
    const message =
      typeof error === 'string' ? error : error instanceof Error ? error.message : String(error);
    // lucid's Emulator rejects with plain Errors (missing input, bad witness, validity interval).
    send(req.url === '/submit' ? 422 : 500, {
      error: { code: req.url === '/submit' ? 'TX_REJECTED' : 'DEVNET_INTERNAL', message },
    });
  }
};
