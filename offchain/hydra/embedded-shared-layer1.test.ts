import { describe, expect, it } from '@jest/globals';
import { Lucid, generatePrivateKey, type Tx } from 'lucid-cardano';
import {
  cohortKit,
  createCohortTx,
  DEFAULT_TERMS,
  findCohortState,
  joinTx,
  type KitParty,
} from '../chain/index.js';
import { ValidatingEmulator } from '../chain/index.js';
import { buildHeadTx } from './cardano-head-tx.js';
import { startEmbeddedHeadWithClients } from './embedded-fixture.js';
import { LucidEmulatorLayer1 } from './layer1.js';

const submit = async (lucid: Lucid, tx: Tx, extra: readonly KitParty[] = []) => {
  let signed = (await tx.complete()).sign();
  for (const p of extra) signed = signed.signWithPrivateKey(p.privateKey);
  return (await signed.complete()).submit();
};

describe('embedded head on a given layer 1 (the validating emulator of the cohort contracts)', () => {
  it('runs init, commit, open, transactions, close, fanout on the same chain as a cohort, leaving the caller’s lucid alone', async () => {
    const kit = await cohortKit(2);
    // A head operator funded by a party on the shared chain.
    const operatorKey = generatePrivateKey();
    const offline = await Lucid.new(undefined, 'Custom');
    const operatorAddress = await offline.selectWalletFromPrivateKey(operatorKey).wallet.address();
    await submit(
      kit.as(kit.parties[0]!),
      kit.lucid.newTx().payToAddress(operatorAddress, { lovelace: 300_000_000n }),
    );
    kit.emulator.awaitBlock(1);
    // The cohort is created on that chain before the head.
    await submit(kit.as(kit.creator), createCohortTx(kit.lucid, kit.scripts, kit.seed, DEFAULT_TERMS));
    kit.emulator.awaitBlock(1);
    const callerWallet = await kit.lucid.wallet.address();

    const layer1 = LucidEmulatorLayer1.fromLucid(kit.lucid, operatorKey);
    expect(layer1.emulator).toBe(kit.emulator);
    expect(layer1.emulator).toBeInstanceOf(ValidatingEmulator);
    const fixture = await startEmbeddedHeadWithClients(2, { layer1, contestationPeriod: 60 });
    const { head, clients, users } = fixture;
    try {
      const opened = await fixture.open();
      expect(await kit.lucid.wallet.address()).toBe(callerWallet); // our wallet never replaced theirs
      // The head's custody output on the shared chain says Open.
      expect(head.chain.onChainState(opened.headId)).toMatchObject({ state: 'Open' });

      // A party joins the cohort on layer 1 while the head is open: the two share the chain.
      const state = await findCohortState(kit.lucid, kit.scripts);
      const joiner = kit.parties[1]!;
      await submit(
        kit.as(joiner),
        joinTx(kit.lucid, kit.scripts, state, {
          pkh: joiner.pkh,
          hydraVk: joiner.hydraVk,
          deposit: DEFAULT_TERMS.minDeposit,
        }),
      );
      kit.emulator.awaitBlock(1);

      // Layer-2 transactions: each user moves its output to itself, split in two.
      for (const [i, user] of users.entries()) {
        const [txIn, out] = Object.entries(await clients[i]!.getSnapshotUtxo()).find(
          ([, o]) => o.address === user.address,
        )!;
        const lovelace = BigInt(out.value['lovelace'] as number);
        await clients[i]!.submitTx(
          buildHeadTx({
            inputs: [txIn],
            outputs: [
              { address: user.address, lovelace: lovelace - 3_000_000n },
              { address: user.address, lovelace: 3_000_000n },
            ],
            signers: [user],
          }),
        );
      }
      const last = await clients[0]!.getSnapshotUtxo();
      const closed = await clients[1]!.closeHead();
      // Time passes on the shared chain without the head (the caller's blocks); the head syncs.
      const ready = clients[0]!.waitFor('ReadyToFanout');
      kit.emulator.awaitBlock(4);
      expect(kit.emulator.now()).toBeGreaterThan(Date.parse(closed.contestationDeadline));
      await head.syncChain();
      await ready;
      const finalized = await clients[0]!.fanout();
      expect(finalized.utxo).toEqual(last);

      // The caller's own lucid sees the fanned-out outputs once a block is made, and the cohort
      // (state output with the joined party) is still there.
      kit.emulator.awaitBlock(1);
      for (const user of users) {
        const onL1 = (await kit.lucid.utxosAt(user.address)).map((u) => u.assets['lovelace']!).sort();
        const inHead = Object.values(finalized.utxo)
          .filter((o) => o.address === user.address)
          .map((o) => BigInt(o.value['lovelace'] as number))
          .sort();
        expect(onL1).toEqual(inHead);
      }
      const after = await findCohortState(kit.lucid, kit.scripts);
      expect(after.txHash).not.toBe(state.txHash);
      expect(head.chain.posted.map((p) => p.tx)).toEqual(['InitTx', 'CollectComTx', 'CloseTx', 'FanoutTx']);
      expect(head.chain.rejections).toEqual([]);
    } finally {
      await fixture.stop();
    }
  });
});
