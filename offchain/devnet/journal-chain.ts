import { existsSync, readFileSync } from 'node:fs';
import { C, fromHex } from 'lucid-cardano';
import type { ChainTx } from '../chain/index.js';
import { DmlError } from '../errors.js';
import type { JournalRecord } from './journal.js';
import { fromDevnetJson } from './wire-json.js';

/** Slots per block of lucid's Emulator (and so of the devnet). */
const BLOCK_SLOTS = 20;

/**
 * The devnet's chain as a follower sees it, derived from its journal alone: every accepted
 * transaction in block order with the slot of the block that holds it. A pure fold over the
 * records that mirrors lucid's `Emulator.awaitSlot` (which the devnet's replay runs): the clock
 * starts at slot 0, block 0; a `tx` record goes to the mempool; an `advance` moves the slot, and
 * when the block height (slot / 20, rounded down) grows, the mempool becomes a block at the new
 * slot. Transactions still in the mempool at the end are not on chain yet and are left out (a
 * later read finds them in their block).
 *
 * This is what `ValidatingEmulator.history` records in memory, recomputed from the file, so a
 * follower needs neither the devnet's process nor an unbounded list kept inside it.
 */
export const journalChainTxs = (records: Iterable<JournalRecord>): ChainTx[] => {
  const chain: ChainTx[] = [];
  let pending: Array<{ txId: string; cbor: string }> = [];
  let slot = 0;
  let height = 0;
  for (const record of records) {
    if (record.kind === 'tx') pending.push({ txId: txIdOf(record.cbor), cbor: record.cbor });
    else if (record.kind === 'advance') {
      slot += record.slots;
      const next = Math.floor(slot / BLOCK_SLOTS);
      if (next > height) {
        for (const p of pending) chain.push({ ...p, slot });
        pending = [];
      }
      height = next;
    }
  }
  return chain;
};

/** A transaction's id: the hash of its body, as it was submitted (CML keeps the body's bytes). */
export const txIdOf = (cbor: string): string =>
  C.hash_transaction(C.Transaction.from_bytes(fromHex(cbor)).body()).to_hex();

/**
 * Reads a devnet journal file without opening it for writing (the devnet may be appending to it):
 * a torn last line (an append in progress) is left out, never repaired here. `undefined` when
 * there is no file.
 */
export const readJournalFile = (path: string): JournalRecord[] | undefined => {
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  const whole = text.slice(0, text.lastIndexOf('\n') + 1);
  const records: JournalRecord[] = [];
  let line = 0;
  for (const raw of whole.split('\n')) {
    line++;
    if (raw === '') continue;
    try {
      records.push(fromDevnetJson<JournalRecord>(raw));
    } catch {
      throw new DmlError('DEVNET_JOURNAL_CORRUPT', `${path}: line ${line} is not a journal record`);
    }
  }
  if (records[0]?.kind !== 'genesis')
    throw new DmlError('DEVNET_JOURNAL_CORRUPT', `${path}: the first record is not the genesis`);
  return records;
};
