import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey, type Lucid } from 'lucid-cardano';
import { loadBlueprint } from '../../contracts/index.js';
import {
  DEFAULT_TERMS,
  ScriptFailure,
  cohortScripts,
  createCohortTx,
  findCohortState,
  joinTx,
  readCohortState,
} from '../chain/index.js';
import { outputAddress, outputLovelace, tamperTx, withLovelace } from '../chain/tamper.js';
import { DmlError } from '../errors.js';
import { DevnetLedger, DEVNET_JOURNAL_FILE } from './devnet-ledger.js';
import { DevnetProvider } from './devnet-provider.js';
import { startDevnetServer, type DevnetServer } from './devnet-server.js';
import { toDevnetJson } from './wire-json.js';

const running: Array<{ ledger: DevnetLedger; server: DevnetServer }> = [];
const serve = async (dir: string) => {
  const ledger = await DevnetLedger.open(dir);
  const server = await startDevnetServer(ledger);
  running.push({ ledger, server });
  return { ledger, server, provider: new DevnetProvider(server.url) };
};
const stop = async () => {
  for (const { ledger, server } of running.splice(0)) {
    await server.close();
    ledger.close();
  }
};
afterEach(stop);

const wallet = async (lucid: Lucid, provider: DevnetProvider, ada: bigint) => {
  const privateKey = generatePrivateKey();
  const address = await lucid.selectWalletFromPrivateKey(privateKey).wallet.address();
  await provider.fund(address, ada * 1_000_000n);
  const pkh = lucid.utils.getAddressDetails(address).paymentCredential!.hash;
  return { privateKey, address, pkh };
};

const submitAs = async (lucid: Lucid, provider: DevnetProvider, key: string, build: () => unknown) => {
  lucid.selectWalletFromPrivateKey(key);
  const tx = await (
    build() as { complete(): Promise<{ sign(): { complete(): Promise<{ submit(): Promise<string> }> } }> }
  ).complete();
  const hash = await (await tx.sign().complete()).submit();
  await provider.awaitTx(hash);
  return hash;
};

describe('devnet: the validating emulator made durable and served over HTTP', () => {
  it('creates and joins a cohort through DevnetProvider; a restart from the journal rebuilds the same UTxO set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dml-devnet-'));
    const { provider, server } = await serve(dir);
    const lucid = await provider.lucid();
    const creator = await wallet(lucid, provider, 100n);
    const parties = [await wallet(lucid, provider, 100n), await wallet(lucid, provider, 100n)];

    lucid.selectWalletFromPrivateKey(creator.privateKey);
    const [seed] = await lucid.wallet.getUtxos();
    const scripts = cohortScripts(lucid, loadBlueprint(), seed!);
    await submitAs(lucid, provider, creator.privateKey, () =>
      createCohortTx(lucid, scripts, seed!, DEFAULT_TERMS),
    );
    for (const p of parties) {
      const state = await findCohortState(lucid, scripts);
      await submitAs(lucid, provider, p.privateKey, () =>
        joinTx(lucid, scripts, state, {
          pkh: p.pkh,
          hydraVk: 'aa'.repeat(32),
          deposit: DEFAULT_TERMS.minDeposit,
        }),
      );
    }
    const state = readCohortState(await findCohortState(lucid, scripts));
    expect(state.members.map((m) => m.pkh).sort()).toEqual(parties.map((p) => p.pkh).sort());
    expect((await lucid.utxosAt(scripts.escrowAddress)).length).toBe(2);

    const before = await provider.utxoSet();
    const infoBefore = await provider.info();
    expect(infoBefore.utxos).toBeGreaterThan(0);
    await provider.advance({ slots: 7 });
    await server.close();
    running.pop()!.ledger.close();
    // The journal: genesis, then only txs and clock advances.
    const kinds = readFileSync(join(dir, DEVNET_JOURNAL_FILE), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { kind: string }).kind);
    expect(kinds[0]).toBe('genesis');
    expect(kinds.filter((k) => k === 'tx')).toHaveLength(6); // 3 funds, create, 2 joins
    // A torn last append (a crash mid-write) is dropped on open.
    appendFileSync(join(dir, DEVNET_JOURNAL_FILE), '{"kind":"adv');

    const again = await serve(dir);
    expect(toDevnetJson(await again.provider.utxoSet())).toBe(toDevnetJson(before));
    const infoAfter = await again.provider.info();
    expect(infoAfter.slot).toBe(infoBefore.slot + 7);
    expect(infoAfter.zeroTime).toBe(infoBefore.zeroTime);
    const lucid2 = await again.provider.lucid();
    expect(readCohortState(await findCohortState(lucid2, scripts)).members).toHaveLength(2);
    await stop();
    // Replaying with every script run again gives the same ledger.
    const verified = await DevnetLedger.open(dir, { verifyScripts: true });
    expect(toDevnetJson(verified.utxoSet())).toBe(toDevnetJson(before));
    verified.close();
  });

  it('rejects a transaction that fails a script with the script failure, and journals nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dml-devnet-'));
    const { provider } = await serve(dir);
    const lucid = await provider.lucid();
    const creator = await wallet(lucid, provider, 100n);
    const party = await wallet(lucid, provider, 100n);
    lucid.selectWalletFromPrivateKey(creator.privateKey);
    const [seed] = await lucid.wallet.getUtxos();
    const scripts = cohortScripts(lucid, loadBlueprint(), seed!);
    await submitAs(lucid, provider, creator.privateKey, () =>
      createCohortTx(lucid, scripts, seed!, DEFAULT_TERMS),
    );

    lucid.selectWalletFromPrivateKey(party.privateKey);
    const state = await findCohortState(lucid, scripts);
    const honest = await joinTx(lucid, scripts, state, {
      pkh: party.pkh,
      hydraVk: 'bb'.repeat(32),
      deposit: DEFAULT_TERMS.minDeposit,
    }).complete();
    // The same join with the deposit cut to 2 ada after the builder ran the scripts.
    const cheat = tamperTx(honest.toString(), {
      outputs: (outs) =>
        outs.map((o) =>
          outputAddress(o) === scripts.escrowAddress && outputLovelace(o) === DEFAULT_TERMS.minDeposit
            ? withLovelace(o, 2_000_000n)
            : o,
        ),
    });
    const signed = await lucid.fromTx(cheat).sign().complete();
    const records = (await provider.info()).journalRecords;
    const rejection = await provider.submitTx(signed.toString()).catch((e: unknown) => e);
    expect(rejection).toBeInstanceOf(ScriptFailure);
    expect((rejection as ScriptFailure).message).toMatch(/failed/);
    expect((rejection as ScriptFailure).purpose).toBeDefined();
    expect((await provider.info()).journalRecords).toBe(records);

    // A transaction spending an output that does not exist: a plain rejection, as a DmlError.
    const spent = await provider.submitTx(honest.toString()).catch((e: unknown) => e);
    expect(spent).toBeInstanceOf(DmlError);
  });

  it('answers a client of a devnet that is not running with a DmlError', async () => {
    const provider = new DevnetProvider('http://127.0.0.1:9');
    await expect(provider.info()).rejects.toMatchObject({ code: 'DEVNET_UNREACHABLE' });
  });
});
