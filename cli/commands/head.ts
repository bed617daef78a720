import type { Command } from 'commander';
import { resolve } from 'node:path';
import { C, type UTxO } from 'lucid-cardano';
import { DmlError, HydraClient, signCardanoTransaction } from '../../offchain/index.js';
import type { CommandContext } from '../context.js';
import { readDevnetState, runningPid } from '../devnet-process.js';
import { openSession } from '../cohort-session.js';
import { loadPartyWallet } from '../party-wallet.js';

/**
 * `dml head`: this party's hydra-node, through hydra-node 1.3.0's API (a real node at
 * DML_HYDRA_URL, or this party's endpoint of the head that `dml devnet up --head-parties` runs).
 */
export const hydraEndpoint = async (ctx: CommandContext): Promise<{ host: string; port: number }> => {
  let url = ctx.settings.hydraUrl;
  if (!url) {
    const dir = resolve(ctx.settings.devnetDir!);
    const state = runningPid(dir) !== undefined ? readDevnetState(dir) : undefined;
    const wallet = await loadPartyWallet(ctx.settings.keys!);
    const mine = state?.head?.parties.find(
      (p) => p.party === wallet.hydraVk || p.keys === resolve(ctx.settings.keys!),
    );
    if (!mine)
      throw new DmlError('NO_HYDRA_NODE', 'no hydra-node for this party', {
        hint: 'set DML_HYDRA_URL, or run `dml devnet up --head-parties KEYDIR,...` with this key folder',
      });
    url = mine.url;
  }
  const match = /^(?:wss?|https?):\/\/([^:/]+):(\d+)\/?$/.exec(url);
  if (!match) throw new DmlError('BAD_HYDRA_URL', `not a hydra-node URL: ${url}`, { hint: 'ws://HOST:PORT' });
  return { host: match[1]!, port: Number(match[2]) };
};

const withClient = async <T>(
  ctx: CommandContext,
  timeoutMs: number,
  act: (client: HydraClient, greetings: { me: { vkey: string }; headStatus: string }) => Promise<T>,
): Promise<T> => {
  const endpoint = await hydraEndpoint(ctx);
  const client = new HydraClient({ ...endpoint, defaultTimeoutMs: timeoutMs });
  try {
    const greetings = await client.connect(timeoutMs).catch((error: unknown) => {
      throw new DmlError(
        'HYDRA_UNREACHABLE',
        `no hydra-node answers at ws://${endpoint.host}:${endpoint.port}`,
        {
          cause: error,
        },
      );
    });
    return await act(client, greetings);
  } finally {
    await client.disconnect();
  }
};

const timeoutOf = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new DmlError('BAD_FLAG', `--timeout takes seconds > 0, not ${value}`);
  return n * 1000;
};

/** A layer-1 output as hydra-node's API writes it. */
const apiOutput = (u: UTxO) => {
  const value: Record<string, number | Record<string, number>> = {
    lovelace: Number(u.assets['lovelace'] ?? 0n),
  };
  for (const [unit, q] of Object.entries(u.assets)) {
    if (unit === 'lovelace') continue;
    const policy = unit.slice(0, 56);
    const tokens = (value[policy] ?? {}) as Record<string, number>;
    tokens[unit.slice(56)] = Number(q);
    value[policy] = tokens;
  }
  return { address: u.address, value, ...(u.datum ? { inlineDatumRaw: u.datum } : {}) };
};

export const registerHeadCommands = (program: Command, context: () => Promise<CommandContext>): void => {
  const head = program
    .command('head')
    .description("this party's Hydra head: init, commit, close, contest, fanout (hydra-node API)");
  const withTimeout = (command: Command) => command.option('--timeout <seconds>', 'how long to wait', '60');

  withTimeout(head.command('status').description("the head's status as this party's node sees it")).action(
    async (o: { timeout: string }) => {
      const ctx = await context();
      await withClient(ctx, timeoutOf(o.timeout), async (_client, greetings) => {
        ctx.output.result(`head ${greetings.headStatus} (party ${greetings.me.vkey})`, {
          headStatus: greetings.headStatus,
          party: greetings.me.vkey,
        });
      });
    },
  );

  withTimeout(
    head.command('init').description("initialise a head with the node's configured parties"),
  ).action(async (o: { timeout: string }) => {
    const ctx = await context();
    await withClient(ctx, timeoutOf(o.timeout), async (client) => {
      const out = await client.init();
      ctx.output.result(`head ${out.headId} initializing with ${out.parties.length} parties`, {
        headId: out.headId,
        parties: out.parties.map((p) => p.vkey),
      });
    });
  });

  withTimeout(
    head
      .command('commit')
      .description("commit this party's layer-1 outputs into the initializing head (all of them by default)")
      .option('--utxo <txins>', 'only these outputs, TXHASH#INDEX comma-separated'),
  ).action(async (o: { timeout: string; utxo?: string }) => {
    const ctx = await context();
    const session = await openSession(ctx.settings);
    let utxos = await session.lucid.wallet.getUtxos();
    if (o.utxo) {
      const wanted = o.utxo.split(',').filter((t) => t !== '');
      utxos = utxos.filter((u) => wanted.includes(`${u.txHash}#${u.outputIndex}`));
      if (utxos.length !== wanted.length)
        throw new DmlError(
          'UNKNOWN_UTXO',
          `not all of ${wanted.join(', ')} belong to ${session.wallet.address}`,
        );
    }
    if (utxos.length === 0) throw new DmlError('NO_FUNDS', `${session.wallet.address} has nothing to commit`);
    await withClient(ctx, timeoutOf(o.timeout), async (client, greetings) => {
      const draft = await client.draftCommit(
        Object.fromEntries(utxos.map((u) => [`${u.txHash}#${u.outputIndex}`, apiOutput(u)])),
      );
      const committed = client.waitFor('Committed', (c) => c.party.vkey === greetings.me.vkey);
      const key = C.PrivateKey.from_normal_bytes(session.wallet.keys.paymentSigningKey);
      await client.submitL1Transaction({ cborHex: signCardanoTransaction(draft.cborHex, key) });
      await committed;
      ctx.output.result(`committed ${utxos.length} outputs into the head`, {
        committed: utxos.map((u) => `${u.txHash}#${u.outputIndex}`),
      });
    });
  });

  withTimeout(
    head.command('close').description('close the open head with the last confirmed snapshot'),
  ).action(async (o: { timeout: string }) => {
    const ctx = await context();
    await withClient(ctx, timeoutOf(o.timeout), async (client) => {
      const out = await client.closeHead();
      ctx.output.result(
        `head closed at snapshot ${out.snapshotNumber}; fanout possible after ${out.contestationDeadline}`,
        out,
      );
    });
  });

  withTimeout(head.command('contest').description('contest a close with a newer snapshot')).action(
    async (o: { timeout: string }) => {
      const ctx = await context();
      await withClient(ctx, timeoutOf(o.timeout), async (client) => {
        const out = await client.contest();
        ctx.output.result(`head contested at snapshot ${out.snapshotNumber}`, out);
      });
    },
  );

  withTimeout(
    head
      .command('fanout')
      .description("after the contestation deadline: pay the head's outputs out on layer 1"),
  ).action(async (o: { timeout: string }) => {
    const ctx = await context();
    await withClient(ctx, timeoutOf(o.timeout), async (client) => {
      const out = await client.fanout();
      ctx.output.result(`head ${out.headId} finalized: its outputs are on layer 1`, out);
    });
  });
};
