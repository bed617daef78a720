// The local devnet: the validating emulator's layer 1 made durable (a journal), served over HTTP
// as a lucid Provider, with a clock the devnet controls and a genesis faucet.
export { toDevnetJson, fromDevnetJson } from './wire-json.js';
export { journalChainTxs, readJournalFile, txIdOf } from './journal-chain.js';
export { DevnetJournal, type JournalRecord, type GenesisOutput, type GenesisRecord } from './journal.js';
export {
  DevnetLedger,
  lucidOver,
  DEVNET_JOURNAL_FILE,
  DEVNET_FAUCET_KEY_FILE,
  SLOTS_PER_BLOCK,
  type DevnetInfo,
  type DevnetOpenOptions,
} from './devnet-ledger.js';
export { startDevnetServer, type DevnetServer } from './devnet-server.js';
export { DevnetProvider } from './devnet-provider.js';
export { devnetHeadLayer1, HEAD_OPERATOR_KEY_FILE, HEAD_CUSTODY_KEY_FILE } from './devnet-head-layer1.js';
