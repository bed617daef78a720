import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { ProtocolParameters } from 'lucid-cardano';
import { DmlError } from '../errors.js';
import { fromDevnetJson, toDevnetJson } from './wire-json.js';

/**
 * The devnet's layer 1 on disk: an append-only file of JSON lines. The first record is the
 * genesis (start time, genesis outputs, protocol parameters); then every accepted signed
 * transaction and every clock advance, in the order they happened. Each append is written and
 * fsync'd before the devnet answers, so an answered submit survives a crash. The ledger is
 * rebuilt by replaying the records (the emulator is deterministic given them).
 *
 * A crash in the middle of an append leaves a last line without its newline: it was never
 * answered, so it is dropped (and the file truncated to the last whole record) on open.
 */
export interface GenesisOutput {
  readonly address: string;
  readonly assets: Record<string, bigint>;
  readonly outputData?: { inline?: string; hash?: string; asHash?: string; scriptRef?: unknown };
}

export type JournalRecord =
  | {
      readonly kind: 'genesis';
      readonly version: 1;
      /** POSIX ms of slot 0. */
      readonly time: number;
      readonly outputs: readonly GenesisOutput[];
      readonly protocolParameters?: ProtocolParameters;
      /** The faucet's address (its key stays in the devnet folder, not in the journal). */
      readonly faucetAddress?: string;
    }
  | { readonly kind: 'tx'; readonly cbor: string }
  | { readonly kind: 'advance'; readonly slots: number };

export type GenesisRecord = Extract<JournalRecord, { kind: 'genesis' }>;

export class DevnetJournal {
  private constructor(
    readonly path: string,
    private fd: number,
    readonly records: JournalRecord[],
  ) {}

  /** Opens (and repairs a torn last line of) an existing journal; `undefined` if there is none. */
  static open(path: string): DevnetJournal | undefined {
    if (!existsSync(path)) return undefined;
    const text = readFileSync(path, 'utf8');
    const whole = text.lastIndexOf('\n') + 1;
    const records: JournalRecord[] = [];
    let line = 0;
    for (const raw of text.slice(0, whole).split('\n')) {
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
    const fd = openSync(path, 'r+');
    if (whole < Buffer.byteLength(text)) {
      ftruncateSync(fd, Buffer.byteLength(text.slice(0, whole)));
      fsyncSync(fd);
    }
    closeSync(fd);
    return new DevnetJournal(path, openSync(path, 'a'), records);
  }

  /** Creates a journal with its genesis record; refuses to overwrite one. */
  static create(path: string, genesis: GenesisRecord): DevnetJournal {
    if (existsSync(path)) throw new DmlError('DEVNET_EXISTS', `${path} exists already`);
    const journal = new DevnetJournal(path, openSync(path, 'a'), []);
    journal.append(genesis);
    return journal;
  }

  get genesis(): GenesisRecord {
    return this.records[0] as GenesisRecord;
  }

  append(record: JournalRecord): void {
    writeSync(this.fd, toDevnetJson(record) + '\n');
    fsyncSync(this.fd);
    this.records.push(record);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
