import { afterAll, describe, expect, it } from '@jest/globals';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey } from 'lucid-cardano';
import { DevnetLedger, DEVNET_JOURNAL_FILE, lucidOver } from './devnet-ledger.js';
import { DevnetProvider } from './devnet-provider.js';
import { startDevnetServer } from './devnet-server.js';
import { journalChainTxs, readJournalFile } from './journal-chain.js';

const dir = mkdtempSync(join(tmpdir(), 'dml-journal-chain-'));
let ledger: DevnetLedger;
afterAll(() => ledger?.close());

describe('the devnet chain from its journal', () => {
  it('is the validating emulator history: same transactions, same order, same block slots; the mempool is left out', async () => {
    ledger = await DevnetLedger.open(dir);
    const lucid = await lucidOver(ledger.asProvider(), ledger.genesisTime);
    const key = generatePrivateKey();
    const address = await lucid.selectWalletFromPrivateKey(key).wallet.address();
    await ledger.fund(address, 50_000_000n);
    ledger.advance(7); // a partial block: no transaction moves
    await ledger.fund(address, 20_000_000n);
    // two transactions in one block, after a few odd advances
    const pay = async (lovelace: bigint) => {
      lucid.selectWalletFromPrivateKey(key);
      const tx = await lucid.newTx().payToAddress(address, { lovelace }).complete();
      return ledger.submit((await tx.sign().complete()).toString());
    };
    const first = await pay(3_000_000n);
    ledger.advance(30);
    const second = await pay(4_000_000n);
    const history = ledger.emulator.history.map((t) => ({ ...t }));
    const fromJournal = ledger.chainTxs();
    expect(fromJournal).toEqual(history);
    expect(fromJournal.map((t) => t.txId)).toContain(first);
    // the last payment is in the mempool: not on chain yet
    expect(fromJournal.map((t) => t.txId)).not.toContain(second);
    ledger.advance(20);
    expect(ledger.chainTxs()).toEqual(ledger.emulator.history);
    expect(ledger.chainTxs().at(-1)).toMatchObject({ txId: second, slot: ledger.emulator.slot });

    // over HTTP, and from the file read-only (a torn last line, an append in progress, is left out)
    const server = await startDevnetServer(ledger);
    try {
      expect(await new DevnetProvider(server.url).chainTxs()).toEqual(ledger.chainTxs());
    } finally {
      await server.close();
    }
    const path = join(dir, DEVNET_JOURNAL_FILE);
    appendFileSync(path, '{"kind":"advance","sl');
    expect(journalChainTxs(readJournalFile(path)!)).toEqual(ledger.chainTxs());
    expect(readJournalFile(join(dir, 'none.jsonl'))).toBeUndefined();
  });
});
