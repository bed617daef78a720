import type {
  Address,
  Credential,
  Datum,
  DatumHash,
  Delegation,
  Lucid,
  OutRef,
  ProtocolParameters,
  Provider,
  RewardAddress,
  Transaction,
  TxHash,
  Unit,
  UTxO,
} from 'lucid-cardano';
import { ScriptFailure, type ChainTx } from '../chain/index.js';
import { DmlError } from '../errors.js';
import { lucidOver, type DevnetInfo } from './devnet-ledger.js';
import { fromDevnetJson, toDevnetJson } from './wire-json.js';

/**
 * A lucid `Provider` for a devnet over HTTP (see devnet-server.ts for the API). A submit that a
 * script rejects throws `ScriptFailure` (which script, purpose, redeemer, traces); any other
 * rejection or error throws a `DmlError` with the devnet's code and message.
 */
export class DevnetProvider implements Provider {
  readonly url: string;

  constructor(url: string) {
    this.url = url.replace(/\/+$/, '');
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.url + path, {
        method,
        ...(body === undefined
          ? {}
          : { body: toDevnetJson(body), headers: { 'content-type': 'application/json' } }),
      });
    } catch (error) {
      throw new DmlError('DEVNET_UNREACHABLE', `no devnet answers at ${this.url}`, {
        hint: 'start one with `dml devnet up`',
        cause: error,
      });
    }
    const text = await response.text();
    let value: unknown;
    try {
      value = fromDevnetJson(text);
    } catch {
      throw new DmlError('DEVNET_BAD_ANSWER', `${this.url}${path} answered ${response.status} with non-JSON`);
    }
    if (!response.ok) {
      const error = (value as { error?: Record<string, unknown> }).error ?? {};
      const script = error.script as
        | { scriptName?: string; purpose?: string; redeemer?: string; traces?: string[]; raw?: string }
        | undefined;
      if (script) {
        throw new ScriptFailure({
          scriptName: script.scriptName,
          purpose: script.purpose,
          redeemer: script.redeemer,
          traces: script.traces ?? [],
          raw: script.raw ?? String(error.message),
        });
      }
      throw new DmlError(
        String(error.code ?? 'DEVNET_ERROR'),
        `devnet: ${String(error.message ?? response.statusText)}`,
        typeof error.hint === 'string' ? { hint: error.hint } : {},
      );
    }
    return value as T;
  }

  info(): Promise<DevnetInfo> {
    return this.call('GET', '/info');
  }

  getProtocolParameters(): Promise<ProtocolParameters> {
    return this.call('GET', '/protocol-parameters');
  }

  getUtxos(addressOrCredential: Address | Credential): Promise<UTxO[]> {
    return this.call('POST', '/utxos', { addressOrCredential });
  }

  getUtxosWithUnit(addressOrCredential: Address | Credential, unit: Unit): Promise<UTxO[]> {
    return this.call('POST', '/utxos', { addressOrCredential, unit });
  }

  async getUtxoByUnit(unit: Unit): Promise<UTxO> {
    const { utxo } = await this.call<{ utxo: UTxO | null }>('POST', '/utxo-by-unit', { unit });
    if (!utxo) throw new DmlError('DEVNET_NO_UTXO', `no output holds ${unit}`);
    return utxo;
  }

  getUtxosByOutRef(outRefs: OutRef[]): Promise<UTxO[]> {
    return this.call('POST', '/utxos-by-out-ref', { outRefs });
  }

  getDelegation(rewardAddress: RewardAddress): Promise<Delegation> {
    return this.call('POST', '/delegation', { rewardAddress });
  }

  async getDatum(datumHash: DatumHash): Promise<Datum> {
    const { datum } = await this.call<{ datum: Datum | null }>('POST', '/datum', { datumHash });
    if (!datum) throw new DmlError('DEVNET_NO_DATUM', `the devnet knows no datum ${datumHash}`);
    return datum;
  }

  async awaitTx(txHash: TxHash): Promise<boolean> {
    return (await this.call<{ ok: boolean }>('POST', '/await-tx', { txHash })).ok;
  }

  async submitTx(tx: Transaction): Promise<TxHash> {
    return (await this.call<{ txHash: string }>('POST', '/submit', { cbor: tx })).txHash;
  }

  /** Every unspent output, sorted by out-ref. */
  utxoSet(): Promise<UTxO[]> {
    return this.call('GET', '/utxo-set');
  }

  /** Every transaction in a block, in block order, with its block's slot: what a chain follower reads. */
  chainTxs(): Promise<ChainTx[]> {
    return this.call('GET', '/chain-txs');
  }

  /** Moves the devnet's clock forward by whole slots (1 s each) or by ms (rounded up to slots). */
  advance(by: { slots: number } | { ms: number }): Promise<DevnetInfo> {
    return this.call('POST', '/advance', by);
  }

  /** Pays from the genesis faucet; the payment is in a block when this returns. */
  async fund(address: string, lovelace: bigint): Promise<string> {
    return (await this.call<{ txHash: string }>('POST', '/fund', { address, lovelace })).txHash;
  }

  /** A lucid instance over this devnet, with its slot clock. */
  async lucid(): Promise<Lucid> {
    const info = await this.info();
    return lucidOver(this, info.zeroTime);
  }
}
