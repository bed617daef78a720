import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../main.js';
import { CapturedStream } from '../test-io.js';
import { stopDevnetProcess } from '../devnet-process.js';

const home = await mkdtemp(join(tmpdir(), 'dml-devnet-cli-'));
const env = { DML_HOME: home };
const run = async (argv: string[]) => {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const code = await main(argv, { stdout, stderr, env });
  return { code, stdout: stdout.text, stderr: stderr.text };
};
const json = async <T>(argv: string[]): Promise<T> => {
  const result = await run(['--json', ...argv]);
  if (result.code !== 0) throw new Error(`dml ${argv.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
};

afterAll(async () => {
  await stopDevnetProcess(join(home, 'devnet'));
});

interface Status {
  running: boolean;
  url?: string;
  slot?: number;
  utxos?: number;
  lastTx?: string;
  journalRecords: number;
}

describe('dml devnet', () => {
  it('says no devnet runs before up, and refuses to fund without one', async () => {
    expect(await json<Status>(['devnet', 'status'])).toMatchObject({ running: false, journalRecords: 0 });
    const fund = await run(['devnet', 'fund', 'addr_test1xyz', '--ada', '5']);
    expect(fund.code).toBe(1);
    expect(fund.stderr.trim().split('\n')).toHaveLength(1);
    expect(fund.stderr).toContain('no devnet is running');
  });

  it('runs in the background: up, fund a key folder, advance, status; down and up keep the state', async () => {
    const up = await json<Status & { pid: number }>(['devnet', 'up']);
    expect(up.running).toBe(true);
    expect(up.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await run(['keys', 'new'])).code).toBe(0);
    const funded = await json<{ txHash: string; lovelace: string }>(['devnet', 'fund', '--ada', '12.5']);
    expect(funded.lovelace).toBe('12500000');
    const advanced = await json<Status>(['devnet', 'advance', '--seconds', '30']);
    const before = await json<Status>(['devnet', 'status']);
    expect(before).toMatchObject({ running: true, slot: advanced.slot, lastTx: funded.txHash });
    const badFlag = await run(['devnet', 'advance', '--seconds', 'soon']);
    expect(badFlag.code).toBe(1);
    expect(badFlag.stderr).toContain('--seconds must be a whole number');

    expect(await json<{ stopped: boolean }>(['devnet', 'down'])).toMatchObject({ stopped: true });
    expect(await json<Status>(['devnet', 'status'])).toMatchObject({
      running: false,
      journalRecords: before.journalRecords,
    });
    await json(['devnet', 'up']);
    const after = await json<Status>(['devnet', 'status']);
    expect(after).toMatchObject({
      running: true,
      slot: before.slot,
      utxos: before.utxos,
      lastTx: funded.txHash,
    });
    await json(['devnet', 'down']);
  });
});
