import type { Command } from 'commander';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  DEVNET_JOURNAL_FILE,
  DevnetJournal,
  DevnetLedger,
  DevnetProvider,
  DmlError,
  startDevnetServer,
  type DevnetInfo,
} from '../../offchain/index.js';
import type { CommandContext } from '../context.js';
import {
  clearDevnetState,
  readDevnetState,
  runningPid,
  startDevnetProcess,
  stopDevnetProcess,
  writeDevnetState,
} from '../devnet-process.js';
import { loadPartyWallet } from '../party-wallet.js';
import { devnetUrl } from '../chain-provider.js';
import { startDevnetHead, type DevnetHead } from '../devnet-head.js';

const devnetDir = (ctx: CommandContext) => resolve(ctx.settings.devnetDir!);

const wholeNumber = (flag: string, value: string, min = 0): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new DmlError('BAD_FLAG', `${flag} must be a whole number >= ${min}, not ${value}`);
  return n;
};

export const adaToLovelace = (flag: string, value: string): bigint => {
  if (!/^\d+(\.\d{1,6})?$/.test(value))
    throw new DmlError('BAD_FLAG', `${flag} takes an amount of ada like 25 or 2.5, not ${value}`);
  const [whole, frac = ''] = value.split('.');
  return BigInt(whole!) * 1_000_000n + BigInt(frac.padEnd(6, '0'));
};

const describeInfo = (info: DevnetInfo): string =>
  `slot ${info.slot} (${new Date(info.time).toISOString()}), block ${info.blockHeight}, ` +
  `${info.utxos} utxos${info.mempool ? ` + ${info.mempool} in the mempool` : ''}, ` +
  `last tx ${info.lastTx ?? 'none'}, journal ${info.journalRecords} records`;

const headArgs = (options: HeadOptions): string[] => [
  ...(options.headParties ? ['--head-parties', options.headParties] : []),
  ...(options.contestationPeriod ? ['--contestation-period', options.contestationPeriod] : []),
  ...(options.verifyJournal ? ['--verify-journal'] : []),
];

interface HeadOptions {
  headParties?: string;
  contestationPeriod?: string;
  verifyJournal?: boolean;
}

export const registerDevnetCommands = (program: Command, context: () => Promise<CommandContext>): void => {
  const devnet = program
    .command('devnet')
    .description(
      'the local devnet: emulated Cardano layer 1 (persisted), faucet, clock, embedded Hydra head',
    );

  const headFlags = (command: Command) =>
    command
      .option(
        '--head-parties <dirs>',
        "also run the embedded Hydra head: the parties' key folders, comma-separated (one endpoint each)",
      )
      .option('--contestation-period <seconds>', "the head's contestation period", '60')
      .option('--verify-journal', 'on start, run every script of every journaled transaction again (slower)');

  headFlags(
    devnet
      .command('up')
      .description('start the devnet in the background (state is kept in the devnet folder)'),
  ).action(async (options: HeadOptions) => {
    const ctx = await context();
    const dir = devnetDir(ctx);
    const pid = runningPid(dir);
    if (pid !== undefined) {
      const state = readDevnetState(dir);
      ctx.output.result(`devnet already running at ${state?.url} (pid ${pid})`, { running: true, ...state });
      return;
    }
    clearDevnetState(dir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const progress = ctx.output.progress();
    const { state, info } = await startDevnetProcess(dir, {
      port: ctx.settings.devnetPort ?? '0',
      args: headArgs(options),
      onWait: (ms) => progress.update(`starting the devnet (${Math.round(ms / 1000)} s)`),
    });
    progress.done();
    const head = state.head
      ? '\n' + state.head.parties.map((p) => `  head endpoint ${p.url}  (${p.keys})`).join('\n')
      : '';
    ctx.output.result(`devnet running at ${state.url} (pid ${state.pid})\n  ${describeInfo(info)}${head}`, {
      running: true,
      ...state,
      ...info,
    });
  });

  headFlags(
    devnet.command('serve').description('run the devnet in the foreground (what `up` starts)'),
  ).action(async (options: HeadOptions) => {
    const ctx = await context();
    const dir = devnetDir(ctx);
    if (runningPid(dir) !== undefined && runningPid(dir) !== process.pid)
      throw new DmlError('DEVNET_RUNNING', `a devnet is already running in ${dir}`, {
        hint: 'stop it with `dml devnet down`',
      });
    const ledger = await DevnetLedger.open(dir);
    const server = await startDevnetServer(ledger, {
      port: wholeNumber('DML_DEVNET_PORT', ctx.settings.devnetPort ?? '0'),
    });
    let head: DevnetHead | undefined;
    if (options.headParties) {
      head = await startDevnetHead(ledger, {
        keyDirs: options.headParties.split(',').filter((d) => d !== ''),
        contestationPeriod: wholeNumber('--contestation-period', options.contestationPeriod ?? '60', 1),
        // a party keeps its endpoint's port from one head to the next (down, up with new parties)
        portsFile: join(dir, 'head-ports.json'),
      });
    }
    writeDevnetState(dir, {
      url: server.url,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      ...(head ? { head: head.state } : {}),
    });
    ctx.output.info(`devnet listening on ${server.url}`);
    await new Promise<void>((done) => {
      process.once('SIGTERM', () => done());
      process.once('SIGINT', () => done());
    });
    await head?.close();
    await server.close();
    ledger.close();
    clearDevnetState(dir);
  });

  devnet
    .command('down')
    .description('stop the devnet (its state stays in the devnet folder for the next `up`)')
    .action(async () => {
      const ctx = await context();
      const pid = await stopDevnetProcess(devnetDir(ctx));
      ctx.output.result(pid === undefined ? 'devnet was not running' : `devnet stopped (pid ${pid})`, {
        stopped: pid !== undefined,
        pid: pid ?? null,
      });
    });

  devnet
    .command('status')
    .description('is the devnet running; its slot and time, tip, number of UTxOs, URL')
    .action(async () => {
      const ctx = await context();
      const dir = devnetDir(ctx);
      const pid = runningPid(dir);
      const state = readDevnetState(dir);
      if (pid === undefined || !state) {
        const journal = existsSync(join(dir, DEVNET_JOURNAL_FILE))
          ? DevnetJournal.open(join(dir, DEVNET_JOURNAL_FILE))
          : undefined;
        const records = journal?.records.length ?? 0;
        journal?.close();
        ctx.output.result(
          records > 0
            ? `devnet stopped (${records} journal records in ${dir}; \`dml devnet up\` resumes it)`
            : `no devnet in ${dir} (\`dml devnet up\` creates one)`,
          { running: false, dir, journalRecords: records },
        );
        return;
      }
      const info = await new DevnetProvider(state.url).info();
      const head = state.head
        ? '\n' + state.head.parties.map((p) => `  head endpoint ${p.url}  (${p.keys})`).join('\n')
        : '';
      ctx.output.result(`devnet running at ${state.url} (pid ${pid})\n  ${describeInfo(info)}${head}`, {
        running: true,
        dir,
        ...state,
        ...info,
      });
    });

  devnet
    .command('advance')
    .description("move the devnet's clock forward (blocks are made as slots pass; 1 slot = 1 s)")
    .option('--seconds <n>', 'seconds to advance')
    .option('--slots <n>', 'slots to advance')
    .action(async (options: { seconds?: string; slots?: string }) => {
      const ctx = await context();
      if ((options.seconds === undefined) === (options.slots === undefined))
        throw new DmlError('BAD_FLAG', 'give exactly one of --seconds N or --slots N');
      const slots = wholeNumber(
        options.seconds !== undefined ? '--seconds' : '--slots',
        (options.seconds ?? options.slots)!,
        1,
      );
      const provider = new DevnetProvider(devnetUrl(ctx.settings));
      const info = await provider.advance({ slots });
      ctx.output.result(`devnet clock advanced ${slots} s: ${describeInfo(info)}`, info);
    });

  devnet
    .command('fund')
    .description("pay ada from the devnet's genesis faucet to an address, or to the --keys folder's address")
    .argument('[address]', 'bech32 address (default: the address of the --keys folder)')
    .requiredOption('--ada <n>', 'amount of ada')
    .action(async (address: string | undefined, options: { ada: string }) => {
      const ctx = await context();
      const lovelace = adaToLovelace('--ada', options.ada);
      const to = address ?? (await loadPartyWallet(ctx.settings.keys!)).address;
      const provider = new DevnetProvider(devnetUrl(ctx.settings));
      const txHash = await provider.fund(to, lovelace);
      ctx.output.result(`funded ${to} with ${options.ada} ada (tx ${txHash})`, {
        address: to,
        lovelace: lovelace.toString(),
        txHash,
      });
    });
};
