// Devnet benchmark: what the journal costs. Submit latency over HTTP (a faucet payment: build,
// sign, validate, journal with fsync, one block), and the time to reopen a devnet by replaying
// its journal (per record), with script transactions (cohort create and joins) among them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey } from 'lucid-cardano';
import { loadBlueprint } from '../contracts/index.js';
import {
  DEFAULT_TERMS,
  DevnetLedger,
  DevnetProvider,
  cohortScripts,
  createCohortTx,
  findCohortState,
  joinTx,
  startDevnetServer,
} from '../offchain/index.js';

type Row = { name: string; value: number; unit: string; note?: string };

export default async (): Promise<Row[]> => {
  const dir = mkdtempSync(join(tmpdir(), 'dml-devnet-bench-'));
  const ledger = await DevnetLedger.open(dir);
  const server = await startDevnetServer(ledger);
  const provider = new DevnetProvider(server.url);
  const lucid = await provider.lucid();
  const FUNDS = 20;
  const keys: string[] = [];
  let t = performance.now();
  for (let i = 0; i < FUNDS; i++) {
    const key = generatePrivateKey();
    keys.push(key);
    await provider.fund(await lucid.selectWalletFromPrivateKey(key).wallet.address(), 50_000_000n);
  }
  const fundMs = (performance.now() - t) / FUNDS;

  lucid.selectWalletFromPrivateKey(keys[0]!);
  const [seed] = await lucid.wallet.getUtxos();
  const scripts = cohortScripts(lucid, loadBlueprint(), seed!);
  const submit = async (key: string, build: () => ReturnType<typeof createCohortTx>) => {
    lucid.selectWalletFromPrivateKey(key);
    const hash = await (await (await build().complete()).sign().complete()).submit();
    await provider.awaitTx(hash);
  };
  t = performance.now();
  await submit(keys[0]!, () => createCohortTx(lucid, scripts, seed!, DEFAULT_TERMS));
  const JOINS = 10;
  for (let i = 1; i <= JOINS; i++) {
    const state = await findCohortState(lucid, scripts);
    const pkh = lucid.utils.getAddressDetails(
      await lucid.selectWalletFromPrivateKey(keys[i]!).wallet.address(),
    ).paymentCredential!.hash;
    await submit(keys[i]!, () =>
      joinTx(lucid, scripts, state, { pkh, hydraVk: 'aa'.repeat(32), deposit: DEFAULT_TERMS.minDeposit }),
    );
  }
  const scriptTxMs = (performance.now() - t) / (JOINS + 1);
  const records = ledger.info().journalRecords;
  await server.close();
  ledger.close();

  t = performance.now();
  const reopened = await DevnetLedger.open(dir);
  const replayMs = performance.now() - t;
  reopened.close();
  t = performance.now();
  const verified = await DevnetLedger.open(dir, { verifyScripts: true });
  const verifyMs = performance.now() - t;
  verified.close();
  rmSync(dir, { recursive: true, force: true });
  return [
    {
      name: 'devnet faucet payment over HTTP',
      value: fundMs,
      unit: 'ms',
      note: 'build, sign, validate, fsync, block',
    },
    {
      name: 'devnet script tx over HTTP (cohort create/join)',
      value: scriptTxMs,
      unit: 'ms',
      note: 'client build with scripts + devnet phase 2 + journal',
    },
    { name: `devnet reopen by replay (${records} records)`, value: replayMs, unit: 'ms' },
    {
      name: 'devnet replay per record',
      value: replayMs / records,
      unit: 'ms',
      note: 'phase 1 only (default)',
    },
    {
      name: `devnet reopen with scripts re-run (${records} records)`,
      value: verifyMs,
      unit: 'ms',
      note: '--verify-journal: phase 2 again for the 11 script txs',
    },
  ];
};
