import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { C, Lucid, SLOT_CONFIG_NETWORK } from 'lucid-cardano';
import { DmlError } from '../errors.js';
import { LucidEmulatorLayer1 } from '../hydra/index.js';
import { SLOTS_PER_BLOCK, type DevnetLedger } from './devnet-ledger.js';

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

/**
 * The head's layer 1 on the devnet: the embedded head's own `LucidEmulatorLayer1` over the
 * devnet's validating emulator, with every submission and clock move routed through the devnet's
 * journal (so commits, the lifecycle transactions and fanouts survive `down`/`up`).
 */
export const devnetHeadLayer1 = async (ledger: DevnetLedger): Promise<LucidEmulatorLayer1> => {
  const operatorKey = keyFile(join(ledger.dir, HEAD_OPERATOR_KEY_FILE));
  const custodyKey = keyFile(join(ledger.dir, HEAD_CUSTODY_KEY_FILE));
  const operator = enterpriseAddress(operatorKey);
  if ((await ledger.emulator.getUtxos(operator)).length === 0) await ledger.fund(operator, OPERATOR_FUNDS);
  const lucid = await Lucid.new(ledger.emulator, 'Custom');
  // Lucid.new takes "now" as the emulator's slot 0; the devnet's clock started at its genesis.
  SLOT_CONFIG_NETWORK['Custom'] = ledger.emulator.slotConfig();
  return LucidEmulatorLayer1.fromLucid(lucid, operatorKey, {
    custodyKey,
    submit: async (cborHex) => {
      try {
        const txId = await ledger.submit(cborHex);
        ledger.advance(SLOTS_PER_BLOCK); // a block, so that providers (which read blocks) see it
        return txId;
      } catch (error) {
        throw new DmlError(
          'HYDRA_L1_REJECTED',
          `the devnet rejected the transaction: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    },
    advance: (slots) => ledger.advance(slots),
  });
};
