import { randomBytes } from 'node:crypto';
import { Lucid, generatePrivateKey, type UTxO } from 'lucid-cardano';
import { loadBlueprint, type Blueprint } from '../../contracts/index.js';
import { ed25519PublicKey } from '../party-keys.js';
import { cohortScripts, type CohortScripts } from './cohort-scripts.js';
import {
  cohortDatum,
  escrowDatum,
  signTrainingSnapshot,
  type CohortPhase,
  type CohortTerms,
} from './cohort-data.js';
import { partyTokenUnits } from './cohort-tx.js';
import { ValidatingEmulator } from './validating-emulator.js';

/**
 * A cohort on a validating emulator, for tests and the contracts report: funded wallets for a
 * creator and n parties (each with a payment key and a Hydra key) and the cohort's scripts.
 */
export interface KitParty {
  readonly privateKey: string;
  readonly address: string;
  readonly pkh: string;
  readonly hydraSk: Uint8Array;
  readonly hydraVk: string;
}

export interface CohortKit {
  readonly emulator: ValidatingEmulator;
  readonly lucid: Lucid;
  readonly blueprint: Blueprint;
  readonly scripts: CohortScripts;
  readonly creator: KitParty;
  readonly parties: readonly KitParty[];
  readonly seed: UTxO;
  /** Select a party's (or the creator's) wallet on the shared lucid instance. */
  as(party: KitParty): Lucid;
  /** Sign every party's part of a training snapshot, in party order. */
  sign(parties: readonly KitParty[], epoch: bigint, round: bigint, aggregateHash: string): string[];
}

export const DEFAULT_TERMS: CohortTerms = {
  minDeposit: 10_000_000n,
  contestationPeriod: 60_000n,
  finalRound: 10n,
  epochRounds: 5n,
  votingWindow: 600_000n,
};

const makeParty = async (): Promise<KitParty> => {
  const privateKey = generatePrivateKey();
  const probe = await Lucid.new(undefined, 'Custom');
  const address = await probe.selectWalletFromPrivateKey(privateKey).wallet.address();
  const pkh = probe.utils.getAddressDetails(address).paymentCredential!.hash;
  const hydraSk = new Uint8Array(randomBytes(32));
  return {
    privateKey,
    address,
    pkh,
    hydraSk,
    hydraVk: Buffer.from(ed25519PublicKey(hydraSk)).toString('hex'),
  };
};

export const cohortKit = async (
  partyCount: number,
  options: {
    blueprint?: Blueprint;
    /** Reuse the keys of another kit (a twin ledger: same output references, other datums). */
    keysOf?: CohortKit;
    extraGenesis?: (
      s: CohortScripts,
      parties: KitParty[],
    ) => ConstructorParameters<typeof ValidatingEmulator>[0];
  } = {},
): Promise<CohortKit> => {
  const blueprint = options.blueprint ?? loadBlueprint();
  const creator = options.keysOf?.creator ?? (await makeParty());
  const parties: KitParty[] = options.keysOf ? [...options.keysOf.parties] : [];
  for (let i = parties.length; i < partyCount; i++) parties.push(await makeParty());
  // Seed output at index 0, then a funded wallet per party.
  const genesisSeed = { txHash: '00'.repeat(32), outputIndex: 0 };
  const probe = await Lucid.new(undefined, 'Custom');
  const scripts0 = cohortScripts(probe, blueprint, genesisSeed);
  const accounts = [
    { address: creator.address, assets: { lovelace: 20_000_000n } },
    { address: creator.address, assets: { lovelace: 1_000_000_000n } },
    ...parties.map((p) => ({ address: p.address, assets: { lovelace: 1_000_000_000n } })),
    ...(options.extraGenesis?.(scripts0, parties) ?? []),
  ];
  const emulator = new ValidatingEmulator(accounts);
  const lucid = await Lucid.new(emulator);
  const scripts = cohortScripts(lucid, blueprint, genesisSeed);
  emulator.nameScripts(scripts.names);
  // A running cohort (genesis given) was created earlier, so its kill-vote reward account is
  // registered; a fresh cohort registers it in createCohortTx.
  if (options.extraGenesis) {
    emulator.chain[scripts.slashRewardAddress] = {
      registeredStake: true,
      delegation: { poolId: null, rewards: 0n },
    };
  }
  const seed = (await lucid.utxosByOutRef([genesisSeed]))[0]!;
  return {
    emulator,
    lucid,
    blueprint,
    scripts,
    creator,
    parties,
    seed,
    as(party) {
      return lucid.selectWalletFromPrivateKey(party.privateKey);
    },
    sign(signers, epoch, round, aggregateHash) {
      return signers.map((p) =>
        signTrainingSnapshot(p.hydraSk, { cohortId: scripts.cohortId, epoch, round, aggregateHash }),
      );
    },
  };
};

/**
 * Genesis outputs of a cohort that is already running (for the escrow paths): the state output
 * with the given phase (all parties joined, epoch 1), each party's deposit in escrow with its claim
 * token, and each party's kill and signal tokens in its wallet.
 */
export const runningCohortGenesis =
  (
    phase: CohortPhase,
    options: { terms?: CohortTerms; deposits?: readonly bigint[]; extraParties?: readonly KitParty[] } = {},
  ) =>
  (s: CohortScripts, parties: KitParty[]) => {
    const terms = options.terms ?? DEFAULT_TERMS;
    const deposits = options.deposits;
    const members = [...parties, ...(options.extraParties ?? [])].map((p) => ({
      pkh: p.pkh,
      hydraVk: p.hydraVk,
    }));
    const state = cohortDatum({
      cohortId: s.cohortId,
      membershipPolicy: s.membershipPolicy,
      terms,
      epoch: 1n,
      parties: members,
      members,
      phase,
    });
    return [
      {
        address: s.stateAddress,
        assets: { [s.cohortTokenUnit]: 1n, lovelace: 2_000_000n },
        outputData: { inline: state },
      },
      ...parties.map((p, i) => ({
        address: s.escrowAddress,
        assets: { lovelace: deposits?.[i] ?? terms.minDeposit, [partyTokenUnits(s, p.pkh).claim]: 1n },
        outputData: { inline: escrowDatum(p.pkh, s.membershipPolicy) },
      })),
      ...parties.map((p) => ({
        address: p.address,
        assets: {
          lovelace: 5_000_000n,
          [partyTokenUnits(s, p.pkh).kill]: 1n,
          [partyTokenUnits(s, p.pkh).signal]: 1n,
        },
      })),
    ];
  };
