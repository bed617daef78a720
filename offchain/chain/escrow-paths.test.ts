import { describe, expect, it } from '@jest/globals';
import { C, fromHex, type UTxO } from 'lucid-cardano';
import {
  cohortKit,
  runningCohortGenesis,
  DEFAULT_TERMS,
  type CohortKit,
  type KitParty,
} from './cohort-kit.js';
import {
  KillVoteRedeemer,
  MembershipRedeemer,
  cohortDatum,
  parseEscrowDatum,
  type CohortPhase,
} from './cohort-data.js';
import { claimTx, findCohortState, ownerAddress, partyTokenUnits, refundTx, slashTx } from './cohort-tx.js';
import { ScriptFailure } from './script-failure.js';
import { outputAddress, outputLovelace, tamperTx, withAddress, withLovelace } from './tamper.js';
void outputAddress;
void ownerAddress;

const HOUR = 3_600_000;
const completed: CohortPhase = { kind: 'Completed', round: 10n, aggregateHash: '' };
const premature = (votingDeadline: number): CohortPhase => ({
  kind: 'Premature',
  votingDeadline: BigInt(votingDeadline),
});

const running = (phase: CohortPhase, keysOf?: CohortKit, extraParties: KitParty[] = []) =>
  cohortKit(3, {
    extraGenesis: runningCohortGenesis(phase, { extraParties }),
    ...(keysOf ? { keysOf } : {}),
  });

const escrowOf = async (kit: CohortKit, p: KitParty): Promise<UTxO> =>
  (await kit.lucid.utxosAt(kit.scripts.escrowAddress)).find(
    (u) => parseEscrowDatum(u.datum!).owner === p.pkh,
  )!;

/** Sign a built (unsigned) transaction with these keys and submit it to this kit's emulator. */
const submitSigned = async (kit: CohortKit, txHex: string, signers: readonly KitParty[]): Promise<string> => {
  let tx = kit.lucid.fromTx(txHex);
  for (const p of signers) tx = tx.signWithPrivateKey(p.privateKey);
  return (await tx.complete()).submit();
};

const expectRejected = async (submission: Promise<unknown>, trace: string) => {
  const error = await submission.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ScriptFailure);
  expect((error as ScriptFailure).traces).toContain(trace);
};

const mintWith = (entries: Record<string, bigint>): InstanceType<typeof C.Mint> => {
  const mint = C.Mint.new();
  const byPolicy = new Map<string, Record<string, bigint>>();
  for (const [unit, qty] of Object.entries(entries)) {
    const policy = unit.slice(0, 56);
    byPolicy.set(policy, { ...(byPolicy.get(policy) ?? {}), [unit.slice(56)]: qty });
  }
  for (const [policy, names] of byPolicy) {
    const assets = C.MintAssets.new();
    for (const [name, qty] of Object.entries(names)) {
      const n = C.Int.new_i32(Number(qty));
      assets.insert(C.AssetName.new(fromHex(name)), n);
    }
    mint.insert(C.ScriptHash.from_hex(policy), assets);
  }
  return mint;
};

describe('Claim', () => {
  const buildClaim = async (kit: CohortKit, owner: KitParty) =>
    (
      await claimTx(
        kit.as(owner),
        kit.scripts,
        await findCohortState(kit.lucid, kit.scripts),
        await escrowOf(kit, owner),
      ).complete()
    ).toString();

  it('accepts: the cohort is Completed, the owner signs, burns its claim token and takes its deposit', async () => {
    const kit = await running(completed);
    const owner = kit.parties[0]!;
    await submitSigned(kit, await buildClaim(kit, owner), [owner]);
    kit.emulator.awaitBlock(1);
    expect(await kit.lucid.utxosAt(kit.scripts.escrowAddress)).toHaveLength(2);
  });

  it('rejects a claim before the cohort is Completed', async () => {
    const done = await running(completed);
    const owner = done.parties[0]!;
    const tx = await buildClaim(done, owner);
    const stillRunning = await running(premature(Date.now() + HOUR), done);
    await expectRejected(submitSigned(stillRunning, tx, [owner]), 'not-completed');
  });

  it('rejects a claim by a non-owner', async () => {
    const kit = await running(completed);
    const [owner, thief] = kit.parties as [KitParty, KitParty];
    const tx = tamperTx(await buildClaim(kit, owner), {
      requiredSigners: () => [thief.pkh],
      outputs: (outs) => outs.map((o) => (outputAddress(o) === ownerAddress(kit.lucid, owner.pkh) ? o : o)),
    });
    await expectRejected(submitSigned(kit, tx, [owner === thief ? owner : thief]), 'owner-sig');
  });

  it('rejects a claim that does not burn the claim token', async () => {
    const kit = await running(completed);
    const owner = kit.parties[0]!;
    const tx = tamperTx(await buildClaim(kit, owner), { mint: () => undefined, redeemer: (_t, _i, d) => d });
    const error = await submitSigned(kit, tx, [owner]).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Without a mint the membership policy does not run, so the escrow refuses to be spent.
    expect(error).toBeDefined();
  });

  it('rejects a claim that pays the owner less than the deposit', async () => {
    const kit = await running(completed);
    const owner = kit.parties[0]!;
    const tx = tamperTx(await buildClaim(kit, owner), {
      outputs: (outs) =>
        // Every output (the payment and the change, both the owner's) now pays less than the deposit.
        outs.map((o) => withLovelace(o, DEFAULT_TERMS.minDeposit - 1n)),
    });
    await expectRejected(submitSigned(kit, tx, [owner]), 'pay-owner');
  });

  it("rejects a claim that burns another party's claim token instead of the owner's", async () => {
    const kit = await running(completed);
    const [owner, victim] = kit.parties as [KitParty, KitParty];
    const tx = tamperTx(await buildClaim(kit, owner), {
      mint: () => mintWith({ [partyTokenUnits(kit.scripts, victim.pkh).claim]: -1n }),
    });
    await expectRejected(submitSigned(kit, tx, [owner]), 'burn-claim');
  });

  it("rejects a claim that also burns another party's kill token", async () => {
    const kit = await running(completed);
    const [owner, victim] = kit.parties as [KitParty, KitParty];
    const tx = tamperTx(await buildClaim(kit, owner), {
      mint: () =>
        mintWith({
          [partyTokenUnits(kit.scripts, owner.pkh).claim]: -1n,
          [partyTokenUnits(kit.scripts, victim.pkh).kill]: -1n,
        }),
    });
    await expectRejected(submitSigned(kit, tx, [owner]), 'burn-claim');
  });

  it("rejects double satisfaction: two parties' escrows taken by one claim with one output", async () => {
    // Built where it is valid (p0 slashes p1 in a 2-party cohort: both escrows are inputs), then
    // relabelled as p0's Claim (burning only p0's claim token) with a single output paying p0 one
    // deposit, and submitted to a twin ledger where the cohort is Completed.
    const pair = (phase: CohortPhase, keysOf?: CohortKit) =>
      cohortKit(2, { extraGenesis: runningCohortGenesis(phase), ...(keysOf ? { keysOf } : {}) });
    const voting = await pair(premature(Date.now() + HOUR));
    const [p0, p1] = voting.parties as [KitParty, KitParty];
    const killUnit = partyTokenUnits(voting.scripts, p0.pkh).kill;
    const kill = (await voting.lucid.utxosAt(p0.address)).find((u) => (u.assets[killUnit] ?? 0n) > 0n)!;
    const built = await slashTx(
      voting.as(p0),
      voting.scripts,
      await findCohortState(voting.lucid, voting.scripts),
      await escrowOf(voting, p1),
      [await escrowOf(voting, p0)],
      [kill],
      voting.emulator.now() + 60_000,
    ).complete();
    const twoDeposits = 2n * DEFAULT_TERMS.minDeposit;
    const tx = tamperTx(built.toString(), {
      mint: () => mintWith({ [partyTokenUnits(voting.scripts, p0.pkh).claim]: -1n }),
      redeemer: (tag, _i, d) => (tag === 1 ? MembershipRedeemer.claim() : d),
      outputs: (outs) =>
        outs.map((o) => (outputLovelace(o) === twoDeposits ? withLovelace(o, DEFAULT_TERMS.minDeposit) : o)),
    });
    const done = await pair(completed, voting);
    await expectRejected(submitSigned(done, tx, [p0]), 'one-escrow');
  });

  it('rejects claiming twice', async () => {
    const kit = await running(completed);
    const owner = kit.parties[0]!;
    const tx = await buildClaim(kit, owner);
    await submitSigned(kit, tx, [owner]);
    kit.emulator.awaitBlock(1);
    await expect(submitSigned(kit, tx, [owner])).rejects.toThrow(/spent|exist/i);
  });
});

describe('Refund', () => {
  const buildRefund = async (kit: CohortKit, owner: KitParty) =>
    (
      await refundTx(
        kit.as(owner),
        kit.scripts,
        await findCohortState(kit.lucid, kit.scripts),
        await escrowOf(kit, owner),
        kit.emulator.now(),
      ).complete()
    ).toString();

  it('accepts: Premature and the voting window has passed', async () => {
    const kit = await running(premature(Date.now() - HOUR));
    const owner = kit.parties[1]!;
    await submitSigned(kit, await buildRefund(kit, owner), [owner]);
    kit.emulator.awaitBlock(1);
    expect(await kit.lucid.utxosAt(kit.scripts.escrowAddress)).toHaveLength(2);
  });

  it('rejects a refund before the voting window passed', async () => {
    const over = await running(premature(Date.now() - HOUR));
    const owner = over.parties[1]!;
    const tx = await buildRefund(over, owner);
    const open = await running(premature(Date.now() + HOUR), over);
    await expectRejected(submitSigned(open, tx, [owner]), 'window-open');
  });
});

describe('Slash (kill-token vote)', () => {
  /** p0 and p1 vote against p2 (2 of the 2 other parties: a strict majority). */
  const buildSlash = async (kit: CohortKit) => {
    const [p0, p1, p2] = kit.parties as [KitParty, KitParty, KitParty];
    const kills: UTxO[] = [];
    for (const v of [p0, p1]) {
      const unit = partyTokenUnits(kit.scripts, v.pkh).kill;
      kills.push((await kit.lucid.utxosAt(v.address)).find((u) => (u.assets[unit] ?? 0n) > 0n)!);
    }
    const tx = slashTx(
      kit.as(p0),
      kit.scripts,
      await findCohortState(kit.lucid, kit.scripts),
      await escrowOf(kit, p2),
      [await escrowOf(kit, p0), await escrowOf(kit, p1)],
      kills,
      kit.emulator.now() + 60_000,
    );
    return (await tx.complete()).toString();
  };

  it('accepts: a majority burns kill and claim tokens, the accused deposit is shared among the voters', async () => {
    const kit = await running(premature(Date.now() + HOUR));
    const [p0, p1] = kit.parties as [KitParty, KitParty];
    await submitSigned(kit, await buildSlash(kit), [p0, p1]);
    kit.emulator.awaitBlock(1);
    expect(await kit.lucid.utxosAt(kit.scripts.escrowAddress)).toHaveLength(0);
    const p1Gets = (await kit.lucid.utxosAt(p1.address)).map((u) => u.assets['lovelace'] ?? 0n);
    expect(p1Gets).toContain(DEFAULT_TERMS.minDeposit + DEFAULT_TERMS.minDeposit / 2n);
  });

  it('rejects a slash without a majority (2 voters of 4 other parties: the builder cannot even complete it)', async () => {
    const small = await running(premature(Date.now() + HOUR));
    const outsiders = (await cohortKit(2)).parties;
    const big = await running(premature(Date.now() + HOUR), small, [...outsiders]);
    const e = await buildSlash(big).then(
      () => 'built',
      (x: unknown) => String(x),
    );
    expect(e).toContain('majority');
  });

  it('rejects at submit a slash without a majority (the same vote where the epoch has 5 parties)', async () => {
    const small = await running(premature(Date.now() + HOUR));
    const tx = await buildSlash(small);
    const outsiders = (await cohortKit(2)).parties;
    const big = await running(premature(Date.now() + HOUR), small, [...outsiders]);
    await expectRejected(submitSigned(big, tx, small.parties.slice(0, 2)), 'majority');
  });

  it('rejects a slash with two kill tokens of the same party', async () => {
    const kit = await running(premature(Date.now() + HOUR));
    const [p0, p1, p2] = kit.parties as [KitParty, KitParty, KitParty];
    const u = (p: KitParty) => partyTokenUnits(kit.scripts, p.pkh);
    const tx = tamperTx(await buildSlash(kit), {
      mint: () => mintWith({ [u(p0).claim]: -1n, [u(p0).kill]: -2n, [u(p2).claim]: -1n }),
    });
    await expectRejected(submitSigned(kit, tx, [p0, p1]), 'burn-once');
  });

  it('rejects double satisfaction in a slash: a third escrow taken without burning its claim token', async () => {
    // The honest vote of p0 and p1 against p2, with p1's burns dropped and p1's payment sent to p0,
    // submitted where the epoch's parties are only p0 and p2 (so p0 alone is a majority): p1's
    // escrow is still an input, taken by p0, with no claim token of p1 burnt.
    const kit = await running(premature(Date.now() + HOUR));
    const [p0, p1, p2] = kit.parties as [KitParty, KitParty, KitParty];
    const u = (p: KitParty) => partyTokenUnits(kit.scripts, p.pkh);
    const tx = tamperTx(await buildSlash(kit), {
      mint: () => mintWith({ [u(p0).claim]: -1n, [u(p0).kill]: -1n, [u(p2).claim]: -1n }),
      outputs: (outs) => outs.map((o) => (outputAddress(o) === p1.address ? withAddress(o, p0.address) : o)),
      // p1 does not sign: its deposit is taken without its consent.
      requiredSigners: (signers) => signers.filter((k) => k !== p1.pkh),
    });
    const twoParties = await cohortKit(3, {
      keysOf: kit,
      extraGenesis: (s, parties) => {
        const [state, ...rest] = runningCohortGenesis(premature(Date.now() + HOUR))(s, parties);
        const members = parties.map((p) => ({ pkh: p.pkh, hydraVk: p.hydraVk }));
        const datum = cohortDatum({
          cohortId: s.cohortId,
          membershipPolicy: s.membershipPolicy,
          terms: DEFAULT_TERMS,
          epoch: 1n,
          parties: [members[0]!, members[2]!],
          members,
          phase: premature(Date.now() + HOUR),
        });
        return [{ ...state!, outputData: { inline: datum } }, ...rest];
      },
    });
    await expectRejected(submitSigned(twoParties, tx, [p0]), 'escrows');
  });

  /** Name another accused in both redeemers (the policy's and the kill-vote script's). */
  const accusing = (kit: CohortKit, accused: KitParty) => (tag: number, _i: number, d: string) =>
    tag === 1
      ? MembershipRedeemer.slash(accused.pkh)
      : tag === 3
        ? KillVoteRedeemer.vote(accused.pkh, kit.scripts.membershipPolicy)
        : d;

  it('rejects a slash voted by the accused', async () => {
    const kit = await running(premature(Date.now() + HOUR));
    const [p0, p1] = kit.parties as [KitParty, KitParty];
    // The voters' transaction, re-labelled so that p0 (a voter) is the accused.
    const tx = tamperTx(await buildSlash(kit), { redeemer: accusing(kit, p0) });
    await expectRejected(submitSigned(kit, tx, [p0, p1]), 'claim-owner');
  });

  it('rejects a slash while the cohort is Completed', async () => {
    const open = await running(premature(Date.now() + HOUR));
    const tx = await buildSlash(open);
    const done = await running(completed, open);
    await expectRejected(submitSigned(done, tx, open.parties.slice(0, 2)), 'not-premature');
  });

  it('rejects a slash naming a party other than the one the voters burnt for', async () => {
    const kit = await running(premature(Date.now() + HOUR));
    const [p0, p1] = kit.parties as [KitParty, KitParty];
    const tx = tamperTx(await buildSlash(kit), { redeemer: accusing(kit, p1) });
    const error = await submitSigned(kit, tx, [p0, p1]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ScriptFailure);
    // The vote is judged by the kill-vote withdrawal script, and the error says so.
    expect((error as ScriptFailure).scriptName).toBe('slash.withdraw');
    expect((error as ScriptFailure).purpose).toContain('withdraw');
    expect((error as ScriptFailure).traces).toContain('claim-owner');
  });

  it('rejects a slash whose policy redeemer names another accused than the kill-vote script checked', async () => {
    const kit = await running(premature(Date.now() + HOUR));
    const [p0, p1] = kit.parties as [KitParty, KitParty];
    const tx = tamperTx(await buildSlash(kit), {
      redeemer: (tag, _i, d) => (tag === 1 ? MembershipRedeemer.slash(p1.pkh) : d),
    });
    await expectRejected(submitSigned(kit, tx, [p0, p1]), 'slash-vote');
  });

  it('rejects a slash that does not run the kill-vote script (no withdrawal): the policy alone lets nothing out', async () => {
    const kit = await running(premature(Date.now() + HOUR));
    const [p0, p1] = kit.parties as [KitParty, KitParty];
    const tx = tamperTx(await buildSlash(kit), { dropWithdrawals: true });
    await expectRejected(submitSigned(kit, tx, [p0, p1]), 'slash-vote');
  });

  it('rejects a slash whose kill-vote script was run for another policy', async () => {
    const kit = await running(premature(Date.now() + HOUR));
    const [p0, p1, p2] = kit.parties as [KitParty, KitParty, KitParty];
    const tx = tamperTx(await buildSlash(kit), {
      redeemer: (tag, _i, d) => (tag === 3 ? KillVoteRedeemer.vote(p2.pkh, kit.scripts.escrowHash) : d),
    });
    await expectRejected(submitSigned(kit, tx, [p0, p1]), 'slash-vote');
  });

  it("rejects a slash that pays the accused's deposit anywhere but the voters", async () => {
    const kit = await running(premature(Date.now() + HOUR));
    const [p0, p1] = kit.parties as [KitParty, KitParty];
    const due = DEFAULT_TERMS.minDeposit + DEFAULT_TERMS.minDeposit / 2n;
    const tx = tamperTx(await buildSlash(kit), {
      outputs: (outs) =>
        outs.map((o) => (outputLovelace(o) === due ? withLovelace(o, DEFAULT_TERMS.minDeposit) : o)),
    });
    await expectRejected(submitSigned(kit, tx, [p0, p1]), 'pay-voters');
  });
});
