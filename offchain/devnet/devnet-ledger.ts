import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  C,
  Lucid,
  SLOT_CONFIG_NETWORK,
  applyDoubleCborEncoding,
  type Address,
  type Credential,
  type Delegation,
  type OutRef,
  type ProtocolParameters,
  type Provider,
  type UTxO,
} from 'lucid-cardano';
import { VALIDATOR_TITLES, loadBlueprint, validatorOf } from '../../contracts/index.js';
import { ValidatingEmulator } from '../chain/index.js';
import { DmlError } from '../errors.js';
import { DevnetJournal, type GenesisOutput, type JournalRecord } from './journal.js';
import { journalChainTxs } from './journal-chain.js';
import type { ChainTx } from '../chain/index.js';

/**
 * The devnet's layer 1: the validating emulator (scripts run at submit) made durable by a
 * journal. Every change goes through `submit` or `advance`, which append to the journal before
 * they return; `open` replays the journal, so a restart rebuilds the same ledger, mempool, slot
 * and block height.
 *
 * The clock is the devnet's: it moves only by `advance` (and by the block that `awaitTx` and
 * `fund` make so that a submitted transaction becomes visible), never by the wall clock.
 * Slot 0 is at the genesis time; a slot is 1 s; a block is 20 slots (lucid's Emulator).
 */
export const DEVNET_JOURNAL_FILE = 'journal.jsonl';
export const DEVNET_FAUCET_KEY_FILE = 'faucet.sk';
export const SLOTS_PER_BLOCK = 20;
const FAUCET_LOVELACE = 1_000_000_000_000_000n; // 1 billion ada

export interface DevnetInfo {
  readonly slot: number;
  /** POSIX ms of the current slot. */
  readonly time: number;
  /** POSIX ms of slot 0 (lucid's slot config for network Custom). */
  readonly zeroTime: number;
  readonly blockHeight: number;
  /** Unspent outputs in blocks (not counting the mempool). */
  readonly utxos: number;
  readonly mempool: number;
  /** Hash of the last accepted transaction, if any. */
  readonly lastTx: string | undefined;
  readonly journalRecords: number;
  readonly faucetAddress: string | undefined;
}

export interface DevnetOpenOptions {
  /** Extra genesis outputs (only used when the devnet is created). */
  readonly genesis?: readonly GenesisOutput[];
  /** POSIX ms of slot 0 (only when created); default now. */
  readonly time?: number;
  readonly protocolParameters?: ProtocolParameters;
  /**
   * Re-run every script of every journaled transaction on replay (slow: phase 2 again). By
   * default replay checks phase 1 only (witnesses, inputs, validity interval): the records were
   * validated in full when they were accepted.
   */
  readonly verifyScripts?: boolean;
}

export class DevnetLedger {
  private lastTx: string | undefined;
  /** Called after each clock advance (not during replay), with the ms it moved. */
  onAdvance: ((ms: number) => void) | undefined;

  private constructor(
    readonly dir: string,
    readonly emulator: ValidatingEmulator,
    private readonly journal: DevnetJournal,
    private readonly faucetKey: string | undefined,
  ) {}

  /** Opens the devnet in `dir`, creating it (journal, faucet key) when there is none. */
  static async open(dir: string, options: DevnetOpenOptions = {}): Promise<DevnetLedger> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const journalPath = join(dir, DEVNET_JOURNAL_FILE);
    const faucetPath = join(dir, DEVNET_FAUCET_KEY_FILE);
    let journal = DevnetJournal.open(journalPath);
    let faucetKey: string | undefined;
    if (existsSync(faucetPath)) faucetKey = readFileSync(faucetPath, 'utf8').trim();
    if (!journal) {
      faucetKey = C.PrivateKey.generate_ed25519().to_bech32();
      writeFileSync(faucetPath, faucetKey + '\n', { mode: 0o600 });
      chmodSync(faucetPath, 0o600);
      const faucetAddress = addressOfKey(faucetKey);
      journal = DevnetJournal.create(journalPath, {
        kind: 'genesis',
        version: 1,
        time: options.time ?? Date.now(),
        outputs: [
          { address: faucetAddress, assets: { lovelace: FAUCET_LOVELACE } },
          ...(options.genesis ?? []),
        ],
        ...(options.protocolParameters ? { protocolParameters: options.protocolParameters } : {}),
        faucetAddress,
      });
    }
    const genesis = journal.genesis;
    const emulator = new ValidatingEmulator(
      genesis.outputs.map((o) => ({
        address: o.address,
        assets: o.assets,
        ...(o.outputData ? { outputData: o.outputData as never } : {}),
      })),
      genesis.protocolParameters ? { protocolParameters: genesis.protocolParameters } : {},
    );
    emulator.time = genesis.time;
    nameBlueprintScripts(emulator);
    const ledger = new DevnetLedger(dir, emulator, journal, faucetKey);
    await ledger.replay(journal.records.slice(1), options.verifyScripts === true);
    return ledger;
  }

  private async replay(records: readonly JournalRecord[], verifyScripts: boolean): Promise<void> {
    for (const [i, record] of records.entries()) {
      if (record.kind === 'advance') this.emulator.awaitSlot(record.slots);
      else if (record.kind === 'tx') {
        try {
          this.lastTx = verifyScripts
            ? await this.emulator.submitTx(record.cbor)
            : await this.emulator.submitWithoutScripts(record.cbor);
        } catch (error) {
          throw new DmlError(
            'DEVNET_JOURNAL_DIVERGED',
            `${this.journal.path}: record ${i + 2} (a transaction) no longer applies: ${messageOf(error)}`,
          );
        }
      }
    }
  }

  get genesisTime(): number {
    return this.journal.genesis.time;
  }

  get faucetAddress(): string | undefined {
    return this.journal.genesis.faucetAddress;
  }

  /** Validates (phase 1 and 2), applies and journals a signed transaction; returns its hash. */
  async submit(cbor: string): Promise<string> {
    const hash = await this.emulator.submitTx(cbor);
    this.journal.append({ kind: 'tx', cbor });
    this.lastTx = hash;
    return hash;
  }

  /** Moves the devnet's clock forward (blocks are made as slots pass). */
  advance(slots: number): void {
    if (!Number.isInteger(slots) || slots < 0)
      throw new DmlError('BAD_ADVANCE', `advance takes a whole number of slots >= 0, got ${slots}`);
    if (slots === 0) return;
    this.emulator.awaitSlot(slots);
    this.journal.append({ kind: 'advance', slots });
    this.onAdvance?.(slots * 1000);
  }

  /** Like lucid's Emulator: a transaction in the mempool is put in a block (the clock moves one block). */
  awaitTx(txHash: string): boolean {
    if (this.emulator.mempool[txHash + 0]) this.advance(SLOTS_PER_BLOCK);
    return true;
  }

  /** Pays `lovelace` from the genesis faucet to `address`, in a block; returns the tx hash. */
  async fund(address: string, lovelace: bigint): Promise<string> {
    if (!this.faucetKey)
      throw new DmlError(
        'DEVNET_NO_FAUCET',
        `the faucet key ${join(this.dir, DEVNET_FAUCET_KEY_FILE)} is missing`,
      );
    if (lovelace < 1_000_000n)
      throw new DmlError('BAD_AMOUNT', 'fund at least 1 ada (an output needs min ada)');
    try {
      C.Address.from_bech32(address);
    } catch {
      throw new DmlError('BAD_ADDRESS', `not a bech32 Cardano address: ${address}`);
    }
    const lucid = await lucidOver(this.asProvider(), this.genesisTime);
    lucid.selectWalletFromPrivateKey(this.faucetKey);
    const tx = await lucid.newTx().payToAddress(address, { lovelace }).complete();
    const signed = await tx.sign().complete();
    const hash = await this.submit(signed.toString());
    this.advance(SLOTS_PER_BLOCK);
    return hash;
  }

  info(): DevnetInfo {
    const e = this.emulator;
    return {
      slot: e.slot,
      time: e.now(),
      zeroTime: this.genesisTime,
      blockHeight: e.blockHeight,
      utxos: Object.values(e.ledger).filter((entry) => !entry.spent).length,
      mempool: Object.keys(e.mempool).length,
      lastTx: this.lastTx,
      journalRecords: this.journal.records.length,
      faucetAddress: this.faucetAddress,
    };
  }

  /** Every unspent output (blocks and mempool), sorted by out-ref: the whole UTxO set. */
  utxoSet(): UTxO[] {
    const all = [...Object.values(this.emulator.ledger), ...Object.values(this.emulator.mempool)]
      .filter((entry) => !entry.spent)
      .map((entry) => entry.utxo);
    return all.sort((a, b) =>
      a.txHash === b.txHash ? a.outputIndex - b.outputIndex : a.txHash < b.txHash ? -1 : 1,
    );
  }

  /** Every transaction in a block, in block order with its block's slot (from the journal). */
  chainTxs(): ChainTx[] {
    return journalChainTxs(this.journal.records);
  }

  /** This ledger as a lucid provider in the same process (the server and `fund` use it). */
  asProvider(): Provider {
    const e = this.emulator;
    return {
      getProtocolParameters: () => e.getProtocolParameters(),
      getUtxos: (a: Address | Credential) => e.getUtxos(a),
      getUtxosWithUnit: (a: Address | Credential, unit: string) => e.getUtxosWithUnit(a, unit),
      getUtxoByUnit: (unit: string) => e.getUtxoByUnit(unit),
      getUtxosByOutRef: (refs: OutRef[]) => e.getUtxosByOutRef(refs),
      getDelegation: (addr: string): Promise<Delegation> => e.getDelegation(addr),
      getDatum: (hash: string) => e.getDatum(hash),
      awaitTx: (hash: string) => Promise.resolve(this.awaitTx(hash)),
      submitTx: (tx: string) => this.submit(tx),
    };
  }

  close(): void {
    this.journal.close();
  }
}

/**
 * A lucid instance over any provider of the devnet, with the devnet's slot clock: slot 0 at
 * `zeroTime`, 1 s slots (lucid reads network Custom's slot config when it is created).
 */
export const lucidOver = async (provider: Provider, zeroTime: number): Promise<Lucid> => {
  SLOT_CONFIG_NETWORK.Custom = { zeroTime, zeroSlot: 0, slotLength: 1000 };
  return Lucid.new(provider, 'Custom');
};

const addressOfKey = (bech32Key: string): string => {
  const key = C.PrivateKey.from_bech32(bech32Key);
  return C.EnterpriseAddress.new(0, C.StakeCredential.from_keyhash(key.to_public().hash()))
    .to_address()
    .to_bech32(undefined);
};

/** Names the parameterless validators (state, escrow) so that rejections say which one failed. */
const nameBlueprintScripts = (emulator: ValidatingEmulator): void => {
  const blueprint = loadBlueprint();
  for (const title of [VALIDATOR_TITLES.cohortState, VALIDATOR_TITLES.escrow]) {
    const script = C.PlutusScript.from_bytes(
      Buffer.from(applyDoubleCborEncoding(validatorOf(blueprint, title).compiledCode), 'hex'),
    );
    emulator.nameScripts({ [script.hash(C.ScriptHashNamespace.PlutusV2).to_hex()]: title });
  }
};

const messageOf = (error: unknown): string =>
  typeof error === 'string' ? error : error instanceof Error ? error.message : String(error);
