import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { C, utxoToCore, type ProtocolParameters, type UTxO } from 'lucid-cardano';
import { DmlError } from '../errors.js';
import { signCardanoTransaction, txOutToApi, type HeadLayer1, type HeadUTxO } from '../hydra/index.js';
import { lucidOver, SLOTS_PER_BLOCK, type DevnetLedger } from './devnet-ledger.js';

/**
 * The embedded Hydra head's layer 1 on the devnet: commits spend real devnet outputs into the
 * head's custody, fanouts and aborts pay them out, all as journaled devnet transactions. The
 * operator key (pays the fees of head transactions) and the custody key (stands in for the Head
 * scripts, as in the embedded head's own layer 1) are kept in the devnet folder, so custody
 * outputs stay spendable across `down`/`up`; the operator is funded from the faucet.
 */
export const HEAD_OPERATOR_KEY_FILE = 'head-operator.sk';
export const HEAD_CUSTODY_KEY_FILE = 'head-custody.sk';
const OPERATOR_FUNDS = 10_000_000_000n; // 10 000 ada

const keyFile = (path: string): string => {
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const key = C.PrivateKey.generate_ed25519().to_bech32();
  writeFileSync(path, key + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return key;
};

const enterpriseAddress = (bech32Key: string): string =>
  C.EnterpriseAddress.new(
    0,
    C.StakeCredential.from_keyhash(C.PrivateKey.from_bech32(bech32Key).to_public().hash()),
  )
    .to_address()
    .to_bech32(undefined);

const headIdDatum = (headId: string): string =>
  Buffer.from(C.PlutusData.new_bytes(Buffer.from(headId, 'hex')).to_bytes()).toString('hex');

export class DevnetHeadLayer1 implements HeadLayer1 {
  private constructor(
    private readonly ledger: DevnetLedger,
    private readonly operatorKey: string,
    private readonly custodyKey: string,
    readonly custodyAddress: string,
  ) {}

  static async create(ledger: DevnetLedger): Promise<DevnetHeadLayer1> {
    const operatorKey = keyFile(join(ledger.dir, HEAD_OPERATOR_KEY_FILE));
    const custodyKey = keyFile(join(ledger.dir, HEAD_CUSTODY_KEY_FILE));
    const operator = enterpriseAddress(operatorKey);
    if ((await ledger.emulator.getUtxos(operator)).length === 0) await ledger.fund(operator, OPERATOR_FUNDS);
    return new DevnetHeadLayer1(ledger, operatorKey, custodyKey, enterpriseAddress(custodyKey));
  }

  now(): number {
    return this.ledger.emulator.now();
  }

  protocolParameters(): ProtocolParameters {
    return this.ledger.emulator.protocolParameters;
  }

  private async lucid() {
    const lucid = await lucidOver(this.ledger.asProvider(), this.ledger.genesisTime);
    return lucid.selectWalletFromPrivateKey(this.operatorKey);
  }

  private async lookup(txIns: readonly string[]): Promise<UTxO[]> {
    const refs = txIns.map((txIn) => {
      const [txHash, index] = txIn.split('#');
      return { txHash: txHash!, outputIndex: Number(index) };
    });
    const found = await this.ledger.emulator.getUtxosByOutRef(refs);
    if (found.length !== refs.length) {
      const known = new Set(found.map((u) => `${u.txHash}#${u.outputIndex}`));
      throw new DmlError(
        'HYDRA_L1_UNKNOWN_UTXO',
        `not on the devnet: ${txIns.filter((t) => !known.has(t)).join(', ')}`,
      );
    }
    return found;
  }

  async resolve(txIns: readonly string[]): Promise<HeadUTxO> {
    const found = await this.lookup(txIns);
    return Object.fromEntries(
      found.map((u) => [
        `${u.txHash}#${u.outputIndex}`,
        Buffer.from(utxoToCore(u).output().to_bytes()).toString('hex'),
      ]),
    );
  }

  async draftCommit(
    headId: string,
    utxo: HeadUTxO,
  ): Promise<{ cborHex: string; txId: string; custodyTxIn: string }> {
    const inputs = await this.lookup(Object.keys(utxo));
    const total: Record<string, bigint> = {};
    for (const input of inputs)
      for (const [unit, q] of Object.entries(input.assets)) total[unit] = (total[unit] ?? 0n) + q;
    let tx = (await this.lucid())
      .newTx()
      .collectFrom(inputs)
      .payToAddressWithData(this.custodyAddress, { inline: headIdDatum(headId) }, total);
    for (const owner of new Set(inputs.map((u) => u.address))) tx = tx.addSigner(owner);
    const built = (await tx.complete()).toString();
    const cborHex = signCardanoTransaction(built, C.PrivateKey.from_bech32(this.operatorKey));
    const body = C.Transaction.from_bytes(Buffer.from(cborHex, 'hex')).body();
    const txId = C.hash_transaction(body).to_hex();
    let custodyIndex = -1;
    for (let i = 0; i < body.outputs().len(); i++)
      if (body.outputs().get(i).address().to_bech32(undefined) === this.custodyAddress) custodyIndex = i;
    return { cborHex, txId, custodyTxIn: `${txId}#${custodyIndex}` };
  }

  async submit(cborHex: string): Promise<string> {
    try {
      const txId = await this.ledger.submit(cborHex);
      this.ledger.advance(SLOTS_PER_BLOCK);
      return txId;
    } catch (error) {
      throw new DmlError(
        'HYDRA_L1_REJECTED',
        `the devnet rejected the transaction: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  async payOut(custody: readonly string[], utxo: HeadUTxO): Promise<string> {
    const inputs = await this.lookup(custody);
    let tx = (await this.lucid()).newTx().collectFrom(inputs);
    for (const txIn of Object.keys(utxo).sort()) {
      const out = txOutToApi(utxo[txIn]!);
      const assets: Record<string, bigint> = {};
      for (const [key, value] of Object.entries(out.value)) {
        if (typeof value === 'number') assets['lovelace'] = BigInt(value);
        else for (const [name, q] of Object.entries(value)) assets[key + name] = BigInt(q);
      }
      tx = out.inlineDatumRaw
        ? tx.payToAddressWithData(out.address, { inline: out.inlineDatumRaw }, assets)
        : out.datumhash
          ? tx.payToAddressWithData(out.address, { hash: out.datumhash }, assets)
          : tx.payToAddress(out.address, assets);
    }
    const signed = await (await tx.complete()).sign().signWithPrivateKey(this.custodyKey).complete();
    return this.submit(signed.toString());
  }
}
