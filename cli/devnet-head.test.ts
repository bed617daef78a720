import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevnetLedger, HydraClient } from '../offchain/index.js';
import { main } from './main.js';
import { CapturedStream } from './test-io.js';
import { startDevnetHead } from './devnet-head.js';

/** Each party's endpoint keeps its port from one devnet head to the next, as a real hydra-node keeps its URL. */

let home: string;
let ledger: DevnetLedger;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'dml-devnet-head-'));
  ledger = await DevnetLedger.open(join(home, 'devnet'));
  for (const party of ['a', 'b', 'c']) {
    const stderr = new CapturedStream();
    const code = await main(['--keys', join(home, party), 'keys', 'new'], {
      stdout: new CapturedStream(),
      stderr,
      env: { DML_HOME: home },
    });
    expect({ code, stderr: stderr.text }).toEqual({ code: 0, stderr: '' });
  }
});
afterAll(async () => {
  ledger?.close();
  await rm(home, { recursive: true, force: true });
});

const portOf = (url: string) => Number(/:(\d+)$/.exec(url)![1]);

describe('startDevnetHead with a ports file', () => {
  it('gives a continuing party its port again in the next head, a newcomer a new one; a taken port falls back to a free one', async () => {
    const portsFile = join(home, 'devnet', 'head-ports.json');
    const dirs = (parties: string[]) => parties.map((p) => join(home, p));
    const first = await startDevnetHead(ledger, {
      keyDirs: dirs(['a', 'b']),
      contestationPeriod: 30,
      portsFile,
    });
    const before = first.state.parties.map((p) => portOf(p.url));
    await first.close();

    const second = await startDevnetHead(ledger, {
      keyDirs: dirs(['c', 'a', 'b']),
      contestationPeriod: 30,
      portsFile,
    });
    try {
      const after = second.state.parties.map((p) => portOf(p.url));
      expect(after.slice(1)).toEqual(before);
      expect(before).not.toContain(after[0]);
      const remembered = JSON.parse(readFileSync(portsFile, 'utf8')) as Record<string, number>;
      expect(Object.fromEntries(second.state.parties.map((p) => [p.party, portOf(p.url)]))).toEqual(
        remembered,
      );
      // the endpoint at the old URL is the new head's, of three parties
      const client = new HydraClient({ host: '127.0.0.1', port: before[0]!, defaultTimeoutMs: 10_000 });
      const greetings = await client.connect();
      await client.disconnect();
      expect(greetings.headStatus).toBe('Idle');
      const env = greetings.env as { otherParties: unknown[] };
      expect(env.otherParties).toHaveLength(2);
    } finally {
      await second.close();
    }

    // a's remembered port taken by another program: every party gets a free port, and the file says which
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(before[0], '127.0.0.1', resolve));
    try {
      const third = await startDevnetHead(ledger, {
        keyDirs: dirs(['a', 'b']),
        contestationPeriod: 30,
        portsFile,
      });
      const ports = third.state.parties.map((p) => portOf(p.url));
      await third.close();
      expect(ports[0]).not.toBe((blocker.address() as AddressInfo).port);
      const remembered = JSON.parse(readFileSync(portsFile, 'utf8')) as Record<string, number>;
      expect(remembered[third.state.parties[0]!.party]).toBe(ports[0]);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  }, 60_000);
});
