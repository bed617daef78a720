import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevnetLedger, DevnetProvider, startDevnetServer, type DevnetServer } from '../../offchain/index.js';
import { main } from '../main.js';
import { CapturedStream } from '../test-io.js';
import { startDevnetHead, type DevnetHead } from '../devnet-head.js';
import { loadPartyWallet } from '../party-wallet.js';

let home: string;
let ledger: DevnetLedger;
let server: DevnetServer;
let head: DevnetHead;
let env: Record<string, string>;

const run = async (argv: string[], extraEnv: Record<string, string> = {}) => {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const code = await main(argv, { stdout, stderr, env: { ...env, ...extraEnv } });
  return { code, stdout: stdout.text, stderr: stderr.text };
};
const ok = async <T = Record<string, unknown>>(party: string, argv: string[]): Promise<T> => {
  const url = head.state.parties.find((p) => p.keys === join(home, party))!.url;
  const result = await run(['--json', '--keys', join(home, party), ...argv], { DML_HYDRA_URL: url });
  if (result.code !== 0) throw new Error(`dml ${argv.join(' ')} -> ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
};

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'dml-head-cli-'));
  ledger = await DevnetLedger.open(join(home, 'devnet'));
  server = await startDevnetServer(ledger);
  env = { DML_HOME: home, DML_DEVNET_URL: server.url };
  for (const party of ['a', 'b']) {
    expect((await run(['--keys', join(home, party), 'keys', 'new'])).code).toBe(0);
    expect((await run(['--keys', join(home, party), 'devnet', 'fund', '--ada', '40'])).code).toBe(0);
  }
  head = await startDevnetHead(ledger, {
    keyDirs: [join(home, 'a'), join(home, 'b')],
    contestationPeriod: 30,
  });
});
afterAll(async () => {
  await head.close();
  await server.close();
  ledger.close();
});

describe('dml head, against the devnet head', () => {
  it('inits, commits devnet outputs, opens, closes, fans out after the devnet clock passes the deadline', async () => {
    const provider = new DevnetProvider(server.url);
    const a = await loadPartyWallet(join(home, 'a'));
    expect(await ok('a', ['head', 'status'])).toMatchObject({ headStatus: 'Idle', party: a.hydraVk });
    const init = await ok<{ parties: string[] }>('a', ['head', 'init']);
    expect(init.parties).toHaveLength(2);
    await ok('a', ['head', 'commit']);
    expect((await provider.getUtxos(a.address)).length).toBe(0); // in the head's custody now
    await ok('b', ['head', 'commit']);
    expect(await ok('b', ['head', 'status'])).toMatchObject({ headStatus: 'Open' });

    await ok('b', ['head', 'close']);
    const early = await run(['--keys', join(home, 'a'), 'head', 'fanout', '--timeout', '5'], {
      DML_HYDRA_URL: head.state.parties[0]!.url,
    });
    expect(early.stderr).toMatch(/Fanout failed|deadline|FanoutPossible/);
    expect(early.code).toBe(1);
    expect(early.stderr.trim().split('\n')).toHaveLength(1);
    await provider.advance({ slots: 60 });
    await ok('a', ['head', 'fanout']);
    const back = await provider.getUtxos(a.address);
    expect(back.reduce((s, u) => s + (u.assets['lovelace'] ?? 0n), 0n)).toBe(40_000_000n);
  });

  it('says in one line when no hydra-node is configured for the party', async () => {
    const result = await run(['--keys', join(home, 'a'), 'head', 'status']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no hydra-node for this party');
  });
});
