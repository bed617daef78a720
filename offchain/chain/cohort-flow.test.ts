import { describe, expect, it } from '@jest/globals';
import type { Lucid, Tx } from 'lucid-cardano';
import { cohortKit, DEFAULT_TERMS, type CohortKit, type KitParty } from './cohort-kit.js';
import {
  claimTx,
  closeTx,
  finalizeTx,
  createCohortTx,
  findCohortState,
  joinTx,
  readCohortState,
  startEpochTx,
} from './cohort-tx.js';

export const submit = async (lucid: Lucid, tx: Tx, extraSigners: readonly KitParty[] = []) => {
  let signed = (await tx.complete()).sign();
  for (const p of extraSigners) signed = signed.signWithPrivateKey(p.privateKey);
  const hash = await (await signed.complete()).submit();
  return hash;
};

/** Create a cohort and have every party join with the minimum deposit. */
export const createAndJoin = async (kit: CohortKit) => {
  const { scripts } = kit;
  await submit(kit.as(kit.creator), createCohortTx(kit.lucid, scripts, kit.seed, DEFAULT_TERMS));
  kit.emulator.awaitBlock(1);
  for (const p of kit.parties) {
    const state = await findCohortState(kit.lucid, scripts);
    await submit(
      kit.as(p),
      joinTx(kit.lucid, scripts, state, {
        pkh: p.pkh,
        hydraVk: p.hydraVk,
        deposit: DEFAULT_TERMS.minDeposit,
      }),
    );
    kit.emulator.awaitBlock(1);
  }
};

describe('cohort: the whole honest path through the validating emulator', () => {
  it('creates, joins 3 parties, starts the epoch, closes at the final round, finalizes Completed, claims', async () => {
    const kit = await cohortKit(3);
    const { lucid, scripts, parties, emulator } = kit;
    await createAndJoin(kit);
    let state = readCohortState(await findCohortState(lucid, scripts));
    expect(state.members.map((m) => m.pkh).sort()).toEqual(parties.map((p) => p.pkh).sort());

    await submit(
      kit.as(parties[0]!),
      startEpochTx(lucid, scripts, await findCohortState(lucid, scripts), parties[0]!.pkh),
    );
    emulator.awaitBlock(1);
    state = readCohortState(await findCohortState(lucid, scripts));
    expect(state.epoch).toBe(1n);

    const hash = 'ab'.repeat(32);
    const signers = state.parties.map((sp) => parties.find((p) => p.pkh === sp.pkh)!);
    const signatures = kit.sign(signers, 1n, 10n, hash);
    await submit(
      kit.as(parties[1]!),
      closeTx(
        lucid,
        scripts,
        await findCohortState(lucid, scripts),
        { round: 10n, aggregateHash: hash, signatures },
        parties[1]!.pkh,
        emulator.now() + 20_000,
      ),
    );
    emulator.awaitBlock(1);
    state = readCohortState(await findCohortState(lucid, scripts));
    expect(state.phase.kind).toBe('Closed');
    emulator.awaitBlock(5); // past the 60 s contestation period
    await submit(
      kit.as(parties[2]!),
      finalizeTx(lucid, scripts, await findCohortState(lucid, scripts), emulator.now()),
    );
    emulator.awaitBlock(1);
    state = readCohortState(await findCohortState(lucid, scripts));
    expect(state.phase.kind).toBe('Completed');

    const owner = parties[0]!;
    const [escrow] = (await lucid.utxosAt(scripts.escrowAddress)).filter((u) => u.datum?.includes(owner.pkh));
    await submit(kit.as(owner), claimTx(lucid, scripts, await findCohortState(lucid, scripts), escrow!));
    emulator.awaitBlock(1);
    expect((await lucid.utxosAt(scripts.escrowAddress)).length).toBe(2);
  });
});
