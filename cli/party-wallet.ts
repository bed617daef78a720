import { C } from 'lucid-cardano';
import { readPartyKeys, type PartyKeys } from '../offchain/index.js';

/**
 * A party's key folder as a Cardano wallet: the payment signing key as lucid takes it (bech32
 * `ed25519_sk`), its enterprise address (network id 0 for the devnet and the test networks,
 * 1 for mainnet), its key hash; and the Hydra key.
 */
export interface PartyWallet {
  readonly dir: string;
  readonly keys: PartyKeys;
  readonly privateKey: string;
  readonly address: string;
  readonly pkh: string;
  readonly hydraVk: string;
}

export const networkIdOf = (network: string | undefined): number => (network === 'mainnet' ? 1 : 0);

export const loadPartyWallet = async (dir: string, networkId = 0): Promise<PartyWallet> => {
  const keys = await readPartyKeys(dir);
  const key = C.PrivateKey.from_normal_bytes(keys.paymentSigningKey);
  const hash = key.to_public().hash();
  return {
    dir,
    keys,
    privateKey: key.to_bech32(),
    address: C.EnterpriseAddress.new(networkId, C.StakeCredential.from_keyhash(hash))
      .to_address()
      .to_bech32(undefined),
    pkh: hash.to_hex(),
    hydraVk: Buffer.from(keys.hydraVerificationKey).toString('hex'),
  };
};
